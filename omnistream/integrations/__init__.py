"""Integrations: channel configuration (credentials encrypted at rest) and their accounts."""
