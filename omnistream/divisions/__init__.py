"""Divisions: teams that own conversations; agents belong to any number of them."""
