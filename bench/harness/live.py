"""A live-events client that survives its server: it connects to /api/v1/ws (through a load
balancer, typically), and whenever the connection ends (a killed API process, a restart's
"going away", "too slow") it reconnects and resumes after the last seq it received, as the
web app does (docs/events.md). It keeps every event's seq, so a test can compare what it got
with the outbox (`missing`): the chaos and fail-over tests of issue 18."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

# The outbox's events an admin's socket receives: all but those addressed to other agents
# (mentions, notifications: an audience of recipients) (events/queries.py _VISIBLE_AUDIENCE).
ADMIN_SEES = """
SELECT seq FROM event_outbox
 WHERE seq > $1 AND seq <= $2
   AND (NOT audience -> 0 ? 'recipient'
        OR EXISTS (SELECT 1 FROM jsonb_array_elements(audience) r
                    WHERE (r ->> 'recipient')::uuid = $3::uuid))
 ORDER BY seq
"""


@dataclass
class LiveClient:
    """One admin's socket at `ws_url`, resuming after `after_seq` from its first connection."""

    ws_url: str
    token: str
    after_seq: int
    name: str = "live"
    seqs: list[int] = field(default_factory=list)  # every event received, in order
    types: dict[int, str] = field(default_factory=dict)
    connections: int = 0
    closes: list[str] = field(default_factory=list)  # why each connection ended
    gaps: list[dict[str, Any]] = field(default_factory=list)  # resume_gap frames
    servers: list[str] = field(default_factory=list)  # HAProxy's X-Topology-Server, per connection
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _got: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last_seq(self) -> int:
        return self.seqs[-1] if self.seqs else self.after_seq

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"live client {self.name}")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._session()
            except (
                ConnectionClosed,
                OSError,
                InvalidHandshake,
                InvalidStatus,
                TimeoutError,
            ) as exc:
                self.closes.append(_reason(exc))
            await asyncio.sleep(0.1)

    async def _session(self) -> None:
        async with websockets.connect(self.ws_url, open_timeout=5, close_timeout=1) as ws:
            self.connections += 1
            response = ws.response
            self.servers.append(response.headers.get("x-topology-server", "") if response else "")
            await ws.send(json.dumps({"type": "auth", "access_token": self.token}))
            await ws.send(json.dumps({"type": "resume", "after_seq": self.last_seq}))
            async for raw in ws:
                self._frame(json.loads(raw))
        self.closes.append("closed by the server")

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "event":
            event = frame["event"]
            seq = int(event["seq"])
            if seq > self.last_seq:  # a resume that overlaps live delivery: keep one
                self.seqs.append(seq)
                self.types[seq] = str(event["type"])
                self._got.set()
            else:
                self.closes.append(f"duplicate or out of order seq {seq} after {self.last_seq}")
        elif kind == "resume_gap":
            self.gaps.append(frame)

    async def reached(self, seq: int, within: float) -> bool:
        """Until it has received an event at or past `seq` (False after `within` s)."""
        deadline = time.monotonic() + within
        while self.last_seq < seq:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._got.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._got.wait(), min(left, 0.5))
        return True

    def report(self) -> dict[str, Any]:
        return {
            "events": len(self.seqs),
            "connections": self.connections,
            "servers": self.servers,
            "resume_gaps": len(self.gaps),
            "closes": self.closes[-10:],
            "out_of_order": sum("out of order" in c for c in self.closes),
        }


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd
        return f"closed {frame.code} {frame.reason}" if frame else "connection lost"
    return f"{type(exc).__name__}: {exc}"


async def top_seq(dsn: str) -> int:
    """The outbox's highest published seq now."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM event_outbox"))
    finally:
        await conn.close()


async def missing(dsn: str, client: LiveClient, admin_id: str, upto: int) -> list[int]:
    """Seqs an admin may see in (client.after_seq, upto] that the client never received."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(ADMIN_SEES, client.after_seq, upto, admin_id)
    finally:
        await conn.close()
    got = set(client.seqs)
    return [r["seq"] for r in rows if r["seq"] not in got]
