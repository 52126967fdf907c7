"""Exactly one assignment however many race: two real worker processes (`omnistream
worker`, only the dispatcher and the assignment consumer on) assign while two real API
processes (`omnistream serve`) take and reassign the same conversations by hand. Every
conversation's conversation.assigned events form one chain (each starts from the assignee
the one before left; only the first starts from nobody), its assignee is the last one's,
and no automatic assignment ever went above an agent's capacity."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest

from omnistream.worker import LOOPS
from tests import factories
from tests.assignment.support import capacity, presence, switch_on
from tests.assignment.test_engine import arrive
from tests.conftest import PASSWORD, Actors, Agent

ENTRY = "from omnistream.cli import main; main()"
CONVERSATIONS = 120
CAPACITY = 25  # 4 agents: 100 of the 120 for the workers at most


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def processes(test_dsn: str, settings) -> AsyncIterator[list[str]]:
    """Two workers and two API processes on the test database; the APIs' base URLs."""
    env = {
        **os.environ,
        "DATABASE_URL": test_dsn,
        "OMNISTREAM_SECRET_KEY": settings.secret_key,
        "OMNISTREAM_ARGON2_TIME_COST": "1",
        "OMNISTREAM_ARGON2_MEMORY_KIB": "1024",
        "OMNISTREAM_ARGON2_PARALLELISM": "1",
        "OMNISTREAM_ACCESS_LOG": "false",
        "OMNISTREAM_WORKER_LOOPS_OFF": ",".join(
            n for n in LOOPS if n not in ("events", "assignment")
        ),
    }
    ports = [free_port(), free_port()]
    spawned = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            ENTRY,
            *args,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for args in (
            ["worker"],
            ["worker"],
            *(["serve", "--host", "127.0.0.1", "--port", str(p)] for p in ports),
        )
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            for url in urls:
                for _ in range(400):
                    try:
                        if (await client.get(f"{url}/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)
                else:
                    pytest.fail(f"{url} did not start")
        yield urls
    finally:
        for p in spawned:
            p.terminate()
        for p in spawned:
            await asyncio.wait_for(p.wait(), 20)


async def login(client: httpx.AsyncClient, who: Agent) -> dict[str, str]:
    r = await client.post("/api/v1/auth/login", json={"email": who.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def grab(url: str, who: Agent, admin: Agent, ids: list[UUID], other: Agent) -> None:
    """Through one API process, four requests at a time: `who` takes every conversation
    (200, or 409: someone was faster), and the admin hands every fifth one to `other` (the
    other taker: a reassignment away frees a team member's room again)."""
    async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=30) as client:
        mine, admins = await login(client, who), await login(client, admin)
        order = random.sample(ids, len(ids))

        async def work(part: list[UUID], offset: int) -> None:
            for i, conversation in enumerate(part):
                r = await client.post(f"/api/v1/conversations/{conversation}/take", headers=mine)
                assert r.status_code in (200, 409), r.text
                if (i + offset) % 5 == 0:
                    r = await client.post(
                        f"/api/v1/conversations/{conversation}/assign",
                        headers=admins,
                        json={"agent_id": str(other.id)},
                    )
                    assert r.status_code == 200, r.text

        await asyncio.gather(*(work(order[k::4], k) for k in range(4)))


async def test_two_workers_and_two_api_processes(
    client, ctx, admin: Agent, actors: Actors, processes: list[str]
) -> None:
    division = await factories.division(ctx)
    team = [await actors.make("agent", divisions=[division], login=False) for _ in range(4)]
    for agent in team:
        await capacity(client, admin, agent.id, CAPACITY)
        await presence(ctx, agent.id)
    takers = [await actors.make("agent", divisions=[division], login=False) for _ in range(2)]
    ids = await arrive(ctx, division, CONVERSATIONS)  # waiting: assignment is still off
    # Switched on while both API processes take: workers and requests race for each one.
    await asyncio.gather(
        switch_on(client, admin, division),
        grab(processes[0], takers[0], admin, ids, takers[1]),
        grab(processes[1], takers[1], admin, ids, takers[0]),
    )
    for _ in range(100):  # the dispatcher publishes the last events
        async with ctx.pool.acquire() as conn:
            if not await conn.fetchval("SELECT count(*) FROM event_outbox WHERE seq IS NULL"):
                break
        await asyncio.sleep(0.05)
    async with ctx.pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT conversation_id, data, actor FROM event_outbox "
            "WHERE type = 'conversation.assigned' AND seq IS NOT NULL ORDER BY seq"
        )
        rows = await conn.fetch(
            "SELECT id, assigned_agent_id FROM conversations WHERE id = ANY($1::uuid[])", ids
        )
    chains: dict[UUID, list[dict[str, Any]]] = {}
    for e in events:
        chains.setdefault(e["conversation_id"], []).append({**e["data"], "actor": e["actor"]})
    automatic = first_automatic = 0
    for row in rows:
        chain = chains[row["id"]]
        first_automatic += bool(chain[0].get("automatic"))
        holder = None
        for step in chain:
            assert step["previous_agent_id"] == holder, chain
            holder = step["agent_id"]
        assert holder == str(row["assigned_agent_id"]), chain
        assert sum(s["previous_agent_id"] is None for s in chain) == 1, chain
        for step in chain:
            if step.get("automatic"):
                automatic += 1
                assert step["actor"] == {"type": "system"}
                assert step["open_before"] < step["capacity"] == CAPACITY
    # Both sides won some; the team (offline takers are not in the pool, so the team got
    # automatic assignments alone) holds no more than its capacity.
    assert 0 < first_automatic < len(rows) and automatic >= first_automatic
    held = [sum(r["assigned_agent_id"] == a.id for r in rows) for a in team]
    assert max(held) <= CAPACITY, held
    assert len(rows) == CONVERSATIONS
