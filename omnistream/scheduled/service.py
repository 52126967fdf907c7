"""Rules about scheduled messages: what may be scheduled, and changes while pending.

A scheduled message is an agent's reply with a time. It is checked like a reply when it is
scheduled or edited (messages.service.prepare_reply: 422 naming the field), except for the
channel's window, which may have reopened (or closed) by the time it is due: the worker
judges that when it sends (worker.py). Who may see, edit or cancel it: whoever may see its
conversation (404 otherwise). Only a pending one changes (409 otherwise); the row lock
makes an edit or cancel and the worker's claim take turns, so a message is never both
cancelled and sent.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.conversations import queries as conversation_queries
from omnistream.conversations.service import get_visible as visible_conversation
from omnistream.conversations.visibility import Scope, state
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.errors import Conflict, NotFound, Unprocessable
from omnistream.messages.enums import MessageType
from omnistream.messages.schemas import MessageCreate
from omnistream.messages.service import prepare_reply
from omnistream.quick_replies import service as quick_replies
from omnistream.scheduled import queries
from omnistream.scheduled.schemas import ScheduledCreate, ScheduledStatus, ScheduledUpdate

# A time this far in the past is still accepted (and due at once): clocks of browsers and
# servers disagree by a little, and a request takes time to arrive.
CLOCK_SKEW = timedelta(seconds=5)
MAX_AHEAD = timedelta(days=366)
# The table's msg_type values (migration 0007); a reaction to a message later makes no sense.
SCHEDULABLE = frozenset(
    {
        MessageType.TEXT,
        MessageType.IMAGE,
        MessageType.VIDEO,
        MessageType.AUDIO,
        MessageType.DOCUMENT,
        MessageType.INTERACTIVE,
        MessageType.TEMPLATE,
    }
)
_FIELDS = (
    "id",
    "conversation_id",
    "agent_id",
    "scheduled_at",
    "status",
    "message_id",
    "error",
    "late",
    "note",
    "processed_at",
    "created_at",
    "updated_at",
)


def payload(row: asyncpg.Record) -> dict[str, Any]:
    """As the API returns it and events carry it (the fields of ScheduledOut)."""
    return {
        **{k: row[k] for k in _FIELDS},
        "type": row["msg_type"],
        "message": row["content_json"],
    }


def audience(row: asyncpg.Record) -> list[dict[str, Any]]:
    """For a row carrying AUDIENCE columns (queries.AUDIENCE)."""
    return [state(row["audience_division_id"], row["audience_agent_id"])]


async def _emit(conn: Conn, kind: EventType, row: asyncpg.Record, actor: Principal) -> None:
    await emit(
        conn,
        kind,
        {"scheduled_message": payload(row)},
        actor=actor,
        conversation_id=row["conversation_id"],
        audience=audience(row),
    )


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def check_time(at: datetime, now: datetime | None = None) -> None:
    """422 naming scheduled_at. The error carries the instants (`at`, `now`, ISO 8601) too:
    the API cannot know the agent's time zone, the web app shows them in the browser's."""
    now = now or datetime.now(UTC)
    instants = {"at": at.astimezone(UTC).isoformat(), "now": now.astimezone(UTC).isoformat()}
    if at < now - CLOCK_SKEW:
        message = f"Is in the past ({_utc(at)}; it is now {_utc(now)})"
        raise Unprocessable(
            f"scheduled_at is in the past ({_utc(at)}; it is now {_utc(now)})",
            errors=[
                {"field": "scheduled_at", "message": message, "type": "in_the_past", **instants}
            ],
        )
    if at > now + MAX_AHEAD:
        raise Unprocessable(
            "scheduled_at is more than a year ahead",
            errors=[
                {
                    "field": "scheduled_at",
                    "message": "Must be within a year from now",
                    "type": "too_far_ahead",
                    **instants,
                }
            ],
        )


async def _checked(
    conn: Conn, actor: Principal, conversation: asyncpg.Record, message: MessageCreate
) -> MessageCreate:
    """The message as stored, once it passes a reply's checks (422 otherwise). A quick reply
    is rendered now, for the agent who schedules it (its placeholders name them)."""
    if message.type == "quick_reply" or message.quick_reply_id is not None:
        message = await quick_replies.as_message(conn, actor, conversation, message)
    if message.type not in SCHEDULABLE:
        raise Unprocessable.field("type", f"a {message.type} message cannot be scheduled")
    await prepare_reply(conn, conversation, message, None)
    return message


def _stored(message: MessageCreate) -> dict[str, Any]:
    return message.model_dump(mode="json", exclude_none=True)


async def create(
    tx: Tx, actor: Principal, conversation_id: UUID, body: ScheduledCreate
) -> asyncpg.Record:
    conn = tx.conn
    conversation = await visible_conversation(conn, Scope.of(actor), conversation_id)
    check_time(body.scheduled_at)
    message = await _checked(conn, actor, conversation, body.message())
    row = await queries.insert(
        conn, conversation_id, actor.agent_id, message.type, _stored(message), body.scheduled_at
    )
    await _emit(conn, EventType.SCHEDULED_MESSAGE_CREATED, row, actor)
    await record(
        conn,
        actor,
        "schedule_message",
        "scheduled_message",
        row["id"],
        conversation_id=conversation_id,
        scheduled_at=body.scheduled_at.isoformat(),
        type=message.type,
    )
    await queries.wake(conn)
    return row


async def get(conn: Conn, actor: Principal, scheduled_id: UUID) -> asyncpg.Record:
    row = await queries.get_visible(conn, Scope.of(actor), scheduled_id)
    if row is None:
        raise NotFound(f"no scheduled message with id {scheduled_id}")
    return row


async def _pending(tx: Tx, actor: Principal, scheduled_id: UUID, verb: str) -> asyncpg.Record:
    """The row, locked; 404 unseen, 409 once it is no longer pending."""
    row = await queries.get_visible(tx.conn, Scope.of(actor), scheduled_id, for_update=True)
    if row is None:
        raise NotFound(f"no scheduled message with id {scheduled_id}")
    if row["status"] != ScheduledStatus.PENDING:
        raise Conflict(
            f"only a pending scheduled message can be {verb}; this one is {row['status']}",
            extra={"scheduled_status": row["status"], "message_id": _text(row["message_id"])},
        )
    return row


def _in_message(exc: Unprocessable) -> Unprocessable:
    """The same 422 with every field named as it was given (message.<field>), in the errors
    and in the detail (which lists them, or is one sentence about the message)."""
    errors = [{**e, "field": f"message.{e['field']}"} for e in exc.errors or []]
    names = sorted({str(e["field"]) for e in exc.errors or []}, key=len, reverse=True)
    if names:
        named = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, names)) + r"): ")
        detail = named.sub(r"message.\1: ", exc.detail)
    else:
        detail = f"message: {exc.detail}"
    return Unprocessable(detail, errors=errors or None, extra=exc.extra)


def _text(value: UUID | None) -> str | None:
    return None if value is None else str(value)


async def edit(
    tx: Tx, actor: Principal, scheduled_id: UUID, body: ScheduledUpdate
) -> asyncpg.Record:
    conn = tx.conn
    before = await _pending(tx, actor, scheduled_id, "edited")
    kind: str | None = None
    content: dict[str, Any] | None = None
    if body.scheduled_at is not None:
        check_time(body.scheduled_at)
    if body.message is not None:
        conversation = await conversation_queries.get(conn, before["conversation_id"])
        assert conversation is not None  # deleting it would wait for our lock on the row
        try:
            message = await _checked(conn, actor, conversation, body.message)
        except Unprocessable as exc:
            raise _in_message(exc) from None
        kind, content = message.type, _stored(message)
    row = await queries.update(
        conn, scheduled_id, msg_type=kind, content=content, scheduled_at=body.scheduled_at
    )
    assert row is not None  # locked and pending
    await _emit(conn, EventType.SCHEDULED_MESSAGE_UPDATED, row, actor)
    changed = [name for name in ("scheduled_at", "message") if getattr(body, name) is not None]
    await record(
        conn,
        actor,
        "edit_scheduled_message",
        "scheduled_message",
        scheduled_id,
        conversation_id=row["conversation_id"],
        changed=changed,
        previous_scheduled_at=before["scheduled_at"].isoformat(),
        scheduled_at=row["scheduled_at"].isoformat(),
    )
    await queries.wake(conn)
    return row


async def cancel(tx: Tx, actor: Principal, scheduled_id: UUID) -> asyncpg.Record:
    conn = tx.conn
    await _pending(tx, actor, scheduled_id, "cancelled")
    row = await queries.update(conn, scheduled_id, status=ScheduledStatus.CANCELLED)
    assert row is not None  # locked and pending
    await _emit(conn, EventType.SCHEDULED_MESSAGE_CANCELLED, row, actor)
    await record(
        conn,
        actor,
        "cancel_scheduled_message",
        "scheduled_message",
        scheduled_id,
        conversation_id=row["conversation_id"],
        scheduled_at=row["scheduled_at"].isoformat(),
    )
    return row
