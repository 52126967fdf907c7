"""Bulk actions on the list's filter: the conversations the list shows the caller (never
others), in its order, at most 1,000; /bulk/select lists those ids."""

from __future__ import annotations

from uuid import UUID

from tests import factories
from tests.bulk.test_bulk import URL, state, trail
from tests.conftest import Actors, Agent
from tests.conversations.written import listed


async def test_filter_selects_what_the_caller_sees(client, ctx, actors: Actors) -> None:
    a = await factories.division(ctx)
    b = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[a])
    high = [await factories.conversation(ctx, division_id=a) for _ in range(3)]
    low = await factories.conversation(ctx, division_id=a)
    elsewhere = await factories.conversation(ctx, division_id=b)  # high too, but not visible
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE conversations SET priority = 'high' WHERE id = ANY($1)", [*high, elsewhere]
        )
    wanted = {"status": "open", "priority": "high,urgent"}
    r = await client.post(f"{URL}/select", headers=agent.headers, json={"filter": wanted})
    assert r.status_code == 200, r.text
    shown = await listed(client, agent, **wanted)
    assert [UUID(i) for i in r.json()["ids"]] == shown and sorted(shown) == sorted(high)
    assert r.json()["capped"] is False
    before = await state(ctx, [low, elsewhere])
    r = await client.post(URL, headers=agent.headers, json={"action": "resolve", "filter": wanted})
    assert r.status_code == 200, r.text
    assert r.json()["done"] == 3 and [UUID(i["id"]) for i in r.json()["items"]] == shown
    assert await state(ctx, [low, elsewhere]) == before
    assert await listed(client, agent, **wanted) == []
    events, _ = await trail(ctx, [low, elsewhere])
    assert events == []


async def test_at_most_1000_by_filter(client, ctx, admin: Agent) -> None:
    contact = await factories.contact(ctx)
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO conversations (contact_id, channel, last_message_at) "
            "SELECT $1, 'whatsapp', now() - n * interval '1 second' "
            "FROM generate_series(1, 1001) n",
            contact,
        )
        oldest = await conn.fetchval(
            "SELECT id FROM conversations ORDER BY last_message_at LIMIT 1"
        )
    wanted = {"status": "open"}
    r = await client.post(f"{URL}/select", headers=admin.headers, json={"filter": wanted})
    assert len(r.json()["ids"]) == 1000 and r.json()["capped"] is True
    assert str(oldest) not in r.json()["ids"]  # newest first, as the list: the oldest is out
    r = await client.post(
        URL,
        headers=admin.headers,
        json={"action": "set_priority", "priority": "low", "filter": wanted},
    )
    assert r.status_code == 200 and r.json()["done"] == 1000
    async with ctx.pool.acquire() as conn:
        counts = dict(await conn.fetch("SELECT priority, count(*) FROM conversations GROUP BY 1"))
        entries = await conn.fetchval(
            "SELECT count(DISTINCT target_id) FROM activity_logs WHERE action = 'set_priority'"
        )
    assert counts == {"low": 1000, "none": 1} and entries == 1000
    async with ctx.pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT priority FROM conversations WHERE id = $1", oldest)
            == "none"
        )
