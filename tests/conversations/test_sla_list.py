"""The inbox list's SLA filters (sla=breached | due_soon) and sort=sla_due_at: real rows whose
due time is set straight in the database (the conversation's and its sla_schedule row, as
the SLA's store writes them), keyset pages that round-trip, visibility kept, 422 naming the
field, and plans that read the SLA schedule's index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from omnistream.conversations import queries
from omnistream.conversations.visibility import Scope
from omnistream.kit.enums import Role
from tests import factories
from tests.conftest import Actors, fields, problem

URL = "/api/v1/conversations"


async def due(ctx, conversation_id: UUID, at: datetime | None) -> None:
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            """
            WITH c AS (UPDATE conversations SET sla_first_response_due_at = $2
                        WHERE id = $1 RETURNING id)
            INSERT INTO sla_schedule (conversation_id, due_at) SELECT id, $2 FROM c
            ON CONFLICT (conversation_id) DO UPDATE SET due_at = EXCLUDED.due_at
            """,
            conversation_id,
            at,
        )


async def listed(client, headers: dict[str, str], **params: Any) -> list[UUID]:
    r = await client.get(URL, headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [UUID(i["id"]) for i in r.json()["items"]]


async def test_filters_and_sort_by_due_time(client, ctx, actors: Actors) -> None:
    admin = await actors.make("admin")
    now = datetime.now(UTC)
    minutes = {
        "overdue_long": -90,
        "overdue": -5,
        "soon": 10,
        "soon_edge": 29,
        "later": 45,
        "tomorrow": 24 * 60,
    }
    ids: dict[str, UUID] = {}
    for n, (name, m) in enumerate(minutes.items()):
        # last_message_at order differs from the due order: the sort is really by due time.
        ids[name] = await factories.conversation(ctx, last_message_at=now - timedelta(hours=n))
        await due(ctx, ids[name], now + timedelta(minutes=m))
    no_clock = await factories.conversation(ctx, last_message_at=now + timedelta(minutes=1))
    resolved = await factories.conversation(ctx, status="resolved")
    await due(ctx, resolved, now - timedelta(minutes=10))  # stale: resolved never counts

    by_due = [ids[k] for k in minutes]
    h = admin.headers
    # The filters keep the list's order (newest message first).
    assert await listed(client, h, sla="breached") == [ids["overdue_long"], ids["overdue"]]
    assert await listed(client, h, sla="due_soon") == [ids["soon"], ids["soon_edge"]]
    assert await listed(client, h, sort="sla_due_at") == by_due  # no clock: not listed
    assert await listed(client, h, sort="sla_due_at", sla="breached") == by_due[:2]
    assert await listed(client, h, sort="sla_due_at", sla="due_soon") == by_due[2:4]
    assert await listed(client, h, sla="breached", status="resolved") == []
    assert await listed(client, h, sla="breached", status="open") == [
        ids["overdue_long"],
        ids["overdue"],
    ]
    # The plain list is unchanged: every conversation, newest first.
    assert set(await listed(client, h)) == {*by_due, no_clock, resolved}

    # Keyset pages in due order: every one once, and the cursor round-trips.
    seen: list[UUID] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "sla_due_at", "limit": 4}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(URL, headers=h, params=params)
        body = r.json()
        seen += [UUID(i["id"]) for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == by_due


async def test_equal_due_times_page_by_id(client, ctx, actors: Actors) -> None:
    admin = await actors.make("admin")
    at = datetime.now(UTC) + timedelta(minutes=5)
    ids = [await factories.conversation(ctx) for _ in range(5)]
    for cid in ids:
        await due(ctx, cid, at)
    seen: list[UUID] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"sort": "sla_due_at", "sla": "due_soon", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get(URL, headers=admin.headers, params=params)).json()
        seen += [UUID(i["id"]) for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(ids)


async def test_visibility_still_applies(client, ctx, actors: Actors) -> None:
    mine_division = await factories.division(ctx)
    other_division = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[mine_division])
    colleague = await actors.make("agent", divisions=[mine_division])
    supervisor = await actors.make("supervisor", divisions=[mine_division])
    past = datetime.now(UTC) - timedelta(minutes=3)
    soon = datetime.now(UTC) + timedelta(minutes=3)
    cases = {
        "pool": (mine_division, None),
        "mine": (mine_division, agent.id),
        "colleague": (mine_division, colleague.id),
        "other_pool": (other_division, None),
        "nobody": (None, None),
    }
    breached, due_soon = {}, {}
    for name, (division, assignee) in cases.items():
        breached[name] = await factories.conversation(
            ctx, division_id=division, assigned_agent_id=assignee
        )
        await due(ctx, breached[name], past)
        due_soon[name] = await factories.conversation(
            ctx, division_id=division, assigned_agent_id=assignee
        )
        await due(ctx, due_soon[name], soon)
    sees = [
        (agent, {"pool", "mine", "nobody"}),
        (supervisor, {"pool", "mine", "colleague", "nobody"}),
    ]
    for who, names in sees:
        for params, made in (({"sla": "breached"}, breached), ({"sla": "due_soon"}, due_soon)):
            for extra in ({}, {"sort": "sla_due_at"}):
                got = set(await listed(client, who.headers, **params, **extra))
                assert got == {made[n] for n in names}, (who.role, params, extra)
        everything = {*breached.values(), *due_soon.values()}
        got = set(await listed(client, who.headers, sort="sla_due_at"))
        assert got == {c for c in everything if c in {breached[n] for n in names}} | {
            due_soon[n] for n in names
        }
    # The tabs' filters combine: the agent's own overdue ones, the pool's soon ones.
    assert await listed(client, agent.headers, sla="breached", assignee="me") == [breached["mine"]]
    assert set(await listed(client, agent.headers, sla="due_soon", assignee="unassigned")) == {
        due_soon["pool"],
        due_soon["nobody"],
    }


async def test_bad_values_name_the_field(client, actors: Actors) -> None:
    admin = await actors.make("admin")
    for params, field in (
        ({"sla": "late"}, "sla"),
        ({"sla": ""}, "sla"),
        ({"sort": "due"}, "sort"),
    ):
        body = problem(await client.get(URL, headers=admin.headers, params=params), 422)
        assert fields(body) == {field}, body
    # A cursor of another sort's shape is refused as a cursor, not an error 500.
    assert "cursor" in fields(
        problem(
            await client.get(
                URL, headers=admin.headers, params={"sort": "sla_due_at", "cursor": "WzFd"}
            ),
            400,
        )
    )


class Recorder:
    """Stands in for a connection to see the statement search() sends."""

    def __init__(self) -> None:
        self.sql = ""
        self.args: tuple[Any, ...] = ()

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.sql, self.args = sql, args
        return []


async def test_plans_read_the_sla_index(ctx, actors: Actors) -> None:
    """On an inbox of 20,000 conversations, nearly all open with an SLA clock (analyzed),
    the SLA statements read sla_schedule_due_idx: sort=sla_due_at in index order (no
    sequential read of conversations), the filters as ranges on it, for an admin (one
    branch) and an agent (several); the plain list does not touch the schedule."""
    d = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d], login=False)
    contact = await factories.contact(ctx)
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            """
            WITH c AS (
                INSERT INTO conversations (contact_id, channel, division_id, assigned_agent_id,
                                           status, resolved_at, last_message_at,
                                           sla_resolution_due_at)
                SELECT $1, 'whatsapp', CASE WHEN i % 3 = 0 THEN $2::uuid END,
                       CASE WHEN i % 7 = 0 THEN $3::uuid END,
                       CASE WHEN i % 50 = 0 THEN 'resolved' ELSE 'open' END,
                       CASE WHEN i % 50 = 0 THEN now() END,
                       now() - make_interval(secs => i),
                       CASE WHEN i % 50 <> 0 THEN now() + make_interval(mins => i % 2880 - 120) END
                  FROM generate_series(1, 20000) i
                RETURNING id, sla_resolution_due_at
            )
            INSERT INTO sla_schedule (conversation_id, due_at)
            SELECT id, sla_resolution_due_at FROM c WHERE sla_resolution_due_at IS NOT NULL
            """,
            contact,
            d,
            agent.id,
        )
        await conn.execute("ANALYZE conversations, sla_schedule")
    scopes = [
        Scope(role=Role.ADMIN, agent_id=agent.id, division_ids=frozenset()),
        Scope(role=Role.AGENT, agent_id=agent.id, division_ids=frozenset({d})),
    ]

    async def plan(scope: Scope, f: queries.ListFilter) -> str:
        recorder = Recorder()
        await queries.search(recorder, scope, f)  # type: ignore[arg-type]
        async with ctx.pool.acquire() as conn:
            rows = await conn.fetch(f"EXPLAIN {recorder.sql}", *recorder.args)
        return "\n".join(r[0] for r in rows)

    for scope in scopes:
        for f in (
            queries.ListFilter(sort="sla_due_at"),
            queries.ListFilter(sort="sla_due_at", sla="breached"),
            queries.ListFilter(sla="due_soon"),
        ):
            found = await plan(scope, f)
            assert "sla_schedule_due_idx" in found, (scope.role, f, found)
            if f.sort == "sla_due_at":  # pages in the index's order: no whole-inbox read
                assert "Seq Scan on conversations" not in found, (scope.role, f, found)
        assert "sla_schedule" not in await plan(scope, queries.ListFilter())
