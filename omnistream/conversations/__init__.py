"""Conversations: threads between a contact and the team, with notes and transfers."""
