"""Agents: the people who answer customers."""
