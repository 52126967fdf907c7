"""Broadcast campaigns over WhatsApp templates (issue 13)."""
