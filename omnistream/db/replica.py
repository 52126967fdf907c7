"""Lag-tolerant reads on a streaming replica (OMNISTREAM_READ_DATABASE_URL), falling back to
the primary when the replica is down, lags more than the bound, or has not yet replayed the
caller's own last write (docs/read-replica.md).

The replica's state is probed by a background task about once a second, never per request:
a request only compares two cached numbers. The lag is the age of the last replayed commit
(`pg_last_xact_replay_timestamp()`), except that a replica that has replayed everything it
received is caught up (lag 0) however old that commit is: an idle primary writes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import asyncpg

from omnistream.db.pool import KEEPALIVE_SETTINGS, Conn, Pool, create_pool

log = logging.getLogger(__name__)
T = TypeVar("T")

PROBE_SECONDS = 1.0  # how often the replica's lag is read
PROBE_TIMEOUT = 3.0  # a probe (connect + query) slower than this counts as down
WARN_EVERY = 60.0  # the "reads go to the primary" warning, at most this often
# A caught-up replica has replayed what it had received; a commit can still be on its way
# (streaming takes milliseconds). It is taken as replayed through this long before the probe.
IN_FLIGHT = timedelta(seconds=1)
# What a lost or refused replica connection raises (the request then reads the primary).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)
PROBE_ERRORS: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    asyncpg.PostgresError,
    asyncpg.InternalClientError,
)

PROBE = """
SELECT pg_is_in_recovery() AS standby,
       pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() AS caught_up,
       pg_last_xact_replay_timestamp() AS replayed,
       clock_timestamp() AS now
"""


@dataclass(frozen=True)
class ReplicaState:
    """What the last probe saw. `through`: every commit made on the primary before it has
    been replayed (None: the replica is not usable); `reason`: why not, for the log."""

    through: datetime | None
    lag: float | None
    reason: str


DOWN = ReplicaState(None, None, "not probed yet")


def state_of(row: asyncpg.Record, max_lag: float) -> ReplicaState:
    """The replica's usability from one probe row (PROBE)."""
    if not row["standby"]:
        return ReplicaState(None, None, "the read database is not a standby (a promoted replica?)")
    now: datetime = row["now"]
    if row["caught_up"]:
        return ReplicaState(now - IN_FLIGHT, 0.0, "caught up")
    replayed: datetime | None = row["replayed"]
    if replayed is None:
        return ReplicaState(None, None, "the replica has replayed no transaction yet")
    lag = max(0.0, (now - replayed).total_seconds())
    if lag > max_lag:
        return ReplicaState(None, lag, f"replica lag {lag:.1f} s exceeds {max_lag:g} s")
    return ReplicaState(replayed, lag, f"replica lag {lag:.1f} s")


class ReadRouter:
    """Hands out a connection for a lag-tolerant read: the replica's when it is usable for
    this caller, else the primary's."""

    def __init__(
        self,
        primary: Pool,
        replica_dsn: str | None,
        max_lag: float,
        pool_max: int = 4,
        probe_seconds: float = PROBE_SECONDS,
    ) -> None:
        self.primary = primary
        self.replica_dsn = replica_dsn
        self.max_lag = max_lag
        self.pool_max = pool_max
        self.probe_seconds = probe_seconds
        self.replica: Pool | None = None
        self.state = DOWN
        self._warned_at = -WARN_EVERY
        self._task: asyncio.Task[None] | None = None
        # The probe's own connection, outside the pool: a probe cut by its timeout closes it
        # rather than handing a connection with a half-done query back to the pool.
        self._probe: asyncpg.Connection[asyncpg.Record] | None = None
        self._probing = asyncio.Lock()

    async def start(self) -> None:
        if self.replica_dsn is None:
            return
        # min_size 0: a replica that is down at start-up does not stop the process. A new
        # connection gives up after PROBE_TIMEOUT (the replica counts as down); waiting for a
        # busy pool's connection has no limit (a busy replica is not a down one).
        self.replica = await create_pool(self.replica_dsn, 0, self.pool_max, PROBE_TIMEOUT)
        await self.refresh()
        self._task = asyncio.create_task(self._probe_loop(), name="replica-probe")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._probe is not None:
            self._probe.terminate()
        if self.replica is not None:
            try:
                await asyncio.wait_for(self.replica.close(), 5)
            except TimeoutError:
                self.replica.terminate()

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self.probe_seconds)
            try:
                await self.refresh()
            except Exception:  # never end the loop: the replica would stay as last seen
                log.exception("the replica probe failed")

    async def refresh(self) -> ReplicaState:
        """Probe the replica now and remember what it said."""
        assert self.replica_dsn is not None
        async with self._probing:
            try:
                async with asyncio.timeout(PROBE_TIMEOUT):
                    if self._probe is None or self._probe.is_closed():
                        self._probe = await asyncpg.connect(
                            self.replica_dsn, server_settings=KEEPALIVE_SETTINGS
                        )
                    row = await self._probe.fetchrow(PROBE)
                assert row is not None
                state = state_of(row, self.max_lag)
            except PROBE_ERRORS as exc:
                if self._probe is not None:
                    self._probe.terminate()
                    self._probe = None
                reason = f"replica unreachable ({type(exc).__name__}: {exc})"
                state = ReplicaState(None, None, reason)
        self._set(state)
        return state

    def _set(self, state: ReplicaState) -> None:
        was_usable = self.state.through is not None
        self.state = state
        if state.through is None:
            self._warn(state.reason)
        elif not was_usable:
            log.info("lag-tolerant reads go to the replica again (%s)", state.reason)

    def _warn(self, reason: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning("lag-tolerant reads go to the primary: %s", reason)

    def usable_for(self, wrote_at: datetime | None) -> bool:
        """Whether the replica may serve a caller whose last write was at `wrote_at`."""
        through = self.state.through
        if self.replica is None or through is None:
            return False
        return wrote_at is None or through >= wrote_at

    def _lost(self, exc: BaseException) -> None:
        self._set(ReplicaState(None, None, f"replica connection failed ({type(exc).__name__})"))

    @asynccontextmanager
    async def connection(self, wrote_at: datetime | None = None) -> AsyncIterator[Conn]:
        """A connection for a lag-tolerant read. A replica that cannot give one (down since
        the last probe) is marked down and the primary's is given instead; a failure once
        the connection is in use is the caller's (see `run` to retry on the primary)."""
        if self.replica is not None and self.usable_for(wrote_at):
            try:
                held = await self.replica.acquire()
            except CONNECTION_ERRORS as exc:
                self._lost(exc)
            else:
                try:
                    yield held
                finally:
                    await self.replica.release(held)
                return
        async with self.primary.acquire() as conn:
            yield conn

    async def run(self, read: Callable[[Conn], Awaitable[T]], wrote_at: datetime | None) -> T:
        """`read` on a lag-tolerant connection; run again on the primary if the replica's
        connection is lost midway (a read has no side effects to repeat)."""
        if self.replica is not None and self.usable_for(wrote_at):
            try:
                async with self.replica.acquire() as conn:
                    return await read(conn)
            except CONNECTION_ERRORS as exc:
                self._lost(exc)
            except asyncpg.SerializationError:
                # A long read cancelled by a conflict with the replica's replay (a vacuum's
                # cleanup replayed under it, max_standby_streaming_delay): the primary has none.
                log.info("a read on the replica conflicted with its replay; read on the primary")
        async with self.primary.acquire() as conn:
            return await read(conn)
