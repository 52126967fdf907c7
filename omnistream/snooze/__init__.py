"""Snoozing conversations: until a time or the customer's next message (docs/inbox.md#snooze)."""
