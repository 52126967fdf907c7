"""Search across messages, notes and contacts (docs/search.md)."""
