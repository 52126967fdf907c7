"""Every enumerated value set, defined once (the SQL CHECK constraints mirror these)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


class Channel(StrEnum):
    WHATSAPP = "whatsapp"
    INSTAGRAM = "instagram"
    EMAIL = "email"
    MESSENGER = "messenger"


class ConversationStatus(StrEnum):
    OPEN = "open"
    SNOOZED = "snoozed"  # parked until a time or the customer's next message (0030)
    RESOLVED = "resolved"


class Priority(StrEnum):
    """A conversation's priority, lowest first: the declaration order is the rank."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_RANK = {p: rank for rank, p in enumerate(Priority)}  # none 0 .. urgent 4


class Presence(StrEnum):
    """An agent's availability (migration 0028): only online agents are assigned work."""

    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"
