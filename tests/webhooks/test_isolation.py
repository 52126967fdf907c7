"""A dead endpoint never delays a healthy one; a worker killed mid-delivery loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from aiohttp import web

from omnistream.events.dispatcher import publish_pending
from omnistream.webhooks.fanout import fanout_loop
from omnistream.webhooks.worker import delivery_loop
from tests.channels.test_ratelimit import start_worker
from tests.processes import stop
from tests.webhooks.test_delivery import note_event
from tests.webhooks.test_endpoints import create


class Silent:
    """Accepts connections, reads, never answers."""

    def __init__(self) -> None:
        self.connections = 0
        self.peak = 0
        self.open = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            while await reader.read(65536):
                pass
        finally:
            self.open -= 1
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/never"

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()


async def test_a_dead_endpoint_does_not_slow_a_healthy_one(
    wclient, admin, receiver, ctx, private_settings
) -> None:
    silent = Silent()
    async with silent as dead_url:
        await create(wclient, admin, dead_url, events=["note.created"])  # created first
        await create(wclient, admin, receiver.url(), events=["note.created"])
        stopping = asyncio.Event()
        loops = [
            asyncio.create_task(fanout_loop(ctx.pool, private_settings, stopping)),
            asyncio.create_task(delivery_loop(ctx.pool, private_settings, stopping)),
        ]
        try:
            await note_event(ctx, 400)
            started = time.monotonic()
            async with ctx.pool.acquire() as conn:
                await publish_pending(conn)
            await receiver.wait_for(400, seconds=10)
            took = time.monotonic() - started
        finally:
            stopping.set()
            await asyncio.gather(*loops)
    # The dead endpoint holds only its own 4 slots (its requests hang for 15 s), and the
    # healthy one gets all 400 events in what a healthy endpoint alone takes: seconds.
    assert silent.peak == 4, silent.peak
    assert took < 8, took
    assert len({r.headers["webhook-id"] for r in receiver.at("/hook")}) == 400
    async with ctx.pool.acquire() as conn:  # stopping released the dead endpoint's claims
        held = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE claimed_by IS NOT NULL"
        )
    assert held == 0


async def test_sigkill_mid_delivery_loses_nothing(
    wclient, admin, receiver, ctx, settings, test_dsn, tmp_path
) -> None:
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(0.25)
        return web.Response(text="ok")

    receiver.routes["/slow"] = slow
    await create(wclient, admin, receiver.url("/slow"), events=["note.created"])
    await note_event(ctx, 60)
    log = tmp_path / "worker.log"
    env = {"OMNISTREAM_WORKER_TAKEOVER_GRACE_SECONDS": "0.5"}
    first = start_worker(settings, test_dsn, log, **env)
    try:
        await receiver.wait_for(12, "/slow", seconds=30)
        os.kill(first.pid, signal.SIGKILL)  # mid-flight: 4 requests are being answered
        first.wait(5)
        killed_at = len(receiver.at("/slow"))
        second = start_worker(settings, test_dsn, log, **env)
        try:
            async with asyncio.timeout(40):
                while len({r.headers["webhook-id"] for r in receiver.at("/slow")}) < 60:
                    receiver.arrived.clear()
                    await receiver.arrived.wait()
                while True:
                    async with ctx.pool.acquire() as conn:
                        states = await conn.fetch(
                            "SELECT status, count(*) FROM webhook_deliveries GROUP BY status"
                        )
                    if [tuple(s) for s in states] == [("success", 60)]:
                        break
                    await asyncio.sleep(0.1)
        finally:
            stop(second)
    finally:
        stop(first)
    got = receiver.at("/slow")
    ids = [r.headers["webhook-id"] for r in got]
    assert killed_at < 60 and len(set(ids)) == 60
    again = {i for i in ids if ids.count(i) > 1}
    # The requests in flight when the worker died were sent again, with the same id.
    assert 1 <= len(again) <= 8, (len(again), log.read_text()[-3000:])
    async with ctx.pool.acquire() as conn:
        event_ids = {str(r[0]) for r in await conn.fetch("SELECT event_id FROM webhook_deliveries")}
    assert event_ids == set(ids)
