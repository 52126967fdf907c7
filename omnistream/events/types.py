"""Every domain event type (documented with examples in docs/events.md)."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_UPDATED = "conversation.updated"
    CONVERSATION_ASSIGNED = "conversation.assigned"
    CONVERSATION_TRANSFERRED = "conversation.transferred"
    CONVERSATION_RESOLVED = "conversation.resolved"
    CONVERSATION_REOPENED = "conversation.reopened"
    MESSAGE_CREATED = "message.created"
    MESSAGE_UPDATED = "message.updated"
    NOTE_CREATED = "note.created"
    NOTE_DELETED = "note.deleted"
    CONTACT_CREATED = "contact.created"
    CONTACT_UPDATED = "contact.updated"
    CONTACT_MERGED = "contact.merged"
    CONTACT_DELETED = "contact.deleted"


ENVELOPE_VERSION = 1
