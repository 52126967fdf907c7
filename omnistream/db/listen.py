"""LISTEN connections: one that stays up (reconnects after any loss and says when it is
live), and a pooled one that wakes a worker loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping

import asyncpg

from omnistream.db.pool import Conn, Pool

log = logging.getLogger(__name__)
Callback = Callable[[object, int, str, object], None]


async def listen_forever(
    dsn: str,
    channels: Mapping[str, Callback],
    *,
    listening: asyncio.Event,
    on_connect: Callable[[], None],
    on_lost: Callable[[], None] | None = None,
    name: str,
) -> None:
    """Runs until cancelled. `on_connect` runs once the channels are listened to (catch up on
    anything missed while down); `on_lost` after the connection drops."""
    while True:
        try:
            conn = await asyncpg.connect(dsn)
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, ev=lost: ev.set())
            for channel, callback in channels.items():
                await conn.add_listener(channel, callback)
            on_connect()
            listening.set()
            try:
                await lost.wait()
            finally:
                listening.clear()
                with contextlib.suppress(Exception):
                    await conn.close()
        except asyncio.CancelledError:
            raise
        except (OSError, asyncpg.PostgresError):
            log.warning("%s lost its listener connection; retrying", name, exc_info=True)
        if on_lost is not None:
            on_lost()
        await asyncio.sleep(1)


@contextlib.asynccontextmanager
async def notified(pool: Pool, *channels: str) -> AsyncIterator[tuple[Conn, asyncio.Event]]:
    """A pooled connection LISTENing on `channels` for the block, and the event a NOTIFY on
    any of them sets (a worker loop's wake-up; the loop clears it before each tick)."""
    wake = asyncio.Event()

    def on_notify(*_: object) -> None:
        wake.set()

    async with pool.acquire() as listener:
        for channel in channels:
            await listener.add_listener(channel, on_notify)
        try:
            yield listener, wake
        finally:
            with contextlib.suppress(Exception):  # the connection may be gone already
                for channel in channels:
                    await listener.remove_listener(channel, on_notify)
