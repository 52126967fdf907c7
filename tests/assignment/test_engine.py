"""Automatic assignment by the consumer: off by default, fair water-filling under the
capacities, oldest first, presence, the global setting, per-channel capacities, and the
events and activity entries it writes."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from omnistream.context import AppContext
from tests import factories
from tests.assignment.support import (
    URL,
    assignees,
    capacity,
    open_counts,
    presence,
    run,
    switch_on,
)
from tests.conftest import Actors, Agent

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def arrive(
    ctx: AppContext, division_id: UUID | None, n: int, channel: str = "whatsapp"
) -> list[UUID]:
    """`n` new unassigned conversations, one second apart (oldest first), in one statement."""
    contact = await factories.contact(ctx)
    async with ctx.pool.acquire() as conn:
        base = await conn.fetchval("SELECT COALESCE(max(created_at), $1) FROM conversations", T0)
        rows = await conn.fetch(
            """
            INSERT INTO conversations (contact_id, division_id, channel, created_at)
            SELECT $1, $2, $3, $4::timestamptz + make_interval(secs => g) FROM generate_series(1, $5) g
            RETURNING id, created_at
            """,
            contact,
            division_id,
            channel,
            base,
            n,
        )
    return [r["id"] for r in sorted(rows, key=lambda r: r["created_at"])]


async def team(actors: Actors, division_id: UUID, n: int) -> list[Agent]:
    return [await actors.make("agent", divisions=[division_id], login=False) for _ in range(n)]


async def test_off_by_default(client, ctx, admin: Agent, actors: Actors) -> None:
    division = await factories.division(ctx, "Sales")
    (ana,) = await team(actors, division, 1)
    await presence(ctx, ana.id)
    ids = await arrive(ctx, division, 2) + await arrive(ctx, None, 1)
    await run(ctx)
    assert await assignees(ctx, ids) == [None, None, None]
    r = await client.get(f"{URL}/settings", headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["global_enabled"] is False
    assert [(d["name"], d["enabled"]) for d in r.json()["divisions"]] == [("Sales", False)]
    r = await client.get(f"{URL}/agents", headers=admin.headers)
    caps = {i["agent_id"]: (i["capacity"], i["channels"]) for i in r.json()["items"]}
    assert caps[str(ana.id)] == (10, {})


def water_fill(capacities: list[int], total: int) -> list[int]:
    """What each agent holds when `total` are spread evenly under the capacities."""
    level = 0
    while sum(min(c, level) for c in capacities) < total:
        level += 1
    return [min(c, level) for c in capacities]


async def test_fair_over_a_thousand_conversations(client, ctx, admin: Agent, actors) -> None:
    division = await factories.division(ctx)
    agents = await team(actors, division, 5)
    caps = [100, 150, 250, 300, 400]
    for agent, cap in zip(agents, caps, strict=True):
        await capacity(client, admin, agent.id, cap)
        await presence(ctx, agent.id)
    await switch_on(client, admin, division)
    first = await arrive(ctx, division, 5)
    await run(ctx)
    # Round robin among equals: the first five go to five different agents.
    assert len(set(await assignees(ctx, first))) == 5
    rest = await arrive(ctx, division, 600)
    await run(ctx)
    rest += await arrive(ctx, division, 395)
    await run(ctx)
    assert None not in await assignees(ctx, first + rest)
    counts = await open_counts(ctx)
    held = [counts.get(a.id, 0) for a in agents]
    assert sum(held) == 1000
    assert all(h <= c for h, c in zip(held, caps, strict=True)), held
    fair = water_fill(caps, 1000)  # [100, 150, 250, 250, 250]
    assert all(abs(h - f) <= 1 for h, f in zip(held, fair, strict=True)), (held, fair)
    # Everyone is full or at the common level: the next ones wait for room.
    more = await arrive(ctx, division, 250)
    await run(ctx)
    assert (await assignees(ctx, more)).count(None) == 50  # 1,200 capacity in all
    assert all(
        n <= c for n, c in zip([(await open_counts(ctx))[a.id] for a in agents], caps, strict=True)
    )


async def test_waiting_queue_drains_oldest_first(client, ctx, admin: Agent, actors) -> None:
    division = await factories.division(ctx)
    (ana,) = await team(actors, division, 1)
    await switch_on(client, admin, division)
    await capacity(client, admin, ana.id, 2)
    ids = await arrive(ctx, division, 4)
    await run(ctx)
    assert await assignees(ctx, ids) == [None] * 4  # nobody online: they wait
    await presence(ctx, ana.id)  # comes online: the two oldest are hers
    await run(ctx)
    assert await assignees(ctx, ids) == [ana.id, ana.id, None, None]
    await actors.login(ana)
    r = await client.post(f"/api/v1/conversations/{ids[1]}/resolve", headers=ana.headers)
    assert r.status_code == 200, r.text
    await run(ctx)  # she drops under capacity: the next oldest
    assert await assignees(ctx, ids) == [ana.id, ana.id, ana.id, None]
    await capacity(client, admin, ana.id, 3)  # a raise: the last one
    await run(ctx)
    assert await assignees(ctx, ids) == [ana.id] * 4


async def test_offline_agent_stops_receiving_and_keeps_theirs(
    client, ctx, admin: Agent, actors
) -> None:
    division = await factories.division(ctx)
    ana, budi = await team(actors, division, 2)
    for agent in (ana, budi):
        await presence(ctx, agent.id)
    await switch_on(client, admin, division)
    first = await arrive(ctx, division, 4)
    await run(ctx)
    assert sorted((await open_counts(ctx)).values()) == [2, 2]
    budis = [i for i, a in zip(first, await assignees(ctx, first), strict=True) if a == budi.id]
    await presence(ctx, budi.id, "offline")
    later = await arrive(ctx, division, 3)
    await run(ctx)
    assert await assignees(ctx, later) == [ana.id] * 3
    assert await assignees(ctx, budis) == [budi.id, budi.id]  # still his
    await presence(ctx, budi.id, "away")  # away receives nothing either
    again = await arrive(ctx, division, 1)
    await run(ctx)
    assert await assignees(ctx, again) == [ana.id]


async def test_no_division_follows_the_global_setting(client, ctx, admin: Agent, actors) -> None:
    division = await factories.division(ctx)
    (ana,) = await team(actors, division, 1)
    outsider = await actors.make("agent", login=False)  # in no division
    await presence(ctx, ana.id)
    await switch_on(client, admin, division)
    loose = await arrive(ctx, None, 2)
    await run(ctx)
    assert await assignees(ctx, loose) == [None, None]  # the global setting is off
    await presence(ctx, outsider.id)
    await switch_on(client, admin, global_enabled=True)
    await run(ctx)
    assert sorted(map(str, await assignees(ctx, loose))) == sorted([str(ana.id), str(outsider.id)])
    # A division switched off keeps its conversations waiting, global on or not.
    await switch_on(client, admin)  # nothing changes
    r = await client.put(
        f"{URL}/settings",
        headers=admin.headers,
        json={"divisions": [{"division_id": str(division), "enabled": False}]},
    )
    assert r.status_code == 200
    waiting = await arrive(ctx, division, 1)
    await run(ctx)
    assert await assignees(ctx, waiting) == [None]


async def test_per_channel_capacity(client, ctx, admin: Agent, actors) -> None:
    division = await factories.division(ctx)
    (ana,) = await team(actors, division, 1)
    await presence(ctx, ana.id)
    await capacity(client, admin, ana.id, 10, whatsapp=1)
    await switch_on(client, admin, division)
    chats = await arrive(ctx, division, 3)
    mails = await arrive(ctx, division, 2, channel="email")
    await run(ctx)
    assert await assignees(ctx, chats) == [ana.id, None, None]
    assert await assignees(ctx, mails) == [ana.id, ana.id]


async def test_events_and_activity_name_the_rule(client, ctx, admin: Agent, actors) -> None:
    division = await factories.division(ctx)
    (ana,) = await team(actors, division, 1)
    await presence(ctx, ana.id)
    await switch_on(client, admin, division)
    (conversation,) = await arrive(ctx, division, 1)
    await run(ctx)
    async with ctx.pool.acquire() as conn:
        event = await conn.fetchrow(
            "SELECT data, actor, audience, conversation_id FROM event_outbox "
            "WHERE type = 'conversation.assigned'"
        )
        entry = await conn.fetchrow(
            "SELECT agent_id, action, target_type, target_id, metadata_json FROM activity_logs "
            "WHERE action = 'assign_conversation'"
        )
    assert event["actor"] == {"type": "system"} and event["conversation_id"] == conversation
    assert event["data"]["conversation"]["assigned_agent_id"] == str(ana.id)
    assert event["audience"] == [
        {"division_id": str(division), "assigned_agent_id": None},
        {"division_id": str(division), "assigned_agent_id": str(ana.id)},
    ]
    rule = {
        "previous_agent_id": None,
        "agent_id": str(ana.id),
        "automatic": True,
        "rule": "fewest_open_round_robin",
        "scope": "division",
        "division_id": str(division),
        "open_before": 0,
        "capacity": 10,
        "channel_capacity": None,
    }
    assert {k: event["data"][k] for k in rule} == rule
    assert dict(entry) == {
        "agent_id": None,
        "action": "assign_conversation",
        "target_type": "conversation",
        "target_id": conversation,
        "metadata_json": rule,
    }
    r = await client.get(f"/api/v1/conversations/{conversation}/history", headers=admin.headers)
    assert r.status_code == 200, r.text
    (line,) = r.json()  # the timeline shows it, by nobody (the system)
    assert (line["action"], line["agent_id"], line["details"]["rule"]) == (
        "assigned",
        None,
        "fewest_open_round_robin",
    )
