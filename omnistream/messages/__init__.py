"""Messages: every inbound and outbound message of a conversation, any channel."""
