"""This process's heartbeat: its row in process_heartbeats, refreshed every
OMNISTREAM_HEARTBEAT_SECONDS with the state of the worker loops it runs.

How a loop's state is known without touching the loops: every loop pauses between its
passes by waiting on the `stop` event it is given (directly, through kit/aio.wait_for_any or
asyncio.wait_for). run_loops gives each loop its own LoopStop, a view of the one stop event
that notes when the loop starts and ends a wait. So a loop is "waiting" (idle, caught up)
or "working" since a time; a loop that keeps up pauses often, and `lag_seconds` (how long
it has been working without a pause) grows when it falls behind or a pass is stuck.
A loop whose helper tasks wait on the same event (a campaign's status ticker) counts as
waiting while any of them waits: its figure is a lower bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from omnistream import __version__
from omnistream.db.pool import Pool
from omnistream.kit.aio import wait_for_any
from omnistream.system import queries

log = logging.getLogger(__name__)
Kind = Literal["api", "worker", "api+worker"]
PURGE_SECONDS = 3600.0  # how often a process deletes the rows of processes gone a day
BEAT_TIMEOUT_SECONDS = 10.0
WARN_SECONDS = 60.0  # a failing beat is logged at most this often


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class LoopState:
    """One worker loop as its beat reports it."""

    since: datetime = field(default_factory=_now)  # when the current state began
    waiting: int = 0  # waits in progress on the loop's stop event
    passes: int = 0  # pauses taken (a pass ended)
    crashes: int = 0
    last_pause_at: datetime | None = None
    last_crash_at: datetime | None = None

    def pause(self) -> None:
        self.waiting += 1
        if self.waiting == 1:
            self.since = self.last_pause_at = _now()
            self.passes += 1

    def resume(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.since = _now()

    def crashed(self) -> None:
        self.crashes += 1
        self.last_crash_at = _now()

    def report(self, now: datetime) -> dict[str, Any]:
        working = self.waiting == 0
        return {
            "state": "working" if working else "waiting",
            "since": self.since.isoformat(),
            "lag_seconds": round((now - self.since).total_seconds(), 3) if working else 0.0,
            "passes": self.passes,
            "crashes": self.crashes,
            "last_pause_at": self.last_pause_at.isoformat() if self.last_pause_at else None,
            "last_crash_at": self.last_crash_at.isoformat() if self.last_crash_at else None,
        }


class LoopStop(asyncio.Event):
    """The worker's stop event as one loop sees it: the same flag, and each wait on it is
    noted in the loop's state (a pause between passes)."""

    def __init__(self, stop: asyncio.Event, state: LoopState) -> None:
        super().__init__()
        self._stop, self.state = stop, state

    def is_set(self) -> bool:
        return self._stop.is_set()

    def set(self) -> None:
        self._stop.set()

    def clear(self) -> None:
        self._stop.clear()

    async def wait(self) -> Literal[True]:
        self.state.pause()
        try:
            return await self._stop.wait()
        finally:
            self.state.resume()


class Heartbeat:
    """This process's row: one upsert per beat, deleted when the process stops cleanly."""

    def __init__(self, pool: Pool, kind: Kind, beat_seconds: float) -> None:
        self.pool, self.kind, self.beat_seconds = pool, kind, beat_seconds
        self.id: UUID = uuid4()
        self.host, self.pid, self.version = socket.gethostname(), os.getpid(), __version__
        self.started_at = _now()
        self.loops: dict[str, LoopState] = {}
        self._ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def loop_stop(self, name: str, stop: asyncio.Event) -> LoopStop:
        """The stop event to give the loop `name` (its waits are reported)."""
        return LoopStop(stop, self.loops.setdefault(name, LoopState()))

    async def beat(self) -> None:
        now = _now()
        loops = {name: state.report(now) for name, state in sorted(self.loops.items())}
        async with self.pool.acquire() as conn:
            await queries.beat(
                conn,
                process_id=self.id,
                kind=self.kind,
                host=self.host,
                pid=self.pid,
                version=self.version,
                started_at=self.started_at,
                beat_seconds=self.beat_seconds,
                loops=loops,
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Beat until `stop`; a failed beat (the database away) is logged and retried at the
        next one: the process keeps working, and shows as gone meanwhile."""
        purged_at, warned_at = -PURGE_SECONDS, -WARN_SECONDS
        while not stop.is_set():
            try:
                await asyncio.wait_for(self.beat(), BEAT_TIMEOUT_SECONDS)
                if time.monotonic() - purged_at >= PURGE_SECONDS:
                    async with self.pool.acquire() as conn:
                        await queries.purge_gone(conn)
                    purged_at = time.monotonic()
            except Exception:  # a heartbeat must never take the process down
                if time.monotonic() - warned_at >= WARN_SECONDS:  # the database away: not 12/min
                    log.warning(
                        "heartbeat failed", exc_info=True, extra={"process_id": str(self.id)}
                    )
                    warned_at = time.monotonic()
            await wait_for_any(stop, seconds=self.beat_seconds)

    @classmethod
    def started(cls, pool: Pool, kind: Kind, beat_seconds: float) -> Heartbeat:
        """A heartbeat beating in a task of its own until `stop`."""
        heartbeat = cls(pool, kind, beat_seconds)
        heartbeat._task = asyncio.create_task(heartbeat.run(heartbeat._ended))
        return heartbeat

    async def stop(self) -> None:
        """Stop beating and remove the row."""
        self._ended.set()
        if self._task is not None:
            await self._task
        await self.end()

    async def end(self) -> None:
        """Remove the row (a clean stop: the process is not shown as gone)."""
        with contextlib.suppress(Exception):  # the process stops anyway; gone in 3 beats
            await asyncio.wait_for(self._forget(), BEAT_TIMEOUT_SECONDS)

    async def _forget(self) -> None:
        async with self.pool.acquire() as conn:
            await queries.forget(conn, self.id)


# The heartbeat of the process running the current worker loops (set by worker.run_loops;
# the loops' tasks copy this context): _guarded gives each loop its LoopStop through it.
CURRENT: ContextVar[Heartbeat | None] = ContextVar("omnistream_heartbeat", default=None)


def loop_stop(name: str, stop: asyncio.Event) -> asyncio.Event:
    """The stop event to give the loop `name`: reported by the current heartbeat, if any."""
    heartbeat = CURRENT.get()
    return heartbeat.loop_stop(name, stop) if heartbeat is not None else stop


def loop_crashed(name: str) -> None:
    """Count a crash of the loop `name` in the current heartbeat, if any."""
    heartbeat = CURRENT.get()
    if heartbeat is not None:
        heartbeat.loops.setdefault(name, LoopState()).crashed()
