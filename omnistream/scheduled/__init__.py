"""Scheduled messages: an agent's reply sent by the worker at a time set in advance."""
