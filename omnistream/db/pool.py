"""asyncpg pool and the one-transaction-per-request helper."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg
import orjson

from omnistream.metrics.registry import loop_batch

Conn: TypeAlias = (
    "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
)
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
# Gives a connection for one use (pool.acquire, or a lag-tolerant read: db/replica.py).
Connect: TypeAlias = Callable[[], AbstractAsyncContextManager[Conn]]


def _default(value: Any) -> Any:
    # asyncpg returns its own UUID subclass, which orjson does not recognise.
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=_default).decode()


async def init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    await conn.set_type_codec("jsonb", encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def _no_reset(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    # The code never leaves session state behind (no SET, LISTEN or open cursors on pooled
    # connections), so asyncpg's default reset round trip is pure overhead (~30% on short tx).
    return None


# PostgreSQL notices a vanished client host after idle + interval x count = 25 s and ends
# its sessions, releasing their locks (a dead worker's liveness lock: workers/liveness.py).
# TCP only; over a Unix socket the kernel tells the server at once.
KEEPALIVE_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}
# No JIT: the planner's estimates on tables never analysed (autovacuum off, or a fresh
# burst) push short batch statements over jit_above_cost, and compiling them took 20-40 ms
# of a 5 ms lookup (the inbound batch's conversation lookup, docs/performance.md).
POOL_SETTINGS = {**KEEPALIVE_SETTINGS, "jit": "off"}


async def create_pool(dsn: str, min_size: int, max_size: int, connect_timeout: float = 60) -> Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min(min_size, max_size),
        max_size=max_size,
        init=init_connection,
        reset=_no_reset,
        command_timeout=60,
        server_settings=POOL_SETTINGS,
        timeout=connect_timeout,
    )
    assert pool is not None
    return pool


class Tx:
    """An open transaction plus callbacks to run once it has committed."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._after_commit: list[Callable[[], Awaitable[None] | None]] = []

    def after_commit(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        self._after_commit.append(callback)

    async def _run_after_commit(self) -> None:
        for callback in self._after_commit:
            result = callback()
            if result is not None:
                await result


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Tx]:
    # In a worker loop, each transaction is one batch: timed, and counted when it fails.
    with loop_batch():
        async with pool.acquire() as conn, conn.transaction():
            tx = Tx(conn)
            yield tx
    await tx._run_after_commit()
