"""Agent availability: online, away or offline (issue 17 item 1, docs/inbox.md#availability)."""
