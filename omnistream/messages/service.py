"""Rules about messages: inbound ingestion, delivery statuses, agent replies, retries.

Every message insert moves its conversation's counters in the same statement, and every
change writes its event in the same transaction. Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.channels.meta_page.outbound import HUMAN_AGENT_WINDOW
from omnistream.channels.whatsapp.outbound import WINDOW as WHATSAPP_WINDOW
from omnistream.conversations import queries as conversation_queries
from omnistream.conversations.service import audience_of, get_visible, take_on_reply
from omnistream.conversations.service import payload as conversation_payload
from omnistream.conversations.visibility import Scope, state
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.enums import Channel
from omnistream.kit.errors import AppError, Conflict, NotFound, Unprocessable
from omnistream.kit.links import link_problem, link_refused
from omnistream.messages import outbound_queries, queries
from omnistream.messages.attachments import attachments_content
from omnistream.messages.enums import (
    MEDIA_TYPES,
    PROGRESS,
    Direction,
    MessageStatus,
    MessageType,
)
from omnistream.messages.media import StoredUpload
from omnistream.messages.presentation import message_payload, preview
from omnistream.messages.schemas import MessageCreate
from omnistream.quick_replies import service as quick_replies
from omnistream.templates import service as templates

_COUNTERS = (
    "last_message_at",
    "last_message_preview",
    "last_inbound_at",
    "unread_count",
    "updated_at",
)


class InboundError(ValueError):
    """An inbound message or receipt that cannot be stored (bad sender id, unknown type or
    channel); the inbound loop marks its payload failed with this message."""


def with_counters(conversation: asyncpg.Record, message: asyncpg.Record) -> dict[str, Any]:
    """The conversation as it is after the insert (the insert returned the new counters)."""
    return {**conversation_payload(conversation), **{k: message["c_" + k] for k in _COUNTERS}}


async def emit_updated(conn: Conn, row: asyncpg.Record, actor: Principal | None = None) -> None:
    """message.updated for a row carrying AUDIENCE columns (queries.AUDIENCE)."""
    await emit(
        conn,
        EventType.MESSAGE_UPDATED,
        {"message": message_payload(row)},
        actor=actor,
        conversation_id=row["conversation_id"],
        audience=[state(row["audience_division_id"], row["audience_agent_id"])],
    )


# Delivery statuses ------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusChange:
    found: bool  # False: no message has this channel id (yet; the send may not be recorded)
    message: asyncpg.Record | None  # the updated row; None when nothing changed

    @property
    def changed(self) -> bool:
        return self.message is not None


async def apply_status(
    tx: Tx,
    channel: str,
    channel_message_id: str,
    status: str,
    at: datetime,
    error_code: str | None = None,
    error_reason: str | None = None,
) -> StatusChange:
    """A channel's receipt for an outbound message: moves only forward (pending < sent <
    delivered < read); 'failed' only before delivery and then final. A stale, repeated or
    backward update changes nothing and emits nothing."""
    allowed = {*PROGRESS[1:], MessageStatus.FAILED}
    if status not in allowed:
        raise InboundError(f"status must be one of {sorted(allowed)}, got {status!r}")
    if at.tzinfo is None:
        raise InboundError("at must carry a time zone")
    if status == MessageStatus.FAILED and not error_reason:
        error_reason = "the channel reported the message as failed"
    row = await queries.apply_status(
        tx.conn, channel, channel_message_id, status, at, error_code, error_reason
    )
    if row["id"] is None:
        return StatusChange(found=bool(row["found"]), message=None)
    await emit_updated(tx.conn, row)
    return StatusChange(found=True, message=row)


# Agent replies ----------------------------------------------------------------------------


# What each reply type may carry besides `type` and `reply_to_message_id`.
_FIELDS: dict[MessageType, tuple[str, ...]] = {
    MessageType.TEXT: ("text",),
    **dict.fromkeys(MEDIA_TYPES, ("media_id", "link", "caption")),
    MessageType.INTERACTIVE: ("interactive",),
    MessageType.REACTION: ("emoji",),
    MessageType.TEMPLATE: ("template",),
}
_ALL_FIELDS = ("text", "media_id", "link", "caption", "interactive", "emoji", "template")
WHATSAPP_ONLY = (MessageType.INTERACTIVE, MessageType.TEMPLATE)
# The channels that take reactions, by the names agents know them by.
META_CHANNELS = {
    Channel.WHATSAPP: "WhatsApp",
    Channel.MESSENGER: "Messenger",
    Channel.INSTAGRAM: "Instagram",
}
INSTAGRAM_HEARTS = ("❤️", "❤")  # Instagram's only reaction ("love"), with and without VS16


class WindowClosed(AppError):
    """The channel's customer-service window is closed: only a template may be sent."""

    status, slug, title = 422, "window-closed", "Customer-service window closed"


def check_window(conversation: asyncpg.Record, now: datetime) -> None:
    """WhatsApp: free-form replies only within 24 h of the customer's last message (then a
    template is needed); Messenger / Instagram: up to 7 days (HUMAN_AGENT tag after 24 h)."""
    channel, last = conversation["channel"], conversation["last_inbound_at"]
    if channel == Channel.WHATSAPP:
        limit, span = WHATSAPP_WINDOW, "24 hours"
        hint = "WhatsApp allows only an approved template message now: a template is needed"
    elif channel in (Channel.MESSENGER, Channel.INSTAGRAM):
        limit, span = HUMAN_AGENT_WINDOW, "7 days"
        hint = f"{channel} allows no reply until the customer writes again"
    else:
        return
    if last is not None and now - last <= limit:
        return
    since = "never" if last is None else f"last at {last.isoformat()}"
    raise WindowClosed(
        f"the customer-service window is closed: more than {span} since the customer's last "
        f"message (they wrote {since}); {hint}",
        extra={"channel": channel, "last_inbound_at": last.isoformat() if last else None},
    )


def _only(body: MessageCreate, kind: MessageType) -> None:
    for name in _ALL_FIELDS:
        if name not in _FIELDS[kind] and getattr(body, name) is not None:
            hint = "; use caption" if name == "text" and kind in MEDIA_TYPES else ""
            raise Unprocessable.field(name, f"is not allowed on a {kind} message{hint}")


def _link(body: MessageCreate, kind: MessageType) -> dict[str, Any]:
    assert body.link is not None
    if found := link_problem(body.link):
        raise link_refused("link", found)
    content: dict[str, Any] = {"link": body.link}
    name = urlsplit(body.link).path.rsplit("/", 1)[-1]
    if kind is MessageType.DOCUMENT and name:
        content["filename"] = unquote(name)
    return content


async def _outbound_content(
    conn: Conn, conversation: asyncpg.Record, body: MessageCreate
) -> tuple[MessageType, dict[str, Any], UUID | None]:
    kind, conversation_id, channel = (
        MessageType(body.type),
        conversation["id"],
        conversation["channel"],
    )
    _only(body, kind)
    if kind in WHATSAPP_ONLY and channel != Channel.WHATSAPP:
        raise Unprocessable.field("type", f"{kind} messages can only be sent on WhatsApp")
    if kind is MessageType.TEMPLATE:  # checked against the template's components
        return kind, await templates.outbound_content(conn, conversation, body.template), None
    if kind is MessageType.TEXT:  # an email's files may go without a text
        if (body.text is None or not body.text.strip()) and not body.attachment_ids:
            raise Unprocessable.field("text", "is required for a text message")
        return kind, {"text": body.text or ""}, None
    if kind is MessageType.INTERACTIVE:
        if body.interactive is None:
            raise Unprocessable.field("interactive", "is required for an interactive message")
        return kind, body.interactive.content(), None
    if kind is MessageType.REACTION:
        if channel not in META_CHANNELS:
            raise Unprocessable.field(
                "type", "reactions can only be sent on WhatsApp, Messenger and Instagram"
            )
        if body.emoji is None:
            raise Unprocessable.field("emoji", "is required for a reaction (empty: remove it)")
        emoji = body.emoji
        if channel == Channel.INSTAGRAM and emoji:
            if emoji not in INSTAGRAM_HEARTS:
                raise Unprocessable.field(
                    "emoji", "Instagram allows only the ❤️ reaction (empty: remove it)"
                )
            emoji = INSTAGRAM_HEARTS[0]
        if body.reply_to_message_id is None:
            raise Unprocessable.field("reply_to_message_id", "names the message reacted to")
        target = await outbound_queries.reply_target(
            conn, conversation_id, body.reply_to_message_id
        )
        if target is None:
            raise Unprocessable.field("reply_to_message_id", "no such message in this conversation")
        if not target["channel_message_id"]:
            raise Unprocessable.field(
                "reply_to_message_id", f"that message has not reached {META_CHANNELS[channel]}"
            )
        return kind, {"emoji": emoji, "target_message_id": target["channel_message_id"]}, None
    if body.media_id is None and body.link is None:
        raise Unprocessable.field("media_id", f"media_id or link is required for a {kind} message")
    if body.media_id is not None and body.link is not None:
        raise Unprocessable.field("link", "give either media_id or link, not both")
    content: dict[str, Any] = {}
    if body.caption and body.caption.strip():
        content["caption"] = body.caption
    if body.link is not None:
        return kind, {**content, **_link(body, kind)}, None
    assert body.media_id is not None  # sent by id: the adapter uploads the stored file
    media = await queries.media_in_conversation(conn, conversation_id, body.media_id)
    if media is None:
        raise Unprocessable.field("media_id", "no upload with this id in this conversation")
    if media["status"] != "ready":
        raise Unprocessable.field("media_id", f"the file is not ready ({media['status']})")
    if not media["mime_type"].startswith(MEDIA_TYPES[kind]):
        raise Unprocessable.field(
            "media_id", f"a {media['mime_type']} file cannot be sent as {kind}"
        )
    if kind is MessageType.DOCUMENT:
        content["filename"] = media["filename"]
    return kind, content, body.media_id


def _email_fields(conversation: asyncpg.Record, body: MessageCreate) -> dict[str, Any]:
    """A mail's subject and CC (read by the email sender), refused on other channels."""
    if body.subject is None and not body.cc:
        return {}
    if conversation["channel"] != Channel.EMAIL:
        field = "subject" if body.subject is not None else "cc"
        raise Unprocessable.field(field, "is only for email conversations")
    fields: dict[str, Any] = {}
    if body.subject is not None:
        fields["subject"] = body.subject
    if body.cc:
        fields["cc"] = list(dict.fromkeys(address.lower() for address in body.cc))
    return fields


@dataclass(frozen=True)
class Reply:
    """An agent's reply checked against its conversation: what is stored and sent."""

    kind: MessageType
    content: dict[str, Any]
    media_id: UUID | None
    reply_to_id: UUID | None


async def prepare_reply(
    conn: Conn, conversation: asyncpg.Record, body: MessageCreate, now: datetime | None
) -> Reply:
    """The checks of `send` (422 naming the field), shared with scheduled messages, which
    run them when scheduling (now=None: the window may have reopened by the time it is due)
    and again when due. With `now`, the channel's window too (422 window-closed)."""
    if body.type == "quick_reply" or body.quick_reply_id is not None:
        # Rendering needs the sending agent: callers expand it first (quick_replies.as_message).
        raise Unprocessable.field("quick_reply_id", "a quick reply cannot be used here")
    kind, content, media_id = await _outbound_content(conn, conversation, body)
    content |= _email_fields(conversation, body)
    if attached := await attachments_content(conn, conversation, body, kind):
        content["attachments"] = attached
    if now is not None and kind is not MessageType.TEMPLATE:  # templates: any time
        check_window(conversation, now)
    if body.reply_to_message_id is not None and not await queries.in_conversation(
        conn, conversation["id"], body.reply_to_message_id
    ):
        raise Unprocessable.field("reply_to_message_id", "no such message in this conversation")
    return Reply(kind, content, media_id, body.reply_to_message_id)


async def send(
    tx: Tx, actor: Principal, conversation_id: UUID, body: MessageCreate, *, assign_on_reply: bool
) -> asyncpg.Record:
    """An agent's reply: stored as pending for the outbound sender, which wakes on commit.

    Refused (422 window-closed) when the channel's customer-service window is closed
    (check_window), judged from the customer's last message before anything is stored.

    Replying does not change the conversation's status (as in Chatwoot): a resolved
    conversation stays resolved until the contact writes again or an agent reopens it.
    With `assign_on_reply` (OMNISTREAM_ASSIGN_ON_REPLY) a reply other than a reaction to
    an unassigned conversation assigns it to the replying agent, in this transaction.
    """
    conn = tx.conn
    # Locked: replies to one conversation serialise, so the preview follows the last one.
    conversation = await get_visible(conn, Scope.of(actor), conversation_id, for_update=True)
    quick_reply_id = body.quick_reply_id
    if body.type == "quick_reply" or quick_reply_id is not None:
        body = await quick_replies.as_message(conn, actor, conversation, body)
    reply = await prepare_reply(conn, conversation, body, datetime.now(UTC))
    kind, content = reply.kind, reply.content
    assigned = conversation
    if assign_on_reply and kind is not MessageType.REACTION:  # a reaction is no answer
        assigned = await take_on_reply(tx, actor, conversation)
    row = await queries.insert(
        conn,
        conversation_id=conversation_id,
        channel=conversation["channel"],
        direction=Direction.OUTBOUND,
        type=kind.value,
        content=content,
        status=MessageStatus.PENDING,
        preview=preview(kind, content),
        reply_to_id=reply.reply_to_id,
        media_id=reply.media_id,
        sender_agent_id=actor.agent_id,
    )
    assert row is not None  # no channel id yet: nothing to conflict with
    await emit(
        conn,
        EventType.MESSAGE_CREATED,
        {"message": message_payload(row), "conversation": with_counters(assigned, row)},
        actor=actor,
        conversation_id=conversation_id,
        audience=audience_of(assigned),  # the pool learnt it left from conversation.assigned
    )
    # What was sent, never its text (the timeline holds that, under its own access rules).
    extra = {"quick_reply_id": quick_reply_id} if quick_reply_id else {}
    if kind is MessageType.TEMPLATE:
        extra |= {"template": content["name"], "language": content["language"]}
    await record(
        conn, actor, "send_message", "conversation", conversation_id,
        message_id=row["id"], type=kind.value, **extra,
    )  # fmt: skip
    await queries.wake_sender(conn)
    return row


async def retry(tx: Tx, actor: Principal, message_id: UUID) -> asyncpg.Record:
    """A failed outbound message goes back to pending, with a fresh set of attempts (not
    when the channel's window has closed since: 422 window-closed, as for a new reply)."""
    current = await queries.get_visible(tx.conn, Scope.of(actor), message_id, for_update=True)
    if current is None:
        raise NotFound(f"no message with id {message_id}")
    if current["direction"] != Direction.OUTBOUND or current["status"] != MessageStatus.FAILED:
        raise Conflict(
            f"only a failed outbound message can be retried; this one is "
            f"{current['direction']} and {current['status']}"
        )
    conversation = await conversation_queries.get(tx.conn, current["conversation_id"])
    if conversation is not None and current["type"] != MessageType.TEMPLATE:
        check_window(conversation, datetime.now(UTC))
    row = await queries.retry(tx.conn, message_id)
    assert row is not None  # locked above and failed
    await emit_updated(tx.conn, row, actor)
    await record(
        tx.conn,
        actor,
        "retry_message",
        "message",
        message_id,
        conversation_id=row["conversation_id"],
        error_code=current["error_code"],
    )
    await queries.wake_sender(tx.conn)
    return row


async def add_upload(
    tx: Tx, actor: Principal, conversation_id: UUID, upload: StoredUpload
) -> asyncpg.Record:
    """Record a stored upload; the conversation is checked again inside the transaction."""
    await get_visible(tx.conn, Scope.of(actor), conversation_id, for_update=True)
    row = await queries.insert_media(
        tx.conn,
        conversation_id=conversation_id,
        uploaded_by=actor.agent_id,
        filename=upload.filename,
        mime_type=upload.mime_type,
        size_bytes=upload.size_bytes,
        sha256=upload.sha256,
        storage_path=upload.storage_path,
    )
    await record(
        tx.conn, actor, "upload_media", "conversation", conversation_id,
        media_id=row["id"], mime_type=upload.mime_type, size_bytes=upload.size_bytes,
    )  # fmt: skip
    return row
