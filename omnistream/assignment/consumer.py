"""The assignment consumer: drains the waiting queues whenever an event may let someone be
assigned (engine.py does the assigning).

It reads the outbox by seq after its own position (event_consumers 'assignment'), like the
CSAT and SLA consumers, and in ONE transaction per turn: checks whether any event since
its position can change who gets what (queries.triggered: a conversation created, reopened,
unassigned, transferred or resolved, an agent coming online, a setting changed), drains the
queues if so, and moves the position past them. The position's row lock makes the workers
take turns: two never drain at once. With nothing switched on a turn is two index probes.

Besides the events, a drain runs every SWEEP_SECONDS: a conversation a request held locked
during a drain (skipped, not waited for) is picked up then, as is an agent whose capacity
was raised by other means (a deactivated colleague's conversations going back).
"""

from __future__ import annotations

import asyncio
import time

from omnistream.assignment import queries
from omnistream.assignment.engine import BATCH_SIZE, drain
from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.events.consumers import poll_batches
from omnistream.webhooks.delivery_queries import advance

POLL_SECONDS = 0.2  # how long a new conversation may wait before its assignment
SWEEP_SECONDS = 5.0


class Turns:
    """One worker's consumer: when it last drained (for the sweep)."""

    def __init__(self, pool: Pool, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self.pool = pool
        self.sweep_seconds = sweep_seconds
        self.last_drain = 0.0
        self.more = False  # the last drain stopped at its batch size: drain again at once

    async def run(self, limit: int = BATCH_SIZE) -> int | None:
        """One turn: how many were assigned (`limit`: more may be waiting at once); None
        when another worker holds the turn."""
        async with transaction(self.pool) as tx:
            conn = tx.conn
            position = await queries.lock_position(conn)
            if position is None:
                return None
            top = await queries.top_seq(conn)
            due = self.more or time.monotonic() - self.last_drain >= self.sweep_seconds
            if top > position and await queries.triggered(conn, position, top):
                due = True
            assigned = 0
            if due:
                self.last_drain = time.monotonic()
                done = await drain(conn, limit)
                self.more = done.more
                assigned = limit if done.more else done.assigned
            if top > position:
                await advance(conn, queries.CONSUMER, top)
        return assigned


async def consume(pool: Pool, limit: int = BATCH_SIZE) -> int | None:
    """One turn that always drains (tests, benches)."""
    return await Turns(pool, sweep_seconds=0).run(limit)


async def consumer_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    turns = Turns(pool)
    await poll_batches("assignment", turns.run, BATCH_SIZE, stop, POLL_SECONDS)
