"""The SLA consumer: keeps every conversation's clock (conversations.sla_*) from the events.

It reads the outbox by seq after its own position (event_consumers 'sla') and, in ONE
transaction per batch, locks the batch's conversations (id order, as the inbound loop
does), applies the events in seq order (created / reopened: a new cycle; a customer's
message: a next-response wait; an agent's message: the response), evaluates each clock
against its policy in business time (clock.py) and writes it back, with the events
(engine.py), and moves the position past the batch. A crash before the commit redoes the
batch; none is applied twice. Several workers take turns on the position's row lock.

What counts: an agent's message is an outbound message with a sending agent (not notes,
which are no messages; not campaign sends or automatic messages, which have no agent); a
customer's message is any inbound message but a reaction or one after which its
conversation is still resolved (a CSAT survey's answer or feedback, csat/answers.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.events.queries import published_after
from omnistream.events.types import EventType
from omnistream.kit.aio import wait_for_any
from omnistream.sla import queries
from omnistream.sla.clock import Clock
from omnistream.sla.engine import Policies, evaluate_all, snapshot
from omnistream.webhooks.delivery_queries import advance, top_seq

log = logging.getLogger(__name__)
BATCH_SIZE = 1000
POLL_SECONDS = 0.25  # how long a change may wait before its clock follows
BUSY_SECONDS = 0.05
# The events that move a clock, or may move its conversation (division, status).
WATCHED = frozenset(
    t.value
    for t in (
        EventType.CONVERSATION_CREATED,
        EventType.CONVERSATION_REOPENED,
        EventType.CONVERSATION_RESOLVED,
        EventType.CONVERSATION_TRANSFERRED,
        EventType.CONVERSATION_ASSIGNED,
        EventType.CONVERSATION_UPDATED,
        EventType.MESSAGE_CREATED,
    )
)


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _conversation_id(event: asyncpg.Record) -> UUID:
    return UUID(str(event["data"]["conversation"]["id"]))


def apply(clock: Clock, event: asyncpg.Record) -> None:
    """One event's effect on its conversation's clock."""
    kind, data = event["type"], event["data"]
    if kind == EventType.CONVERSATION_CREATED:
        clock.start_cycle(_time(data["conversation"]["created_at"]))
    elif kind == EventType.CONVERSATION_REOPENED:
        clock.start_cycle(event["occurred_at"])
    elif kind == EventType.MESSAGE_CREATED:
        message = data["message"]
        if message["direction"] == "inbound":
            # Not a reaction, nor a message that left its conversation resolved (a CSAT answer).
            still = (data.get("conversation") or {}).get("status") == "resolved"
            if message["type"] != "reaction" and not still:
                clock.customer_wrote(_time(message["created_at"]))
        elif message.get("sender_agent_id"):
            clock.agent_answered(_time(message["created_at"]))


async def consume(pool: Pool, policies: Policies, limit: int = BATCH_SIZE) -> int | None:
    """One batch: how many events it consumed; None when another worker holds the turn."""
    async with transaction(pool) as tx:
        conn = tx.conn
        position = await queries.lock_position(conn)
        if position is None:
            return None
        events = await published_after(conn, position, limit)
        if not events:
            return 0
        watched = [(_conversation_id(e), e) for e in events if e["type"] in WATCHED]
        if watched:
            ids = sorted({i for i, _ in watched})
            rows, now = await queries.lock_clocks(conn, ids)
            clocks = {r["id"]: Clock.of(r) for r in rows}  # a deleted one is gone
            before, stored = snapshot(list(clocks.values()))
            for conversation_id, event in watched:
                clock = clocks.get(conversation_id)
                if clock is not None:
                    apply(clock, event)
            current = await policies.current(conn)
            await evaluate_all(conn, list(clocks.values()), current, now, before, stored)
        await advance(conn, queries.CONSUMER, events[-1]["seq"])
    return len(events)


async def consumer_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    """Batches while full ones come back; otherwise polls every POLL_SECONDS. No LISTEN:
    the worker's pool is shared by every loop, and each listener holds a connection."""
    policies = Policies()
    while not stop.is_set():
        try:
            consumed = await consume(pool, policies)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database went away, a deadlock: wait, then again
            log.exception("SLA consumer failed")
            consumed = 0
        if consumed is not None and consumed >= BATCH_SIZE:
            continue
        await wait_for_any(stop, seconds=BUSY_SECONDS if consumed is None else POLL_SECONDS)


async def skip_to_present(pool: Pool) -> None:
    """Move the position to the newest event (tests and benches that start afresh)."""
    async with transaction(pool) as tx:
        if await queries.lock_position(tx.conn) is not None:
            await advance(tx.conn, queries.CONSUMER, await top_seq(tx.conn))
