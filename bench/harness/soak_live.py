"""The soak's WebSocket clients (bench/soak.py), in a process of their own so that parsing
every event on every socket does not slow the load generator's event loop down.

Each client is an admin's socket through the front: it authenticates, resumes after the
last seq it received (also after a reconnect, as the web app does, docs/events.md) and, for
every event, records the delivery latency (arrival - the event's occurred_at) in a
per-minute histogram (harness/soak_stats.py) instead of keeping the events: a 30-minute soak
delivers hundreds of millions of frames. A connection that ends, a frame out of order and a
resume gap are errors of the minute they happen in.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections import Counter
from datetime import datetime
from multiprocessing.synchronize import Event
from typing import Any

import orjson
import uvloop
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from harness.soak_stats import Minutes


class Client:
    """One socket; latencies and errors go to the process's shared Minutes."""

    def __init__(self, url: str, token: str, after_seq: int, minutes: Minutes) -> None:
        self.url, self.token, self.last_seq, self.minutes = url, token, after_seq, minutes
        self.connected = asyncio.Event()
        self.server = ""
        self.stopping = False

    async def run(self) -> None:
        while not self.stopping:
            try:
                await self._session()
                if not self.stopping:
                    self.minutes.error("ws", "closed by the server")
            except (ConnectionClosed, OSError, InvalidHandshake, TimeoutError) as exc:
                if not self.stopping:
                    self.minutes.error("ws", f"{type(exc).__name__}: {exc}"[:200])
            await asyncio.sleep(0.2)

    async def _session(self) -> None:
        async with websockets.connect(
            self.url, open_timeout=10, close_timeout=1, max_size=None
        ) as ws:
            response = ws.response
            self.server = response.headers.get("x-topology-server", "") if response else ""
            await ws.send(orjson.dumps({"type": "auth", "access_token": self.token}).decode())
            await ws.send(orjson.dumps({"type": "resume", "after_seq": self.last_seq}).decode())
            self.connected.set()
            async for raw in ws:
                self._frame(orjson.loads(raw))

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "event":
            event = frame["event"]
            seq = int(event["seq"])
            if seq <= self.last_seq:
                self.minutes.error("ws", f"duplicate or out of order seq {seq}")
                return
            self.last_seq = seq
            occurred = datetime.fromisoformat(event["occurred_at"]).timestamp()
            self.minutes.add("ws_delivery", occurred, time.time() - occurred)
        elif kind == "resume_gap":
            self.minutes.error("ws", "resume gap")


async def _clients(
    url: str, token: str, count: int, after_seq: int, t0: Any, stop: Event, ready: Any
) -> dict[str, Any]:
    # The load's start is known once every client connected: until then, no latency
    # counts and an error is one of the run (a minute far before it).
    minutes = Minutes(time.time() + 1e9)
    clients = [Client(url, token, after_seq, minutes) for _ in range(count)]
    tasks = []
    for client in clients:  # one at a time: HAProxy's round robin spreads them
        tasks.append(asyncio.create_task(client.run()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.connected.wait(), 15)
    ready.value = sum(c.connected.is_set() for c in clients)
    t0_value, begun = t0
    await asyncio.to_thread(begun.wait)
    minutes.t0 = t0_value.value or minutes.t0
    await asyncio.to_thread(stop.wait)
    for client in clients:
        client.stopping = True
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"minutes": minutes.dump(), "servers": dict(Counter(c.server for c in clients))}


def _main(
    url: str,
    token: str,
    count: int,
    after_seq: int,
    t0: Any,
    stop: Event,
    ready: Any,
    out: Any,
) -> None:
    out.put(uvloop.run(_clients(url, token, count, after_seq, t0, stop, ready)))


class ClientProcess:
    """`count` clients in a child process: start(), wait_connected(), begin(t0) (the load's
    start, wall clock: latencies count from then on), stop() -> results."""

    def __init__(self, url: str, token: str, count: int, after_seq: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.stop_event = ctx.Event()
        self.ready = ctx.Value("i", -1)
        self.t0 = ctx.Value("d", 0.0)
        self.begun = ctx.Event()
        self.out: Any = ctx.Queue()
        self.process = ctx.Process(
            target=_main,
            args=(
                url,
                token,
                count,
                after_seq,
                (self.t0, self.begun),
                self.stop_event,
                self.ready,
                self.out,
            ),
            name="soak websocket clients",
            daemon=True,
        )

    def start(self) -> None:
        self.process.start()

    def begin(self, t0: float) -> None:
        self.t0.value = t0
        self.begun.set()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    async def wait_connected(self, within: float) -> int:
        """How many clients connected (once every one tried, or -1 past `within` s)."""
        deadline = time.monotonic() + within
        while self.ready.value < 0 and time.monotonic() < deadline:
            if not self.process.is_alive():
                break
            await asyncio.sleep(0.2)
        return int(self.ready.value)

    async def stop(self, within: float = 60) -> dict[str, Any]:
        self.begun.set()
        self.stop_event.set()
        result: dict[str, Any] = {"minutes": {}, "servers": {}}
        with contextlib.suppress(Exception):
            result = await asyncio.to_thread(self.out.get, True, within)
        await asyncio.to_thread(self.process.join, 5)
        if self.process.is_alive():
            self.process.kill()
        return result
