"""Internal notes on a conversation: never shown to contacts, never sent on any channel."""
