"""The rollups kept by the consumer equal a recomputation from raw data (issue 15), after
a random mix of inbox actions through the real API: customers writing (new conversations,
reopens), replies, assignments, transfers between divisions and agents, resolves,
reopens, contact merges and deletions. Checked against an oracle that counts the raw
tables by hand, and against `rebuild` (full and --since)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from omnistream.context import AppContext
from omnistream.reports.rebuild import rebuild
from tests import factories
from tests.conftest import Actors, Agent
from tests.reports.support import (
    cycles_as_stored_and_recomputed,
    duration_blocks,
    durations_of_cycles,
    failure_rollups,
    oracle,
    rollups,
    settle,
)
from tests.sla.test_sla_engine import customer_writes

PHONES = [f"6281300000{n:03d}" for n in range(12)]
MIGRATION_0024 = Path(__file__).parents[2] / "omnistream/migrations/0024_report_durations.sql"


class World:
    def __init__(self, ctx: AppContext, client: httpx.AsyncClient, admin: Agent) -> None:
        self.ctx, self.client, self.admin = ctx, client, admin
        self.divisions: list[UUID] = []
        self.agents: list[Agent] = []

    async def conversations(self) -> list[dict[str, object]]:
        async with self.ctx.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, status, contact_id FROM conversations ORDER BY created_at, id"
            )
        return [dict(r) for r in rows]

    async def post(self, path: str, body: dict[str, object] | None = None) -> None:
        r = await self.client.post(path, json=body or {}, headers=self.admin.headers)
        if r.status_code == 422 and r.json()["detail"] == "the conversation is already there":
            return  # a transfer to where it is
        assert r.status_code in (200, 201, 204, 409), (
            path,
            r.json().get("detail"),
            r.json().get("errors"),
        )

    async def step(self, rng: random.Random) -> str:
        conversations = await self.conversations()
        action = rng.choice(
            ["write", "write", "write", "reply", "reply", "assign", "transfer", "resolve",
             "resolve", "reopen", "merge", "delete"]
        )  # fmt: skip
        if action == "write" or not conversations:
            await customer_writes(self.ctx, rng.choice(PHONES), "Halo, pesanan saya?")
            return "write"
        c = rng.choice(conversations)
        base = f"/api/v1/conversations/{c['id']}"
        if action == "reply":
            await self.post(base + "/messages", {"type": "text", "text": "Baik, kami cek."})
        elif action == "assign":
            await self.post(base + "/assign", {"agent_id": str(rng.choice(self.agents).id)})
        elif action == "transfer":
            await self.post(
                base + "/transfer",
                {"division_id": str(rng.choice(self.divisions)), "reason": "routing"},
            )
        elif action == "resolve":
            await self.post(base + "/resolve")
        elif action == "reopen":
            await self.post(base + "/reopen")
        elif action == "merge":
            others = [o for o in conversations if o["contact_id"] != c["contact_id"]]
            if others:
                other = rng.choice(others)["contact_id"]
                await self.post(
                    f"/api/v1/contacts/{c['contact_id']}/merge", {"other_contact_id": str(other)}
                )
        elif action == "delete":
            r = await self.client.delete(
                f"/api/v1/contacts/{c['contact_id']}", headers=self.admin.headers
            )
            assert r.status_code == 204, r.text
        return action


async def _world(ctx: AppContext, client: httpx.AsyncClient, actors: Actors, admin: Agent) -> World:
    world = World(ctx, client, admin)
    world.divisions = [await factories.division(ctx) for _ in range(2)]
    world.agents = [await actors.make("agent", divisions=[d]) for d in world.divisions]
    return world


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_rollups_equal_a_recomputation_after_random_actions(
    ctx: AppContext, client: httpx.AsyncClient, actors: Actors, admin: Agent, seed: int
) -> None:
    world = await _world(ctx, client, actors, admin)
    rng = random.Random(seed)
    done = []
    for n in range(70):
        done.append(await world.step(rng))
        if n % 5 == 0:  # the consumer runs between actions too, and is right each time
            await settle(ctx)
            assert await rollups(ctx) == await oracle(ctx), (n, done[-5:])
            stored, fresh = await cycles_as_stored_and_recomputed(ctx)
            assert stored == fresh, (n, done[-5:], stored ^ fresh)
            assert await duration_blocks(ctx) == await durations_of_cycles(ctx), (n, done[-5:])
    await settle(ctx)
    assert {"write", "reply", "resolve", "transfer"} <= set(done), done
    incremental = await rollups(ctx)
    assert incremental == await oracle(ctx)
    assert incremental  # something was counted
    failures = await failure_rollups(ctx)
    blocks = await duration_blocks(ctx)
    assert blocks == await durations_of_cycles(ctx)
    assert any(k[0] == 1 for k in blocks) and any(k[0] == 2 for k in blocks)
    await rebuild(ctx.pool)
    assert await rollups(ctx) == incremental
    assert await failure_rollups(ctx) == failures
    assert await duration_blocks(ctx) == blocks
    since = datetime.now(UTC) - timedelta(hours=1)
    await rebuild(ctx.pool, since)
    assert await rollups(ctx) == incremental
    assert await duration_blocks(ctx) == blocks


async def test_existing_conversations_are_counted_after_the_upgrade(
    ctx: AppContext, client: httpx.AsyncClient, actors: Actors, admin: Agent
) -> None:
    """Conversations older than the reports (the migration queued them in report_dirty)
    and a change without an event (an inbox account deleted) are counted by the worker."""
    for phone in PHONES[:3]:
        await customer_writes(ctx, phone)
    async with ctx.pool.acquire() as conn:
        await conn.execute("TRUNCATE report_rollups, report_cycles, report_messages")
        await conn.execute("INSERT INTO report_dirty SELECT id FROM conversations")
        # What the consumer would otherwise see: its events are behind it.
        await publish_all_and_skip(conn)
    assert await rollups(ctx) == {}
    await settle(ctx)
    expected = await oracle(ctx)
    assert sum(v.get("opened", 0) for k, v in expected.items() if k[0] == 0) == 3
    assert await rollups(ctx) == expected


async def publish_all_and_skip(conn: object) -> None:
    from omnistream.events.dispatcher import publish_pending
    from omnistream.reports.facts_queries import CONSUMER
    from omnistream.webhooks.delivery_queries import advance, top_seq

    await publish_pending(conn)  # type: ignore[arg-type]
    await advance(conn, CONSUMER, await top_seq(conn))  # type: ignore[arg-type]


async def test_a_first_reply_alone_is_a_first_response(
    ctx: AppContext, client: httpx.AsyncClient, actors: Actors, admin: Agent
) -> None:
    """A reply to an assigned conversation writes only message.created: the consumer
    recounts that message's bucket and the conversation's cycles, nothing else."""
    row = await customer_writes(ctx, PHONES[0])
    agent = await actors.make("agent")
    cid = row["conversation_id"]
    r = await client.post(
        f"/api/v1/conversations/{cid}/assign", json={"agent_id": str(agent.id)},
        headers=admin.headers,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    await settle(ctx)
    r = await client.post(
        f"/api/v1/conversations/{cid}/messages", json={"type": "text", "text": "Halo!"},
        headers=admin.headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    await settle(ctx)
    stored, fresh = await cycles_as_stored_and_recomputed(ctx)
    assert stored == fresh and len(stored) == 1
    async with ctx.pool.acquire() as conn:
        responder = await conn.fetchval("SELECT responder_id FROM report_cycles")
    assert responder == admin.id
    assert await rollups(ctx) == await oracle(ctx)


async def test_duration_blocks_queued_by_the_upgrade_are_built(
    ctx: AppContext, client: httpx.AsyncClient, actors: Actors, admin: Agent
) -> None:
    """Migration 0024 queues a block per (kind, day, division) the cycle facts already hold;
    the worker builds them, though no cycle changes."""
    world = await _world(ctx, client, actors, admin)
    rng = random.Random(1)
    for _ in range(40):
        await world.step(rng)
    await settle(ctx)
    expected = await durations_of_cycles(ctx)
    assert expected
    sql = MIGRATION_0024.read_text()
    queue = sql[sql.index("INSERT INTO report_durations_dirty") :]
    async with ctx.pool.acquire() as conn:
        await conn.execute("TRUNCATE report_durations")
        await conn.execute(queue)
        assert await conn.fetchval("SELECT count(*) FROM report_durations_dirty") > 0
    assert await duration_blocks(ctx) == {}
    await settle(ctx)
    assert await duration_blocks(ctx) == expected
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM report_durations_dirty") == 0
