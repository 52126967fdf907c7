"""Outgoing-webhook fixtures: real HTTP receivers on loopback, and an app that may call
them (OMNISTREAM_ALLOW_PRIVATE_URLS on, as the sandbox runs)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI

from omnistream.app import create_app
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.events.dispatcher import publish_pending
from omnistream.webhooks.fanout import fan_out
from omnistream.webhooks.worker import Deliverer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every request; `routes` maps a path to a
    handler (default: 200 "ok")."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    routes: dict[str, Handler] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body, time.monotonic()))
        self.arrived.set()
        handler = self.routes.get(request.path)
        if handler is not None:
            return await handler(request)
        return web.Response(text="ok")

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, count: int, path: str = "/hook", seconds: float = 10) -> None:
        async with asyncio.timeout(seconds):
            while len(self.at(path)) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application(client_max_size=1024**2)
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield rec
    await runner.cleanup()


@pytest.fixture(scope="session")
def private_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_urls": True})


@pytest.fixture(scope="session")
async def private_app(private_settings: Settings, test_dsn: str) -> AsyncIterator[FastAPI]:
    application = create_app(private_settings, test_dsn)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def wclient(private_app: FastAPI, ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app that may reach loopback receivers (ctx: the database is emptied)."""
    transport = httpx.ASGITransport(app=private_app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def deliverer(ctx: AppContext, private_settings: Settings) -> AsyncIterator[Deliverer]:
    d = Deliverer(ctx.pool, private_settings)
    yield d
    await d.close()


@pytest.fixture
async def pump(ctx: AppContext, deliverer: Deliverer) -> Callable[[], Awaitable[int]]:
    async def run() -> int:
        async with ctx.pool.acquire() as conn:
            await publish_pending(conn)
        while (await fan_out(ctx.pool)) not in (0, None):
            pass
        return await deliverer.run_once()

    return run
