"""Conversation priority: set it (visibility, bad input, event, activity), filter the list by
one or several priorities, and sort by priority then last message across keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from omnistream.conversations import queries
from omnistream.conversations.visibility import Scope
from omnistream.kit.enums import Priority, Role
from tests import factories
from tests.conftest import Actors, Agent, fields, problem
from tests.conversations.test_sla_list import Recorder
from tests.conversations.written import listed, written

URL = "/api/v1/conversations"
RANK = {"none": 0, "low": 1, "medium": 2, "high": 3, "urgent": 4}


async def set_priority(ctx, cid: UUID, priority: str) -> None:
    async with ctx.pool.acquire() as conn:
        await conn.execute("UPDATE conversations SET priority = $2 WHERE id = $1", cid, priority)


async def test_set_priority_announces_and_logs_it(client, ctx, actors: Actors) -> None:
    d = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d])
    cid = await factories.conversation(ctx, division_id=d)  # the division's pool: visible
    r = await client.post(f"{URL}/{cid}/priority", headers=agent.headers, json={"priority": "high"})
    assert r.status_code == 200, r.text
    assert r.json()["priority"] == "high" and r.json()["id"] == str(cid)
    got = await client.get(f"{URL}/{cid}", headers=agent.headers)
    assert got.json()["priority"] == "high"
    item = (await client.get(URL, headers=agent.headers)).json()["items"][0]
    assert item["id"] == str(cid) and item["priority"] == "high"
    events, entries = await written(ctx, "set_priority")
    assert len(events) == 1
    data = events[0]["data"]
    assert data["conversation"]["priority"] == "high" and data["conversation"]["id"] == str(cid)
    assert data["previous_priority"] == "none" and data["priority"] == "high"
    assert events[0]["audience"] == [{"division_id": str(d), "assigned_agent_id": None}]
    assert [(e["agent_id"], e["target_type"], e["target_id"]) for e in entries] == [
        (agent.id, "conversation", cid)
    ]
    assert entries[0]["metadata_json"] == {"previous_priority": "none", "priority": "high"}
    # The same priority again changes nothing: no event, no entry.
    r = await client.post(f"{URL}/{cid}/priority", headers=agent.headers, json={"priority": "high"})
    assert r.status_code == 200 and r.json()["priority"] == "high"
    assert [len(x) for x in await written(ctx, "set_priority")] == [1, 1]
    r = await client.post(f"{URL}/{cid}/priority", headers=agent.headers, json={"priority": "none"})
    assert r.json()["priority"] == "none"
    events, entries = await written(ctx, "set_priority")
    assert events[-1]["data"]["previous_priority"] == "high"
    assert entries[-1]["metadata_json"] == {"previous_priority": "high", "priority": "none"}


async def test_priority_refused_writes_nothing(client, ctx, actors: Actors) -> None:
    a = await factories.division(ctx)
    b = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[a])
    outsider = await actors.make("agent", divisions=[b])
    cid = await factories.conversation(ctx, division_id=a)
    # Another division's agent: 404, as for every action on what they may not see.
    problem(
        await client.post(
            f"{URL}/{cid}/priority", headers=outsider.headers, json={"priority": "urgent"}
        ),
        404,
    )
    for body in ({"priority": "critical"}, {"priority": None}, {"priority": 3}, {}):
        res = await client.post(f"{URL}/{cid}/priority", headers=agent.headers, json=body)
        assert fields(problem(res, 422)) == {"priority"}, body
    problem(
        await client.post(
            f"{URL}/00000000-0000-0000-0000-000000000000/priority",
            headers=agent.headers,
            json={"priority": "low"},
        ),
        404,
    )
    async with ctx.pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT priority FROM conversations WHERE id = $1", cid) == "none"
        )
    assert await written(ctx, "set_priority") == ([], [])


async def test_list_filter_by_one_or_several_priorities(client, ctx, actors: Actors) -> None:
    d = await factories.division(ctx)
    other = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d])
    now = datetime.now(UTC)
    by: dict[str, list[UUID]] = {p: [] for p in RANK}
    newest_first: list[UUID] = []
    hidden = await factories.conversation(ctx, division_id=other)
    await set_priority(ctx, hidden, "urgent")
    for i, p in enumerate(["urgent", "high", "none", "high", "low", "medium", "urgent", "none"]):
        # Every other one is the agent's own, the rest in the division's pool: two branches.
        cid = await factories.conversation(
            ctx,
            division_id=d,
            assigned_agent_id=agent.id if i % 2 else None,
            last_message_at=now - timedelta(minutes=i),
        )
        await set_priority(ctx, cid, p)
        by[p].append(cid)
        newest_first.append(cid)
    assert await listed(client, agent, priority="high") == by["high"]
    assert await listed(client, agent, priority="urgent") == by["urgent"]  # not the hidden one
    several = await listed(client, agent, priority="high,urgent")
    assert several == sorted(by["high"] + by["urgent"], key=newest_first.index)  # by time
    assert await listed(client, agent, priority="urgent,high,urgent") == several
    assert await listed(client, agent, priority="none") == by["none"]
    assert await listed(client, agent, priority="high,medium", assignee="me") == [
        newest_first[1],
        newest_first[3],
        newest_first[5],
    ]
    assert await listed(client, agent, priority="urgent", assignee="unassigned") == by["urgent"]
    assert await listed(client, agent, priority="low,medium", status="resolved") == []
    for bad in ("critical", "high,", "HIGH", "high;urgent"):
        res = await client.get(URL, headers=agent.headers, params={"priority": bad})
        assert fields(problem(res, 422)) == {"priority"}, bad


async def test_sort_by_priority_pages_with_ties(client, ctx, actors: Actors) -> None:
    d = await factories.division(ctx)
    admin = await actors.make("admin")
    agent = await actors.make("agent", divisions=[d])
    now = datetime.now(UTC)
    times: dict[UUID, tuple[str, datetime]] = {}
    names = list(RANK)
    for i in range(23):
        priority = names[i % 5]
        # Ties: several share a last message time within one priority (the id decides).
        at = now - timedelta(minutes=i // 7)
        cid = await factories.conversation(
            ctx,
            division_id=d if i % 3 else None,
            assigned_agent_id=agent.id if i % 4 == 0 else None,
            status="resolved" if i == 22 else "open",
            last_message_at=at,
        )
        await set_priority(ctx, cid, priority)
        times[cid] = (priority, at)
    expected = sorted(times, key=lambda c: (RANK[times[c][0]], times[c][1], c), reverse=True)

    async def walk(who: Agent, limit: int, **params) -> list[UUID]:
        seen: list[UUID] = []
        cursor = None
        while True:
            query = {"sort": "priority", "limit": limit, **params}
            if cursor:
                query["cursor"] = cursor
            r = await client.get(URL, headers=who.headers, params=query)
            assert r.status_code == 200, r.text
            page = r.json()
            seen += [UUID(i["id"]) for i in page["items"]]
            for item in page["items"]:
                assert item["priority"] == times[UUID(item["id"])][0]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen

    for limit in (1, 3, 4, 50):
        assert await walk(admin, limit) == expected, limit
        assert await walk(agent, limit) == expected, limit  # every one is in their view
    assert await walk(agent, 2, status="open") == [c for c in expected if c != list(times)[22]]
    high_urgent = [c for c in expected if times[c][0] in ("high", "urgent")]
    assert await walk(agent, 2, priority="urgent,high") == high_urgent
    # A cursor of another sort is not a priority cursor: 400 naming it, not a 500.
    first = await client.get(URL, headers=admin.headers, params={"limit": 2})
    res = await client.get(
        URL,
        headers=admin.headers,
        params={"sort": "priority", "cursor": first.json()["next_cursor"]},
    )
    assert "cursor" in fields(problem(res, 400))


async def test_plans_read_the_priority_indexes(ctx, actors: Actors) -> None:
    """On 20,000 conversations, one in ten with a priority (analyzed), a priority filter and
    sort=priority (after a cursor) read the partial priority indexes for an admin (one
    branch) and an agent (several), and never read the whole table."""
    d = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d], login=False)
    contact = await factories.contact(ctx)
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO conversations (contact_id, channel, division_id, assigned_agent_id,
                                       status, resolved_at, last_message_at, priority)
            SELECT $1, 'whatsapp', CASE WHEN i % 3 = 0 THEN $2::uuid END,
                   CASE WHEN i % 7 = 0 THEN $3::uuid END,
                   CASE WHEN i % 50 = 0 THEN 'resolved' ELSE 'open' END,
                   CASE WHEN i % 50 = 0 THEN now() END,
                   now() - make_interval(secs => i),
                   CASE WHEN i % 10 = 0 THEN (ARRAY['low','medium','high','urgent'])[i % 4 + 1]
                        ELSE 'none' END
              FROM generate_series(1, 20000) i
            """,
            contact,
            d,
            agent.id,
        )
        await conn.execute("ANALYZE conversations")
    scopes = [
        Scope(role=Role.ADMIN, agent_id=agent.id, division_ids=frozenset()),
        Scope(role=Role.AGENT, agent_id=agent.id, division_ids=frozenset({d})),
        Scope(role=Role.SUPERVISOR, agent_id=agent.id, division_ids=frozenset({d})),
    ]

    async def plan(scope: Scope, f: queries.ListFilter) -> str:
        recorder = Recorder()
        await queries.search(recorder, scope, f)  # type: ignore[arg-type]
        async with ctx.pool.acquire() as conn:
            rows = await conn.fetch(f"EXPLAIN {recorder.sql}", *recorder.args)
        return "\n".join(r[0] for r in rows)

    cursor = (datetime.now(UTC) - timedelta(hours=1), UUID(int=0))
    for scope in scopes:
        for f in (
            queries.ListFilter(priorities=(Priority.URGENT,)),
            queries.ListFilter(status="open", priorities=(Priority.HIGH, Priority.URGENT)),
            queries.ListFilter(
                status="open", sort="priority", after=cursor, after_priority=Priority.MEDIUM
            ),
        ):
            found = await plan(scope, f)
            assert "conversations_priority_" in found, (scope.role, f, found)
            assert "Seq Scan on conversations" not in found, (scope.role, f, found)
