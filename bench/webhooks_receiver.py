"""bench/webhooks.py's receivers, in a process of their own (so they do not share the
worker's CPU): a fast HTTP endpoint that answers every POST at once with 204, and an
endpoint that accepts the TCP connection, reads the request and never answers (each
request hangs until the sender's timeout).

Both record (arrival time, path, webhook-id) of every request: a raw asyncio protocol on
uvloop with a minimal HTTP/1.1 parser (keep-alive, Content-Length bodies), so a request
costs a few microseconds. Control requests on the fast port: GET /_count answers the
counts per path as JSON; GET /_dump writes every record so far to --out (one
`time<TAB>path<TAB>webhook-id` line each) and answers how many.

    python bench/webhooks_receiver.py --port 8001 --hang-port 8002 --out /tmp/arrivals.tsv
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections import Counter
from pathlib import Path
from typing import cast

import orjson
import uvloop

ANSWER = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


class Store:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.times: list[float] = []
        self.paths: list[bytes] = []
        self.ids: list[bytes] = []
        self.counts: Counter[bytes] = Counter()

    def add(self, at: float, path: bytes, webhook_id: bytes) -> None:
        self.times.append(at)
        self.paths.append(path)
        self.ids.append(webhook_id)
        self.counts[path] += 1

    def dump(self) -> int:
        with self.out.open("wb") as f:
            for at, path, webhook_id in zip(self.times, self.paths, self.ids, strict=True):
                f.write(b"%.6f\t%s\t%s\n" % (at, path, webhook_id))
        return len(self.times)


def _control(path: bytes, store: Store) -> bytes:
    if path == b"/_dump":
        body = orjson.dumps({"records": store.dump()})
    else:
        body = orjson.dumps({k.decode(): v for k, v in store.counts.items()})
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


class Receiver(asyncio.Protocol):
    """One connection: parses requests as they arrive, records them, answers (or not)."""

    def __init__(self, store: Store, answer: bool) -> None:
        self.store = store
        self.answer = answer
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].split(b"\r\n")
            length, webhook_id = 0, b""
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"webhook-id":
                    webhook_id = value.strip()
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            path = lines[0].split(b" ")[1]
            assert self.transport is not None
            if path.startswith(b"/_"):
                self.transport.write(_control(path, self.store))
                continue
            self.store.add(time.time(), path, webhook_id)
            if self.answer:
                self.transport.write(ANSWER)


async def serve(args: argparse.Namespace) -> None:
    store = Store(Path(args.out))
    loop = asyncio.get_running_loop()
    fast = await loop.create_server(
        lambda: Receiver(store, True), "127.0.0.1", args.port, backlog=1024
    )
    hang = await loop.create_server(
        lambda: Receiver(store, False), "127.0.0.1", args.hang_port, backlog=1024
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"receiving on {args.port}, hanging on {args.hang_port}", flush=True)
    await stop.wait()
    fast.close()
    hang.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hang-port", type=int, required=True)
    parser.add_argument("--out", required=True)
    uvloop.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
