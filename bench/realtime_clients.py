"""bench/realtime.py's WebSocket clients: sockets that record (event number, seq, arrival
time) of every frame, run in the bench's event loop or in client processes of their own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from array import array
from typing import Any

import harness
import orjson
import uvloop
import websockets
from websockets.exceptions import ConnectionClosed

BenchError = harness.BenchError
console = harness.console


class ClientSet:
    """Some of the WebSockets; each records (k, seq, receive time) of every bench event."""

    def __init__(
        self,
        url: str,
        sockets: list[tuple[int, str]],
        counts: Any,
        compression: str | None,
    ) -> None:
        self.url = url
        self.tokens = dict(sockets)
        self.counts = counts  # shared: frames received per socket index
        self.compression = compression
        self.ws: dict[int, Any] = {}
        self.ks: dict[int, array[int]] = {i: array("q") for i in self.tokens}
        self.seqs: dict[int, array[int]] = {i: array("q") for i in self.tokens}
        self.times: dict[int, array[int]] = {i: array("q") for i in self.tokens}
        self.closed: dict[int, str] = {}
        self.foreign = 0  # events not written by the generator (the probe)
        self.other_frames = 0
        self.stopping = False
        self.loop_lag_ms: array[float] = array("d")  # how late a 5 ms timer fires
        self._tasks: list[asyncio.Task[None]] = []

    async def connect_all(self, parallel: int = 16) -> list[str]:
        gate = asyncio.Semaphore(parallel)
        errors: list[str] = []

        async def one(index: int, token: str) -> None:
            async with gate:
                try:
                    self.ws[index] = await self._open(token)
                except Exception as exc:
                    errors.append(f"socket {index}: {type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(i, t) for i, t in self.tokens.items()))
        return errors

    async def _open(self, token: str) -> Any:
        ws = await websockets.connect(
            self.url,
            compression=self.compression,
            ping_interval=None,
            open_timeout=20,
            max_size=2**22,
        )
        await ws.send(orjson.dumps({"type": "auth", "access_token": token}).decode())
        await ws.send('{"type":"ping"}')  # live delivery starts at once (docs/events.md)
        ready = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
        if ready.get("type") != "ready":
            raise BenchError(f"expected a ready frame, got {ready}")
        while True:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
            if frame.get("type") == "pong":
                return ws
            self.foreign += 1

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._receive(i, ws)) for i, ws in self.ws.items()]
        self._tasks.append(loop.create_task(self._watch_loop()))

    async def _watch_loop(self) -> None:
        """Scheduling delay of this event loop: when it grows, the clients add latency."""
        clock = time.perf_counter  # uvloop's loop.time() has a 1 ms resolution
        while True:
            due = clock() + 0.005
            await asyncio.sleep(0.005)
            self.loop_lag_ms.append((clock() - due) * 1000)

    async def _receive(self, index: int, ws: Any) -> None:
        ks, seqs, times, counts = self.ks[index], self.seqs[index], self.times[index], self.counts
        loads, now = orjson.loads, time.time_ns
        try:
            async for raw in ws:
                t = now()
                frame = loads(raw)
                if frame.get("type") != "event":
                    self.other_frames += 1
                    continue
                event = frame["event"]
                mark = event["data"].get("bench")
                if mark is None:
                    self.foreign += 1
                    continue
                ks.append(mark["k"])
                seqs.append(event["seq"])
                times.append(t)
                counts[index] += 1
        except ConnectionClosed:
            pass
        if not self.stopping:
            self.closed[index] = f"{ws.close_code} {ws.close_reason or ''}".strip()

    async def stop(self) -> None:
        self.stopping = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await asyncio.gather(*(ws.close() for ws in self.ws.values()))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def results(self) -> dict[str, Any]:
        return {
            "sockets": {
                i: (self.ks[i].tobytes(), self.seqs[i].tobytes(), self.times[i].tobytes())
                for i in self.tokens
            },
            "closed": self.closed,
            "connected": sorted(self.ws),
            "foreign": self.foreign,
            "other_frames": self.other_frames,
            "loop_lag_ms": self.loop_lag_ms.tobytes(),
        }


def _run(coro: Any) -> Any:
    return uvloop.run(coro)


async def _interruptible(coro: Any) -> Any:
    """SIGINT / SIGTERM cancel the run (its finally blocks stop the clients), then surface as
    KeyboardInterrupt; a Python-level handler alone is not reliably called under uvloop."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await coro
    except asyncio.CancelledError:
        raise KeyboardInterrupt("interrupted") from None
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
            signal.signal(sig, harness.raise_interrupt)


def client_process(
    url: str,
    sockets: list[tuple[int, str]],
    counts: Any,
    compression: str | None,
    stop: Any,
    out: Any,
) -> None:
    """Entry point of a client process (spawned): connect, report, receive until `stop`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench process decides when to stop

    async def main() -> None:
        clients = ClientSet(url, sockets, counts, compression)
        errors = await clients.connect_all()
        out.put(("connected", os.getpid(), errors))
        clients.start()
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        await clients.stop()
        out.put(("result", os.getpid(), clients.results()))

    _run(main())
