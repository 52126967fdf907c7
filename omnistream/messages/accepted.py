"""Sends the channel accepted but the sender never recorded: the sender died between the
channel's answer and writing it down (messages/worker.py). The channel's own receipts name
the message by our id (WhatsApp biz_opaque_callback_data, Messenger / Instagram echo
metadata), so the inbound loop records the channel id and 'sent' from them, and the
message is not sent again when its lease runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.conversations.visibility import state
from omnistream.db.pool import Conn
from omnistream.events.outbox import Draft, emit_many
from omnistream.events.types import EventType
from omnistream.messages import outbound_queries
from omnistream.messages.presentation import message_payload


@dataclass(frozen=True, slots=True)
class Accepted:
    """A receipt or echo of our message `message_id`, as the channel reported it."""

    message_id: UUID
    channel: str
    account_id: UUID  # the account the receipt came for: only its messages are touched
    channel_message_id: str
    status: str  # sent | delivered | read | failed
    at: datetime


def our_id(value: str | None, prefix: str = "") -> UUID | None:
    """The message id our send put in the payload (after `prefix`), None if not one of ours."""
    if not value or not value.startswith(prefix):
        return None
    try:
        return UUID(value[len(prefix) :])
    except ValueError:
        return None


def updated_draft(row: asyncpg.Record) -> Draft:
    """What emit_updated writes for a row carrying AUDIENCE columns, for emit_many."""
    audience = [state(row["audience_division_id"], row["audience_agent_id"])]
    data = {"message": message_payload(row)}
    return Draft(EventType.MESSAGE_UPDATED, data, None, row["conversation_id"], audience)


async def record_accepted(conn: Conn, found: list[Accepted]) -> list[asyncpg.Record]:
    """Record the channel ids of those still pending without one (one statement, plus one
    for their message.updated events); the rows that moved. The receipts themselves are
    applied afterwards as usual (forward only), so a 'delivered' goes on from 'sent'."""
    items: dict[str, Accepted] = {}
    for a in found:  # one claim per channel id: a second would break the unique index
        items.setdefault(a.channel_message_id, a)
    claims = list(items.values())
    rows = await outbound_queries.mark_accepted(
        conn,
        [a.message_id for a in claims],
        [a.channel for a in claims],
        [a.account_id for a in claims],
        [a.channel_message_id for a in claims],
        [a.status for a in claims],
        [a.at for a in claims],
    )
    if rows:
        await emit_many(conn, [updated_draft(r) for r in rows])
    return rows
