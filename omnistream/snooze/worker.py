"""The snooze loop: opens the conversations whose snooze time has come, exactly once.

`wake_due` is one tick, ONE transaction: claim up to BATCH_SIZE due snoozes (FOR UPDATE SKIP
LOCKED, earliest first), open them and write their activity entries in one statement
(queries.wake_due), then their conversation.unsnoozed events and a snooze_ended
notification to each assignee. The claim and its outcome commit together: two workers
never wake one conversation twice, and a crash wakes it on the next tick instead.

Wake-ups: the loop sleeps until the earliest snooze time (on the database's clock), a NOTIFY
(a snooze with a time was set), or at most POLL_SECONDS (a listener that missed one).
"""

from __future__ import annotations

import asyncio
import logging

from omnistream.config import Settings
from omnistream.conversations.service import audience_of, payload
from omnistream.db.listen import notified
from omnistream.db.pool import Conn, Pool, transaction
from omnistream.events.outbox import emit_many
from omnistream.kit.aio import wait_for_any
from omnistream.snooze import queries
from omnistream.snooze.service import notify_assignees, woken_event

log = logging.getLogger(__name__)
BATCH_SIZE = 200
POLL_SECONDS = 5.0
BUSY_SECONDS = 0.05  # due rows exist but another worker holds them


async def wake_due(pool: Pool, limit: int = BATCH_SIZE) -> int:
    """One tick; how many conversations it woke (0: none was due, or others hold them)."""
    async with transaction(pool) as tx:
        rows = await queries.wake_due(tx.conn, limit)
        if not rows:
            return 0
        woken = [payload(r) for r in rows]
        await emit_many(
            tx.conn,
            [
                woken_event(after, "time", row["woke_from"], None, audience_of(row))
                for after, row in zip(woken, rows, strict=True)
            ],
        )
        await notify_assignees(tx.conn, woken, "time")
    return len(rows)


async def _next_delay(conn: Conn) -> float:
    until = await queries.seconds_to_next_due(conn)
    if until is None:
        return POLL_SECONDS
    if until > 0:
        return min(until + 0.002, POLL_SECONDS)  # a hair late: due by the claim's now()
    return BUSY_SECONDS


async def snooze_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    """Ticks while full batches come back; otherwise sleeps until the next wake time, a
    NOTIFY or POLL_SECONDS."""
    async with notified(pool, queries.WAKE_CHANNEL) as (listener, wake):
        while not stop.is_set():
            wake.clear()
            try:
                if await wake_due(pool) >= BATCH_SIZE:
                    continue
                delay = await _next_delay(listener)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: wait, then try again
                log.exception("snooze tick failed")
                delay = POLL_SECONDS
            await wait_for_any(wake, stop, seconds=delay)
