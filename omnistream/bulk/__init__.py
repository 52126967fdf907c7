"""Bulk actions on conversations (issue 17 item 6)."""
