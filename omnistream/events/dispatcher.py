"""The dispatcher: gives committed outbox rows their publication seq and wakes the hubs.

`pos` is insert order, but a transaction that inserted early may commit late. Clients
resume "after seq N", so seq must only ever be handed out in the order rows become
visible: one publisher at a time (an advisory lock), each tick numbering what has
committed so far in one statement, then NOTIFY 'omnistream_events' with the highest seq.
A rolled-back transaction leaves no row, so nothing is published for it.

Any number of workers may run the loop: the one holding the session lock publishes, the
others stand by and take over within about a second when it goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from omnistream.config import Settings
from omnistream.db.pool import Conn, Pool
from omnistream.events import queries
from omnistream.kit.aio import wait_for_any
from omnistream.metrics.registry import DISPATCH_LAG, loop_batch

log = logging.getLogger(__name__)
BATCH_SIZE = 1000
POLL_SECONDS = 1.0  # fallback when a NOTIFY is missed
STANDBY_SECONDS = 1.0  # how often a standby dispatcher tries to take over


async def publish_pending(conn: Conn, batch_size: int = BATCH_SIZE) -> int:
    """One tick: publish every committed, unpublished event in pos order; how many.

    Safe to call from anywhere, concurrently: each batch takes the publisher lock for its
    transaction, so ticks serialise and a row is numbered exactly once.
    """
    total = 0
    while True:
        # Its own connection's transaction, so timed here (db/pool.transaction times the rest).
        with loop_batch():
            async with conn.transaction():
                await queries.lock_publisher(conn)
                count, top, lags = await queries.publish_batch(conn, batch_size)
                if top is not None:
                    await queries.notify_published(conn, top)
        for lag in lags:  # after the commit: what is observed was published
            DISPATCH_LAG.observe(max(0.0, lag))
        total += count
        if count < batch_size:
            return total


COALESCE_SECONDS = 0.008


async def dispatcher_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    """Stand by until this process holds the publisher lock, then publish on every wake."""
    async with pool.acquire() as conn:
        wake = asyncio.Event()

        def on_outbox(*_: Any) -> None:
            wake.set()

        leading = listening = False
        try:
            while not await queries.try_lead(conn):
                if await _stopped(stop, STANDBY_SECONDS):
                    return
            leading = True
            log.info("dispatcher publishing (holds the publisher lock)")
            await conn.add_listener(queries.OUTBOX_WAKE_CHANNEL, on_outbox)
            listening = True
            while not stop.is_set():
                wake.clear()
                await publish_pending(conn)
                await wait_for_any(stop, wake, seconds=POLL_SECONDS)
                # Let a burst gather: one numbering transaction and one NOTIFY (so one read
                # per API process) for several events, at the cost of a few milliseconds.
                await asyncio.sleep(COALESCE_SECONDS)
        finally:
            if leading:
                await _release(conn, on_outbox if listening else None)


async def _release(conn: Conn, listener: Any) -> None:
    """The connection goes back to the pool (which does no reset): leave it clean, or close
    it so a pooled connection can never keep the publisher lock."""
    try:
        async with asyncio.timeout(5):
            if listener is not None:
                await conn.remove_listener(queries.OUTBOX_WAKE_CHANNEL, listener)
            await queries.resign(conn)
    except Exception:
        log.warning("dispatcher connection not released cleanly; closing it", exc_info=True)
        conn.terminate()


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
