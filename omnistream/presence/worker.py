"""The presence tick: agents without a live connection for the offline delay go offline.

Any number of workers may run it: each pass locks the agents it takes offline with SKIP
LOCKED (a socket opening locks its agent's row too, so a pass never overrides a reconnect
it cannot see; the API's heartbeat brings back one it raced with). A pass with nothing to do
is one index probe over the agents shown online or away.
"""

from __future__ import annotations

import asyncio
import logging

from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.kit.aio import wait_for_any
from omnistream.presence import queries, service

log = logging.getLogger(__name__)
BATCH_SIZE = 500
# Rows older than this many offline delays are kept no longer (none can matter by then).
FORGET_AFTER_DELAYS = 2


def tick_seconds(offline_seconds: float) -> float:
    """An agent goes offline at most a quarter of the delay late (and within 15 s)."""
    return min(15.0, max(0.1, offline_seconds / 4))


async def take_offline(pool: Pool, offline_seconds: float, limit: int = BATCH_SIZE) -> int:
    """One pass: how many agents went offline."""
    async with transaction(pool) as tx:
        changes = await service.take_offline_gone(tx, offline_seconds, limit)
        await queries.forget_old(tx.conn, offline_seconds * FORGET_AFTER_DELAYS)
    return len(changes)


async def presence_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    offline_seconds = settings.presence_offline_seconds
    while not stop.is_set():
        taken = await take_offline(pool, offline_seconds)
        if taken:
            log.info("agents offline (no live connection)", extra={"count": taken})
        if taken < BATCH_SIZE:
            await wait_for_any(stop, seconds=tick_seconds(offline_seconds))
