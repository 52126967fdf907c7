"""The fan-out: committed events become deliveries, exactly once per (event, endpoint).

The loop reads the outbox by seq after its own position (event_consumers 'webhooks') and,
in ONE transaction per batch, inserts a delivery for every active endpoint subscribed to
each event (and created, or re-enabled, before it was published) and moves the position
past the batch. A crash before the commit redoes the batch, one after it never does: no
event is skipped or doubled. seq is handed out in the order rows become visible
(events/dispatcher.py), so "after position" never misses a late commit, and an event of a
rolled-back transaction never has a seq. Housekeeping keeps every event the position has
not passed.

Several workers may run the loop: the position's row lock makes them take turns (SKIP
LOCKED: a worker that finds it held leaves the tick to its holder).

Deliveries this process's delivery loop has room for (its endpoint's free window, once
nothing older of that endpoint is due) are inserted already claimed by this worker, as its
claim would lease them, and handed to it after the commit: the hot path needs neither a
claim query nor a claim update. A crash after the commit leaves them claimed by a dead
worker, which the takeover hands on like any claim.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from omnistream.config import Settings
from omnistream.db.listen import notified
from omnistream.db.pool import Pool, transaction
from omnistream.events.envelope import envelope_of
from omnistream.events.queries import EVENTS_CHANNEL, published_after
from omnistream.kit.aio import wait_for_any
from omnistream.webhooks import delivery_queries as queries
from omnistream.webhooks.queries import CONSUMER, wake
from omnistream.webhooks.schemas import ALL_EVENTS
from omnistream.webhooks.worker import LEASE_SECONDS, local_deliverer
from omnistream.workers.liveness import current_key

log = logging.getLogger(__name__)
BATCH_SIZE = 1000
POLL_SECONDS = 1.0  # a missed NOTIFY costs at most this
BUSY_SECONDS = 0.05  # another worker holds the position
COALESCE_SECONDS = 0.005


def _envelope_json(row: asyncpg.Record) -> str:
    """The event as WebSocket clients see it (from_row's envelope, without the hub's frame
    and audience, which cost as much again per event)."""
    return envelope_of(row).model_dump_json()


@dataclass
class _Rows:
    """New deliveries, column by column (unnest arrays)."""

    webhook_ids: list[UUID] = field(default_factory=list)
    event_ids: list[UUID] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    payloads: list[str] = field(default_factory=list)

    def add(self, webhook_id: UUID, event_id: UUID, seq: int, type_: str, payload: str) -> None:
        self.webhook_ids.append(webhook_id)
        self.event_ids.append(event_id)
        self.seqs.append(seq)
        self.types.append(type_)
        self.payloads.append(payload)

    def columns(self) -> tuple[list[UUID], list[UUID], list[int], list[str], list[str]]:
        return self.webhook_ids, self.event_ids, self.seqs, self.types, self.payloads


async def fan_out(pool: Pool, limit: int = BATCH_SIZE) -> int | None:
    """One batch: how many events it consumed; None when another worker holds the turn."""
    async with transaction(pool) as tx:
        conn = tx.conn
        position = await queries.lock_position(conn, CONSUMER)
        if position is None:
            return None
        endpoints = await queries.active_endpoints(conn)
        if not endpoints:  # nothing to deliver to: only move past what is published
            top = await queries.top_seq(conn)
            if top > position:
                await queries.advance(conn, CONSUMER, top)
            return 0
        events = await published_after(conn, position, limit)
        if not events:
            return 0
        # New deliveries this process's delivery loop has room for are inserted claimed for
        # it and handed over after the commit: no claim query and no claim update for them.
        deliverer = local_deliverer()
        rooms = {
            e["id"]: deliverer.room_for(e["id"], e["max_concurrency"]) if deliverer else 0
            for e in endpoints
        }
        sizes = {e["id"]: e["max_concurrency"] for e in endpoints}
        plain = _Rows()
        claimed = _Rows()
        for row in events:
            matching = [
                e["id"]
                for e in endpoints
                if row["seq"] > e["start_seq"]
                and (row["type"] in e["events"] or ALL_EVENTS in e["events"])
            ]
            if not matching:
                continue
            payload = _envelope_json(row)
            for webhook_id in matching:
                into = plain
                if rooms[webhook_id] > 0:
                    rooms[webhook_id] -= 1
                    into = claimed
                elif deliverer is not None:
                    deliverer.behind(webhook_id, sizes[webhook_id])
                into.add(webhook_id, row["id"], row["seq"], row["type"], payload)
        created = 0
        now = datetime.now(UTC)
        if claimed.webhook_ids and deliverer is not None:
            taken = await queries.insert_claimed(
                conn, *claimed.columns(), now, current_key(), LEASE_SECONDS
            )
            created += len(taken)
            tx.after_commit(lambda: deliverer.take(taken))
        if plain.webhook_ids:
            created += await queries.insert_deliveries(conn, *plain.columns(), now)
            await wake(conn)
        await queries.advance(conn, CONSUMER, events[-1]["seq"])
    if created:
        log.debug("webhook deliveries created", extra={"count": created})
    return len(events)


async def fanout_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    """Batches while full ones come back; otherwise waits for the next publication."""
    async with notified(pool, EVENTS_CHANNEL) as (_listener, published):
        while not stop.is_set():
            published.clear()
            try:
                consumed = await fan_out(pool)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: wait, then try again
                log.exception("webhook fan-out failed")
                consumed = 0
            if consumed is not None and consumed >= BATCH_SIZE:
                continue
            delay = BUSY_SECONDS if consumed is None else POLL_SECONDS
            await wait_for_any(published, stop, seconds=delay)
            # Let a burst of publications gather: one transaction for several of them (the
            # dispatcher publishes every few milliseconds under load).
            await asyncio.sleep(COALESCE_SECONDS)
