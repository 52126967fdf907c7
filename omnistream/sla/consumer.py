"""The SLA consumer: keeps every conversation's clock (conversations.sla_* and its
sla_schedule row) from the events.

It reads the outbox by seq after its own position (event_consumers 'sla'), in batches of
BATCH_SIZE seqs, and, in ONE transaction per batch, leaves out the customer messages that
cannot move their clock (queries.events_between: on a busy inbox most of them), reads the
clocks of the remaining events' conversations, applies the events
in seq order (created / reopened: a new cycle; a customer's message: a next-response wait;
an agent's message: the response), evaluates each clock against its policy in business time
(clock.py), writes back those that changed, with the events (engine.py), and moves the
position past the batch. A crash before the commit redoes the batch; none is applied
twice. Several workers take turns on the position's row lock.

The clocks are read without locks: the inbound batches lock these same conversations, and
locking every conversation a message event names would queue the inbound loop behind this
one (and write a row lock per event). A clock is written back only if its version is the
one read; one the breach loop wrote meanwhile is read again, locked, and redone.

What counts: an agent's message is an outbound message with a sending agent (not notes,
which are no messages; not campaign sends or automatic messages, which have no agent); a
customer's message is any inbound message but a reaction, an automatic answer (an email
auto-reply: content.auto_reply) or one after which its conversation is still resolved (a
CSAT survey's answer or feedback, csat/answers.py).
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg

from omnistream.config import Settings
from omnistream.db.pool import Conn, Pool, transaction
from omnistream.events.consumers import poll_batches
from omnistream.events.types import EventType
from omnistream.sla import queries
from omnistream.sla.clock import Clock
from omnistream.sla.engine import Policies, evaluate_all, snapshot
from omnistream.webhooks.delivery_queries import advance

BATCH_SIZE = 1000
POLL_SECONDS = 0.25  # how long a change may wait before its clock follows
# The events that move a clock, or may move its conversation (division, status).
# (conversation.updated and .assigned are not: the division moves by a transfer, or by a
# campaign's reply routing in the transaction that created the conversation, read with it;
# and the consumer's own conversation.updated would come back to it.)
WATCHED = [
    t.value
    for t in (
        EventType.CONVERSATION_CREATED,
        EventType.CONVERSATION_REOPENED,
        EventType.CONVERSATION_RESOLVED,
        EventType.CONVERSATION_TRANSFERRED,
        EventType.MESSAGE_CREATED,
    )
]


def apply(clock: Clock, event: asyncpg.Record) -> bool:
    """One event's effect on its conversation's clock (queries.events_between's row);
    whether the clock must be evaluated again."""
    kind = event["type"]
    if kind == EventType.CONVERSATION_CREATED:
        clock.start_cycle(event["conversation_created_at"])
        return True
    if kind == EventType.CONVERSATION_REOPENED:
        clock.start_cycle(event["occurred_at"])
        return True
    if kind == EventType.MESSAGE_CREATED:
        if event["direction"] == "inbound":
            # Not a reaction, nor an automatic answer (an email auto-reply), nor a message
            # that left its conversation resolved (a CSAT answer).
            still = event["conversation_status"] == "resolved"
            if event["message_type"] != "reaction" and not event["auto_reply"] and not still:
                return clock.customer_wrote(event["message_created_at"])
            return False
        return bool(event["by_agent"]) and clock.agent_answered(event["message_created_at"])
    return True  # resolved (the clock stops), transferred (the division may have moved)


async def apply_batch(
    conn: Conn, events: list[asyncpg.Record], policies: Policies, *, lock: bool
) -> list[UUID]:
    """Apply `events` to their conversations' clocks, evaluate those they moved and write
    them; the ids of the clocks someone wrote meanwhile (unlocked reads only). Most events
    move nothing (a customer writing again while an answer is due): those clocks are
    neither evaluated nor written."""
    ids = sorted({e["conversation_id"] for e in events})
    rows, now = await queries.read_clocks(conn, ids, lock=lock)
    clocks = {r["id"]: Clock.of(r) for r in rows}  # a deleted one is gone
    before, stored = snapshot(list(clocks.values()))
    moved: dict[UUID, Clock] = {}
    for event in events:
        clock = clocks.get(event["conversation_id"])
        if clock is not None and apply(clock, event):
            moved[clock.id] = clock
    if not moved:
        return []
    current = await policies.current(conn)
    done = await evaluate_all(conn, list(moved.values()), current, now, before, stored)
    return done.stale


async def consume(pool: Pool, policies: Policies, limit: int = BATCH_SIZE) -> int | None:
    """One batch: how many seqs it passed (`limit`: a full one); None when another worker
    holds the turn.

    Clocks are read without locks (the inbound batches lock these conversations, and a
    lock per event would queue them behind this loop); each is written back only if no
    one wrote it since (its version), and those the breach loop wrote meanwhile are read
    again, locked, and redone."""
    async with transaction(pool) as tx:
        conn = tx.conn
        position = await queries.lock_position(conn)
        if position is None:
            return None
        top = await queries.top_seq(conn)
        if top <= position:
            return 0
        if not await policies.current(conn):  # no SLA in use: nothing to keep, move on
            await advance(conn, queries.CONSUMER, top)
            return 0
        # A batch: the next `limit` seqs (at most that many events; seq has gaps only
        # where a publish rolled back).
        upto = min(top, position + limit)
        events = await queries.events_between(conn, position, upto, WATCHED)
        if events:
            stale = set(await apply_batch(conn, events, policies, lock=False))
            if stale:
                redo = [e for e in events if e["conversation_id"] in stale]
                await apply_batch(conn, redo, policies, lock=True)
        await advance(conn, queries.CONSUMER, upto)
    return upto - position  # a full batch (limit): more may follow at once


async def consumer_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    policies = Policies()
    await poll_batches("sla", lambda: consume(pool, policies), BATCH_SIZE, stop, POLL_SECONDS)


async def skip_to_present(pool: Pool) -> None:
    """Move the position to the newest event (tests and benches that start afresh)."""
    async with transaction(pool) as tx:
        if await queries.lock_position(tx.conn) is not None:
            await advance(tx.conn, queries.CONSUMER, await queries.top_seq(tx.conn))
