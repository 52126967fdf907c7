"""The CSAT consumer: a survey at each resolve, and the survey messages' send outcomes.

It reads the outbox by seq after its own position (event_consumers 'csat'), like the SLA
consumer (sla/consumer.py), only the events it acts on (picked in SQL: the inbound path's
message events are never read here), and in ONE transaction per batch: for every
conversation.resolved, the survey of that resolve (service.survey_resolve: sent or skipped,
judged on the conversation as it is now, locked in id order); for every message.updated of
a survey message (content.csat_survey_id), the survey becomes 'sent' or 'failed'; then the
position moves past the batch. A crash before the commit redoes the batch, and the unique
(conversation, resolve event) key means no resolve gets two surveys. It polls (no LISTEN:
every listener holds one of the worker pool's connections).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.config import Settings
from omnistream.csat import queries, service
from omnistream.db.pool import Pool, transaction
from omnistream.events.consumers import poll_batches
from omnistream.events.types import EventType
from omnistream.webhooks.delivery_queries import advance, top_seq

BATCH_SIZE = 1000
POLL_SECONDS = 0.5  # how long a resolve may wait for its survey
_OUTCOMES = ("sent", "delivered", "read", "failed")


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _survey_message(event: asyncpg.Record) -> dict[str, Any] | None:
    """The message of a message.updated event about a survey message's send, if it is one."""
    if event["type"] != EventType.MESSAGE_UPDATED:
        return None
    message = event["data"].get("message") or {}
    content = message.get("content") or {}
    if message.get("direction") != "outbound" or not content.get("csat_survey_id"):
        return None
    return message if message.get("status") in _OUTCOMES else None


async def consume(pool: Pool, limit: int = BATCH_SIZE) -> int | None:
    """One batch: how many events it consumed; None when another worker holds the turn."""
    async with transaction(pool) as tx:
        conn = tx.conn
        position = await queries.lock_position(conn)
        if position is None:
            return None
        top = await queries.top_seq(conn)
        if top <= position:
            return 0
        events = await queries.events_between(conn, position, top, limit)
        fetched = len(events)  # a full batch: more may follow at once
        upto = events[-1]["seq"] if fetched >= limit else top
        resolves = [e for e in events if e["type"] == EventType.CONVERSATION_RESOLVED]
        if resolves:
            settings = await service.get_settings(conn)
            if settings.channels:
                ids = sorted({UUID(str(e["data"]["conversation"]["id"])) for e in resolves})
                rows = {r["id"]: r for r in await queries.resolved_conversations(conn, ids)}
                now: datetime = await conn.fetchval("SELECT clock_timestamp()")
                for event in resolves:
                    row = rows.get(UUID(str(event["data"]["conversation"]["id"])))
                    if row is not None:  # a deleted one is gone
                        await service.survey_resolve(conn, settings, row, event["id"], now)
        sends = [m for m in map(_survey_message, events) if m is not None]
        if sends:
            await queries.message_outcomes(
                conn,
                [UUID(str(m["id"])) for m in sends],
                ["failed" if m["status"] == "failed" else "sent" for m in sends],
                [_time(m.get("sent_at")) or _time(m.get("failed_at")) for m in sends],
                [m.get("error_code") or m.get("error_reason") for m in sends],
            )
        await advance(conn, queries.CONSUMER, upto)
    return fetched


async def consumer_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    await poll_batches("csat", lambda: consume(pool), BATCH_SIZE, stop, POLL_SECONDS)


async def skip_to_present(pool: Pool) -> None:
    """Move the position to the newest event (tests that start afresh)."""
    async with transaction(pool) as tx:
        if await queries.lock_position(tx.conn) is not None:
            await advance(tx.conn, queries.CONSUMER, await top_seq(tx.conn))
