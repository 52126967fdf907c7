"""The signed-in agent, cached per session and dropped the moment its agent changes.

Every authenticated request needs to know that the agent is still active and the session
not revoked. A database round trip per request would halve throughput, so principals are
cached in process; changes NOTIFY every API process (auth_changed), which evicts at once.
A short TTL bounds staleness should the listener connection ever drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.auth import queries
from omnistream.db.listen import listen_forever
from omnistream.db.pool import Pool
from omnistream.kit.enums import Role

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    agent_id: UUID
    session_id: UUID
    role: Role
    name: str
    email: str
    division_ids: frozenset[UUID] = field(default_factory=frozenset)
    # The agent's profile as GET /auth/me returns it; kept fresh by the same notifications.
    profile: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def actor(self) -> dict[str, str]:
        return {"type": "agent", "id": str(self.agent_id), "name": self.name}


class PrincipalCache:
    def __init__(self, pool: Pool, dsn: str, ttl_seconds: float = 30.0) -> None:
        self._pool = pool
        self._dsn = dsn
        self._ttl = ttl_seconds
        self._entries: dict[UUID, tuple[Principal, float]] = {}
        self._touched: dict[UUID, float] = {}
        self._listener: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.listening = asyncio.Event()

    async def get(self, session_id: UUID, agent_id: UUID) -> Principal | None:
        hit = self._entries.get(session_id)
        now = time.monotonic()
        if hit is not None and now - hit[1] < self._ttl and hit[0].agent_id == agent_id:
            self._touch(agent_id, now)
            return hit[0]
        async with self._pool.acquire() as conn:
            row = await queries.principal_row(conn, session_id, agent_id)
        if row is None:
            self._entries.pop(session_id, None)
            return None
        principal = Principal(
            agent_id=row["id"],
            session_id=session_id,
            role=Role(row["role"]),
            name=row["name"],
            email=row["email"],
            division_ids=frozenset(UUID(d["id"]) for d in row["divisions"]),
            profile=MappingProxyType(dict(row)),
        )
        if len(self._entries) > 50_000:
            self._entries.clear()
        self._entries[session_id] = (principal, now)
        self._touch(agent_id, now)
        return principal

    def evict_agent(self, agent_id: UUID) -> None:
        for sid in [s for s, (p, _) in self._entries.items() if p.agent_id == agent_id]:
            self._entries.pop(sid, None)

    def clear(self) -> None:
        self._entries.clear()

    def _touch(self, agent_id: UUID, now: float) -> None:
        # last_seen_at: at most one write a minute per agent and process (the SQL guards
        # across processes), off the request path.
        if now - self._touched.get(agent_id, -1e9) < 60:
            return
        self._touched[agent_id] = now
        task = asyncio.get_running_loop().create_task(self._write_last_seen(agent_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _write_last_seen(self, agent_id: UUID) -> None:
        try:
            async with self._pool.acquire() as conn:
                await queries.touch_last_seen(conn, agent_id)
        except (asyncpg.PostgresError, OSError):
            log.warning("could not update last_seen_at", exc_info=True)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            self.evict_agent(UUID(str(payload)))
        except ValueError:
            self.clear()

    async def start(self) -> None:
        self._listener = asyncio.get_running_loop().create_task(self._listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), 10)

    async def _listen(self) -> None:
        # Anything missed while not listening is dropped from the cache.
        await listen_forever(
            self._dsn,
            {queries.AUTH_CHANNEL: self._on_notify},
            listening=self.listening,
            on_connect=self.clear,
            on_lost=self.clear,
            name="auth cache",
        )

    async def stop(self) -> None:
        if self._listener:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for task in list(self._background):
            task.cancel()
