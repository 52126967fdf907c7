"""The live connections of one API process, as the presence tick sees them.

Each authenticated WebSocket gets a presence_connections row (and brings its agent back to
their choice); a heartbeat refreshes the rows of the sockets still open every quarter of
OMNISTREAM_PRESENCE_OFFLINE_SECONDS, and a closing socket stamps its row once more. The
worker's tick (presence/worker.py) takes offline the agents none of whose rows moved for
the whole delay, so nothing here has to run for an agent to go offline: a process killed
with SIGKILL just stops refreshing its rows.

The heartbeat also heals what a race or a long database outage may leave: a row deleted as
stale is written again, and an agent of an open socket found offline against their choice is
brought back (the tick may take an agent offline just as a socket of theirs opens).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from uuid import UUID, uuid4

from omnistream.db.pool import Pool, transaction
from omnistream.presence import queries, service

log = logging.getLogger(__name__)


def heartbeat_seconds(offline_seconds: float) -> float:
    """Often enough that an open socket's row is never near the offline delay."""
    return min(30.0, max(0.1, offline_seconds / 4))


class PresenceTracker:
    def __init__(self, pool: Pool, offline_seconds: float) -> None:
        self._pool = pool
        self.interval = heartbeat_seconds(offline_seconds)
        self.process = f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
        self._open: dict[UUID, UUID] = {}  # connection id -> agent id
        self._task: asyncio.Task[None] | None = None

    @property
    def connections(self) -> int:
        return len(self._open)

    async def connect(self, agent_id: UUID) -> UUID:
        """A socket of `agent_id` is live here: its connection id (for `disconnect`)."""
        async with transaction(self._pool) as tx:
            connection_id = await service.connected(tx, agent_id, self.process)
        self._open[connection_id] = agent_id
        return connection_id

    async def disconnect(self, connection_id: UUID) -> None:
        if self._open.pop(connection_id, None) is None:
            return
        try:
            async with self._pool.acquire() as conn:
                await queries.disconnect(conn, connection_id)
        except Exception:  # the row then ages out like a killed process's
            log.warning("could not record a closed live connection", exc_info=True)

    async def beat(self) -> None:
        """Refresh this process's open rows; bring back agents stranded offline."""
        if not self._open:
            return
        rows = list(self._open.items())
        async with transaction(self._pool) as tx:
            await queries.heartbeat(tx.conn, rows, self.process)
            for agent_id in await queries.stranded(tx.conn, sorted(set(self._open.values()))):
                await service.back_to_choice(tx, agent_id)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for connection_id in list(self._open):  # sockets the shutdown did not close yet
            await self.disconnect(connection_id)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("presence heartbeat failed; retrying", exc_info=True)
