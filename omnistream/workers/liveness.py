"""A worker process's identity, kept alive by PostgreSQL itself.

Each worker process connects once more (outside its pool) and takes a session-level
advisory lock under a random key of its own. Every leased claim it makes records that key
(`claimed_by`). PostgreSQL releases the lock the moment the connection ends: at once when
the process is killed (the kernel closes its socket), and within about 30 s when its host
vanishes (the TCP keepalive settings below make the server probe an idle connection).
A claim whose key holds no lock belongs to a dead worker and is taken over after a short
grace period (takeover.py) instead of waiting for its lease to run out.

The lock connection is pinged every PING_SECONDS. If it is lost (the database restarted, a
network cut) the worker's claims are no longer protected by a live lock, and may be taken
over while it still works on them; it takes a new key on a new connection, and logs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from contextvars import ContextVar

import asyncpg

from omnistream.db.pool import KEEPALIVE_SETTINGS
from omnistream.kit.aio import wait_for_any
from omnistream.workers import queries

log = logging.getLogger(__name__)
PING_SECONDS = 5.0
RECONNECT_SECONDS = 2.0


class WorkerIdentity:
    """The key this process's claims carry, while its advisory lock is held."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.key: int | None = None
        self._conn: asyncpg.Connection[asyncpg.Record] | None = None

    async def start(self) -> None:
        conn = await asyncpg.connect(
            self.dsn,
            server_settings={**KEEPALIVE_SETTINGS, "application_name": "omnistream worker lock"},
        )
        while True:
            key = secrets.randbelow(2**31 - 2) + 1
            if await queries.try_lock(conn, key):
                break  # another process holding the same random key: draw again
        self._conn, self.key = conn, key
        log.info("worker holds its liveness lock", extra={"worker_key": key})

    async def watch(self, stop: asyncio.Event) -> None:
        """Ping the lock's connection; take a new key on a new connection if it is lost."""
        while not stop.is_set():
            await wait_for_any(stop, seconds=PING_SECONDS)
            if stop.is_set():
                return
            try:
                assert self._conn is not None
                await asyncio.wait_for(queries.ping(self._conn), PING_SECONDS)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                lost, self.key = self.key, None
                log.error(
                    "worker lost its liveness lock: its claims in flight may be taken over",
                    extra={"worker_key": lost},
                )
                await self._close()
                await self._reconnect(stop)

    async def _reconnect(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.start()
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await wait_for_any(stop, seconds=RECONNECT_SECONDS)

    async def stop(self) -> None:
        if self._conn is not None and self.key is not None:
            # Closing the connection releases it anyway.
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await queries.unlock(self._conn, self.key)
        self.key = None
        await self._close()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()


# The identity of the worker running the current loops (set by worker.run_loops); None in a
# process that runs no worker, or in tests that call a loop's tick directly: claims then
# carry no key and are recovered by their lease alone.
CURRENT: ContextVar[WorkerIdentity | None] = ContextVar("omnistream_worker", default=None)


def current_key() -> int | None:
    identity = CURRENT.get()
    return identity.key if identity is not None else None


def log_claim(logger: logging.Logger, what: str, count: int) -> None:
    """A claim of leased work, with the claiming worker's key (DEBUG: one line per tick)."""
    if count:
        logger.debug("claimed %s", what, extra={"count": count, "worker_key": current_key()})
