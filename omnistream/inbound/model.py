"""The plain shapes every inbound channel parser produces (no SQL, no I/O).

A parser turns one webhook body into `Parsed`: a list of items, each naming the account it
is for (the ids the payload gives, most specific first), plus notes about what it skipped.
The inbound service routes each item to its integration account and applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class PayloadError(ValueError):
    """The body is not a payload we can read (bad JSON, wrong shape, missing ids); the audit
    row is marked failed with this message, which names where in the payload it went wrong."""


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A file attached to a message, fetched later by the media step."""

    mime_type: str
    channel_media_id: str | None = None  # WhatsApp: fetched through the Graph API
    url: str | None = None  # Messenger / Instagram: a CDN URL fetched as is
    sha256: str | None = None  # as the channel gave it (hex or base64)
    filename: str = ""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message from the contact (or, inside an Echo, from the business to the contact)."""

    channel: str
    accounts: tuple[str, ...]  # the business ids the payload names, most specific first
    contact: str  # the contact's id on the channel (WhatsApp id, PSID, IGSID)
    profile_name: str
    channel_message_id: str
    type: str  # a messages.type value
    content: dict[str, Any]
    occurred_at: datetime
    reply_to: str | None = None  # the quoted message's channel id; for reactions, the target
    media: MediaRef | None = None


@dataclass(frozen=True, slots=True)
class Echo:
    """A message the business sent (Messenger / Instagram is_echo): ours are known by their
    mid (or our metadata tag); others were sent from another app and are stored as outbound."""

    message: InboundMessage
    app_id: str | None = None
    metadata: str | None = None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery receipt for one outbound message (WhatsApp statuses[])."""

    channel: str
    accounts: tuple[str, ...]
    channel_message_id: str
    status: str  # sent | delivered | read | failed
    occurred_at: datetime
    error_code: str | None = None
    error_reason: str | None = None
    # biz_opaque_callback_data as the send gave it: on our sends, our message id.
    callback_data: str | None = None


@dataclass(frozen=True, slots=True)
class Watermark:
    """Messenger / Instagram delivery or read receipt: every outbound message to `contact`
    up to `watermark` (or up to the message `mids[0]` when no watermark is given)."""

    channel: str
    accounts: tuple[str, ...]
    contact: str
    status: str  # delivered | read
    occurred_at: datetime
    watermark: datetime | None
    mids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateStatusUpdate:
    """WhatsApp `message_template_status_update`: a template's status changed at Meta. Routed
    on the WABA (entry.id) to its integrations, not to an account."""

    channel: str
    waba_id: str
    event: str  # APPROVED, REJECTED, PAUSED, DISABLED, REINSTATED, FLAGGED, DELETED, ...
    template_id: str | None  # Meta's template id
    name: str | None
    language: str | None
    reason: str | None
    occurred_at: datetime | None  # entry.time


Item = InboundMessage | Echo | StatusUpdate | Watermark | TemplateStatusUpdate


@dataclass(slots=True)
class Parsed:
    channel: str
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was skipped, and why
