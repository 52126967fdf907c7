"""The message value sets, defined once (the CHECK constraints of `messages` mirror these)."""

from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    INTERACTIVE = "interactive"
    TEMPLATE = "template"
    REACTION = "reaction"
    BUTTON = "button"
    UNSUPPORTED = "unsupported"
    SYSTEM = "system"


class MessageStatus(StrEnum):
    RECEIVED = "received"  # every inbound message
    PENDING = "pending"  # outbound, waiting for (or between) send attempts
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


# Outbound progress only moves forward along this order; FAILED is final (see apply_status).
PROGRESS: tuple[MessageStatus, ...] = (
    MessageStatus.PENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.READ,
)
# A channel may report a failure only before delivery (WhatsApp: sent -> failed).
FAILABLE: tuple[MessageStatus, ...] = (MessageStatus.PENDING, MessageStatus.SENT)

# What an agent may send from the inbox, and the MIME families each media type accepts.
MEDIA_TYPES: dict[MessageType, tuple[str, ...]] = {
    MessageType.IMAGE: ("image/",),
    MessageType.VIDEO: ("video/",),
    MessageType.AUDIO: ("audio/",),
    MessageType.DOCUMENT: ("",),  # any accepted upload may go as a document
}
