"""The audit trail: the rows mutating calls write, and GET /api/v1/activity."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import httpx

from omnistream.context import AppContext
from tests.conftest import PASSWORD, Actors, Agent, fields, problem

ACTIVITY = "/api/v1/activity"
NEW_PASSWORD = "another long secret 7"


async def rows(ctx: AppContext, action: str) -> list[dict[str, Any]]:
    async with ctx.pool.acquire() as conn:
        found = await conn.fetch(
            "SELECT agent_id, action, target_type, target_id, metadata_json AS metadata "
            "FROM activity_logs WHERE action = $1 ORDER BY created_at, id",
            action,
        )
    return [dict(r) for r in found]


async def only(ctx: AppContext, action: str) -> dict[str, Any]:
    found = await rows(ctx, action)
    assert len(found) == 1, found
    return found[0]


def expect(
    row: dict[str, Any], actor: UUID | None, target_type: str, target: Any, **metadata: Any
) -> None:
    want = {
        "agent_id": actor,
        "target_type": target_type,
        "target_id": UUID(str(target)) if target else None,
        "metadata": metadata,
    }
    assert {k: row[k] for k in want} == want


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_agent_actions_are_logged(client, ctx, actors: Actors, admin: Agent) -> None:
    r = await client.post(
        "/api/v1/agents",
        headers=admin.headers,
        json={"email": "Logged@Example.com", "name": "Logged", "password": PASSWORD},
    )
    new = r.json()["id"]
    expect(
        (await rows(ctx, "create_agent"))[-1],
        admin.id,
        "agent",
        new,
        email="logged@example.com",
        role="agent",
    )
    # A refused create (duplicate) writes nothing.
    await client.post(
        "/api/v1/agents",
        headers=admin.headers,
        json={"email": "logged@example.com", "name": "Again", "password": PASSWORD},
    )
    assert len(await rows(ctx, "create_agent")) == 2  # the admin fixture's own row + ours

    url = f"/api/v1/agents/{new}"
    await client.patch(url, json={"name": "Renamed", "role": "agent"}, headers=admin.headers)
    expect(await only(ctx, "update_agent"), admin.id, "agent", new, changes={"name": "Renamed"})

    target = await actors.make("agent")
    await client.patch(
        f"/api/v1/agents/{target.id}", json={"is_active": False}, headers=admin.headers
    )
    expect(
        await only(ctx, "deactivate_agent"),
        admin.id,
        "agent",
        target.id,
        changes={"is_active": False},
    )
    assert len(await rows(ctx, "update_agent")) == 1

    problem(
        await client.patch(
            f"/api/v1/agents/{admin.id}", json={"is_active": False}, headers=admin.headers
        ),
        409,
    )
    assert len(await rows(ctx, "deactivate_agent")) == 1  # the refused one left no trace

    await client.post(f"{url}/password", json={"password": NEW_PASSWORD}, headers=admin.headers)
    expect(await only(ctx, "reset_password"), admin.id, "agent", new, sessions_ended=0)
    other = await actors.make("supervisor")
    await actors.login(other)  # a second session
    await client.post(
        f"/api/v1/agents/{other.id}/password",
        json={"password": NEW_PASSWORD},
        headers=admin.headers,
    )
    expect((await rows(ctx, "reset_password"))[-1], admin.id, "agent", other.id, sessions_ended=2)
    r = await client.get(ACTIVITY, headers=admin.headers)
    assert NEW_PASSWORD not in r.text and PASSWORD not in r.text and "$argon2" not in r.text


async def test_division_actions_are_logged(client, ctx, actors: Actors, admin: Agent) -> None:
    agent = await actors.make("agent", login=False)
    r = await client.post("/api/v1/divisions", json={"name": " Sales "}, headers=admin.headers)
    division = r.json()["id"]
    expect(await only(ctx, "create_division"), admin.id, "division", division, name="Sales")
    problem(
        await client.post("/api/v1/divisions", json={"name": "sales"}, headers=admin.headers), 409
    )
    assert len(await rows(ctx, "create_division")) == 1

    url = f"/api/v1/divisions/{division}"
    await client.patch(url, json={"name": "Sales EU", "description": ""}, headers=admin.headers)
    expect(
        await only(ctx, "update_division"),
        admin.id,
        "division",
        division,
        changes={"name": "Sales EU"},
    )

    for _ in range(2):
        await client.put(f"{url}/members/{agent.id}", headers=admin.headers)
    expect(
        await only(ctx, "add_division_member"),
        admin.id,
        "division",
        division,
        agent_id=str(agent.id),
    )
    await client.delete(f"{url}/members/{agent.id}", headers=admin.headers)
    problem(await client.delete(f"{url}/members/{agent.id}", headers=admin.headers), 404)
    expect(
        await only(ctx, "remove_division_member"),
        admin.id,
        "division",
        division,
        agent_id=str(agent.id),
    )

    await client.put(f"{url}/members/{agent.id}", headers=admin.headers)
    await client.delete(url, headers=admin.headers)
    expect(
        await only(ctx, "delete_division"),
        admin.id,
        "division",
        division,
        name="Sales EU",
        members=1,
        quick_replies=0,
        sla_policies=0,
    )


async def test_logins_are_logged(client, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    row = await only(ctx, "login")
    async with ctx.pool.acquire() as conn:
        session = await conn.fetchval("SELECT id FROM auth_sessions WHERE agent_id = $1", agent.id)
    expect(row, agent.id, "agent", agent.id, ip="127.0.0.1", session_id=str(session))

    problem(await login(client, "Ghost@Example.com", PASSWORD), 401)
    expect(
        await only(ctx, "login_failed"),
        None,
        "agent",
        None,
        email="ghost@example.com",
        ip="127.0.0.1",
        reason="bad_credentials",
    )
    problem(await login(client, agent.email, "wrong password"), 401)
    expect(
        (await rows(ctx, "login_failed"))[-1],
        agent.id,
        "agent",
        agent.id,
        email=agent.email,
        ip="127.0.0.1",
        reason="bad_credentials",
    )
    async with ctx.pool.acquire() as conn:
        await conn.execute("UPDATE agents SET is_active = false WHERE id = $1", agent.id)
    problem(await login(client, agent.email, PASSWORD), 401)
    failed = await rows(ctx, "login_failed")
    assert len(failed) == 3 and failed[-1]["metadata"]["reason"] == "deactivated"
    assert len(await rows(ctx, "login")) == 1


async def activity(client: httpx.AsyncClient, admin: Agent, **params: Any) -> list[dict]:
    r = await client.get(ACTIVITY, params=params, headers=admin.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def populate(client: httpx.AsyncClient, actors: Actors, admin: Agent) -> dict[str, Any]:
    second = await actors.make("admin")
    made = {}
    for who, name in ((admin, "One"), (second, "Two"), (admin, "Three")):
        r = await client.post("/api/v1/divisions", json={"name": name}, headers=who.headers)
        made[name] = r.json()["id"]
    await client.patch(
        f"/api/v1/divisions/{made['One']}", json={"description": "x"}, headers=second.headers
    )
    return {"second": second, **made}


async def test_filters(client, actors: Actors, admin: Agent) -> None:
    seeded = await populate(client, actors, admin)
    second: Agent = seeded["second"]
    everything = await activity(client, admin)
    assert len(everything) == 8  # 2 create_agent, 2 login, 3 create_division, 1 update
    by_second = await activity(client, admin, agent_id=str(second.id))
    assert [(a["action"], a["target_id"]) for a in by_second] == [
        ("update_division", seeded["One"]),
        ("create_division", seeded["Two"]),
        ("login", str(second.id)),
    ]
    assert {a["agent_id"] for a in by_second} == {str(second.id)}
    created = await activity(client, admin, action="create_division")
    assert [a["metadata"]["name"] for a in created] == ["Three", "Two", "One"]
    assert len(await activity(client, admin, target_type="division")) == 4
    assert {a["action"] for a in await activity(client, admin, target_type="agent")} == {
        "create_agent",
        "login",
    }
    one = await activity(client, admin, target_id=seeded["One"])
    assert [a["action"] for a in one] == ["update_division", "create_division"]
    assert (
        await activity(
            client,
            admin,
            action="create_division",
            agent_id=str(second.id),
            target_id=seeded["One"],
        )
        == []
    )
    assert await activity(client, admin, agent_id=str(uuid4())) == []
    assert await activity(client, admin, action="no_such_action") == []
    problem(await client.get(ACTIVITY, params={"agent_id": "x"}, headers=admin.headers), 422)


async def test_since_and_until(client, actors: Actors, admin: Agent) -> None:
    await populate(client, actors, admin)
    items = await activity(client, admin)
    stamps = [datetime.fromisoformat(a["created_at"]) for a in items]
    assert all(s.tzinfo is not None for s in stamps)
    pivot = stamps[3]

    def expected(lo: datetime | None = None, hi: datetime | None = None) -> list[str]:
        pairs = zip(items, stamps, strict=True)
        return [a["id"] for a, s in pairs if (lo is None or s >= lo) and (hi is None or s < hi)]

    since = await activity(client, admin, since=pivot.isoformat())
    assert [a["id"] for a in since] == expected(lo=pivot) and len(since) == 4
    until = await activity(client, admin, until=pivot.isoformat())
    assert [a["id"] for a in until] == expected(hi=pivot) and len(until) == len(items) - 4
    window = await activity(client, admin, since=stamps[5].isoformat(), until=stamps[1].isoformat())
    assert [a["id"] for a in window] == expected(stamps[5], stamps[1])
    assert window
    # Another timezone denotes the same instant.
    shifted = pivot.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert await activity(client, admin, since=shifted.isoformat()) == since
    for bad in ("2024-01-01T00:00:00", "yesterday", "2024-13-01T00:00:00Z"):
        body = problem(
            await client.get(ACTIVITY, params={"since": bad}, headers=admin.headers), 422
        )
        assert fields(body) == {"since"}
    body = problem(
        await client.get(ACTIVITY, params={"until": "2024-01-01 10:00"}, headers=admin.headers), 422
    )
    assert fields(body) == {"until"}


async def test_pagination_newest_first(client, ctx, actors: Actors, admin: Agent) -> None:
    await populate(client, actors, admin)
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        r = await client.get(ACTIVITY, params=params, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) <= 3
        seen += r.json()["items"]
        pages += 1
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    async with ctx.pool.acquire() as conn:
        expected = [
            str(r["id"])
            for r in await conn.fetch(
                "SELECT id FROM activity_logs ORDER BY created_at DESC, id DESC"
            )
        ]
    assert [a["id"] for a in seen] == expected and len(expected) == 8 and pages == 3
    stamps = [datetime.fromisoformat(a["created_at"]) for a in seen]
    assert stamps == sorted(stamps, reverse=True)
    filtered = await activity(client, admin, action="create_division", limit=2)
    assert len(filtered) == 2
    agents_cursor = (
        await client.get("/api/v1/agents", params={"limit": 1}, headers=admin.headers)
    ).json()["next_cursor"]
    for bad in ("???", agents_cursor):
        body = problem(
            await client.get(ACTIVITY, params={"cursor": bad}, headers=admin.headers), 400
        )
        assert fields(body) == {"cursor"}
    problem(await client.get(ACTIVITY, params={"limit": 0}, headers=admin.headers), 422)


async def test_only_admins_read_activity(client, actors: Actors) -> None:
    for role in ("supervisor", "agent"):
        who = await actors.make(role)
        problem(await client.get(ACTIVITY, headers=who.headers), 403)
    problem(await client.get(ACTIVITY), 401)
    problem(await client.get(ACTIVITY, headers={"Authorization": "Bearer nonsense"}), 401)
