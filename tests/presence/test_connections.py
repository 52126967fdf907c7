"""Presence from live connections, end to end: two API apps under uvicorn on loopback (as
two API processes: each its own pool, hub and connection tracker), the real dispatcher and
presence loops, the `websockets` client; and a real `omnistream serve` process killed with
SIGKILL. The offline delay is DELAY seconds here (OMNISTREAM_PRESENCE_OFFLINE_SECONDS)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from omnistream.app import create_app
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.db.pool import transaction
from omnistream.events.dispatcher import dispatcher_loop
from omnistream.kit.enums import Presence
from omnistream.presence.service import set_presence
from omnistream.presence.worker import presence_loop
from tests import factories
from tests.conftest import PASSWORD, Actors, Agent
from tests.events.test_websocket import Live, connect
from tests.presence.written import presence_events, presence_row
from tests.processes import CLI, free_port, omnistream_env, stop, wait_http

DELAY = 1.5


@contextlib.asynccontextmanager
async def api_process(settings: Settings, dsn: str) -> AsyncIterator[str]:
    """A second app of its own (pool, hub, presence tracker) served on a loopback port."""
    app = create_app(settings, dsn)
    async with app.router.lifespan_context(app):
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"ws://127.0.0.1:{port}/api/v1/ws"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)


@pytest.fixture(scope="module")
def quick(settings: Settings) -> Settings:
    return settings.model_copy(update={"presence_offline_seconds": DELAY})


@pytest.fixture(scope="module")
async def urls(quick: Settings, test_dsn: str, ctx: AppContext) -> AsyncIterator[list[str]]:
    """Two API processes, and a worker's dispatcher and presence loops."""
    stop_loops = asyncio.Event()
    loops = [
        asyncio.create_task(dispatcher_loop(ctx.pool, quick, stop_loops)),
        asyncio.create_task(presence_loop(ctx.pool, quick, stop_loops)),
    ]
    async with api_process(quick, test_dsn) as one, api_process(quick, test_dsn) as two:
        yield [one, two]
    stop_loops.set()
    await asyncio.wait_for(asyncio.gather(*loops), 10)


async def eventually(
    check: Callable[[], Awaitable[Any]], expected: Any, within: float = DELAY * 6
) -> float:
    """Seconds until check() returns `expected` (fails after `within`)."""
    started = time.monotonic()
    value = None
    while time.monotonic() - started < within:
        value = await check()
        if value == expected:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"still {value!r} after {within} s, expected {expected!r}")


def shown(ctx: AppContext, agent: Agent) -> Callable[[], Awaitable[str]]:
    async def check() -> str:
        return (await presence_row(ctx, agent.id))[0]

    return check


async def test_closing_the_last_socket_takes_the_agent_offline_after_the_delay(
    ctx, actors: Actors, urls: list[str]
) -> None:
    agent = await actors.make("agent")
    assert await presence_row(ctx, agent.id) == ("offline", "online")
    live = await connect(urls[0], agent.token)
    await eventually(shown(ctx, agent), "online")  # connecting: back to the choice
    await live.close()
    closed = time.monotonic()
    assert await shown(ctx, agent)() == "online"  # not at once: a reload must not flicker
    await eventually(shown(ctx, agent), "offline")
    assert time.monotonic() - closed >= DELAY
    events = await presence_events(ctx, agent.id)
    assert [(e["data"]["presence"], e["data"]["reason"]) for e in events] == [
        ("online", "connected"),
        ("offline", "disconnected"),
    ]
    assert all(e["actor"] == {"type": "system"} for e in events)
    assert await presence_row(ctx, agent.id) == ("offline", "online")  # the choice is kept


async def test_reconnecting_restores_the_choice(
    client, ctx, actors: Actors, urls: list[str]
) -> None:
    agent = await actors.make("agent")
    r = await client.put("/api/v1/me/presence", headers=agent.headers, json={"presence": "away"})
    assert r.status_code == 200, r.text
    live = await connect(urls[1], agent.token)
    await live.close()
    await eventually(shown(ctx, agent), "offline")
    live = await connect(urls[0], agent.token)
    await eventually(shown(ctx, agent), "away")
    assert await presence_row(ctx, agent.id) == ("away", "away")
    await live.close()


async def test_a_socket_on_another_process_keeps_the_agent_online(
    ctx, actors: Actors, urls: list[str]
) -> None:
    agent = await actors.make("agent")
    first = await connect(urls[0], agent.token)
    second = await connect(urls[1], agent.token)
    await eventually(shown(ctx, agent), "online")
    await first.close()
    await asyncio.sleep(DELAY * 2.5)  # the presence loop ticks every DELAY / 4
    assert await shown(ctx, agent)() == "online"
    await second.close()
    await eventually(shown(ctx, agent), "offline")


async def test_colleagues_of_other_divisions_receive_the_event_live(
    ctx, actors: Actors, urls: list[str]
) -> None:
    sales = await factories.division(ctx, "Sales")
    support = await factories.division(ctx, "Support")
    agent = await actors.make("agent", divisions=[sales])
    colleague = await actors.make("agent", divisions=[support])
    watcher = await connect(urls[1], colleague.token)
    live = await connect(urls[0], agent.token)

    async def about_agent() -> dict[str, Any]:
        while True:
            event = await watcher.event(within=DELAY * 4)
            if event["type"] == "agent.presence" and event["data"]["agent_id"] == str(agent.id):
                return event

    event = await about_agent()
    assert (event["data"]["presence"], event["data"]["name"]) == (
        "online",
        f"Agent {agent.email[:8]}",
    )
    assert event["data"]["division_ids"] == [str(sales)]
    await live.close()
    event = await about_agent()
    assert (event["data"]["presence"], event["data"]["reason"]) == ("offline", "disconnected")
    await watcher.close()


async def test_an_agent_taken_offline_while_connected_is_brought_back(
    ctx, actors: Actors, urls: list[str]
) -> None:
    """The tick may take an agent offline just as a socket of theirs opens: the heartbeat of
    the process holding it brings them back to their choice."""
    agent = await actors.make("agent")
    live = await connect(urls[0], agent.token)
    await eventually(shown(ctx, agent), "online")
    async with transaction(ctx.pool) as tx:
        await set_presence(tx, agent.id, Presence.OFFLINE)
    await eventually(shown(ctx, agent), "online", within=DELAY * 2)
    await live.close()


def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """`omnistream serve` (API only, no worker) on `port`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_a_killed_process_s_sockets_expire(
    ctx, actors: Actors, urls: list[str], test_dsn: str, tmp_path: Path
) -> None:
    agent = await actors.make("agent", login=False)
    port = free_port()
    env = omnistream_env(test_dsn, tmp_path, "presence-kill-", presence_offline_seconds=str(DELAY))
    log = tmp_path / "server.log"
    proc = serve(env, port, log)
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/readyz", proc, log)
        async with httpx.AsyncClient(trust_env=False) as http:
            r = await http.post(
                f"http://127.0.0.1:{port}/api/v1/auth/login",
                json={"email": agent.email, "password": PASSWORD},
            )
        assert r.status_code == 200, r.text
        live: Live = await connect(f"ws://127.0.0.1:{port}/api/v1/ws", r.json()["access_token"])
        await eventually(shown(ctx, agent), "online")
        proc.kill()  # SIGKILL: no socket closes, no row is stamped
        killed = time.monotonic()
        await asyncio.to_thread(proc.wait, 10)
        assert await shown(ctx, agent)() == "online"
        await eventually(shown(ctx, agent), "offline")
        assert time.monotonic() - killed >= DELAY * 0.5
        async with ctx.pool.acquire() as conn:
            closed = await conn.fetchval(
                "SELECT count(*) FROM presence_connections WHERE closed_at IS NOT NULL"
            )
        assert closed == 0
        with contextlib.suppress(Exception):
            await live.close()
    finally:
        stop(proc)
