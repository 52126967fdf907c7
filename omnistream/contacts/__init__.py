"""Contacts: the customers, with their phone, email and per-channel identities."""
