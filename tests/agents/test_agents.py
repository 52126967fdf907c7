"""Agents API: creation, validation, updates, password resets, listing and the last-admin rule."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import httpx

from omnistream.context import AppContext
from tests.conftest import PASSWORD, Actors, Agent, fields, problem

AGENTS = "/api/v1/agents"
NEW_PASSWORD = "brand new secret 42"


async def scalar(ctx: AppContext, sql: str, *args: Any) -> Any:
    async with ctx.pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def count_agents(ctx: AppContext) -> int:
    return int(await scalar(ctx, "SELECT count(*) FROM agents"))


def assert_no_secret(r: httpx.Response) -> None:
    assert "password" not in r.text and "$argon2" not in r.text, r.text


async def create(client: httpx.AsyncClient, admin: Agent, **overrides: Any) -> httpx.Response:
    body = {
        "email": f"new-{uuid4().hex[:6]}@example.com",
        "name": "New Agent",
        "password": PASSWORD,
        **overrides,
    }
    return await client.post(AGENTS, json=body, headers=admin.headers)


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_create_agent_returns_it_without_secrets(client, ctx, admin: Agent) -> None:
    r = await create(
        client, admin, email="  Jane.Doe@Example.COM ", name=" Jane ", role="supervisor"
    )
    assert r.status_code == 201, r.text
    assert_no_secret(r)
    body = r.json()
    assert body["email"] == "jane.doe@example.com" and body["name"] == "Jane"
    assert body["role"] == "supervisor" and body["is_active"] is True
    assert body["last_seen_at"] is None and set(body) >= {"id", "created_at", "updated_at"}
    got = await client.get(f"{AGENTS}/{body['id']}", headers=admin.headers)
    assert got.status_code == 200 and got.json() == body
    assert_no_secret(got)
    listed = await client.get(AGENTS, headers=admin.headers)
    assert_no_secret(listed)
    assert (await login(client, "jane.doe@example.com", PASSWORD)).status_code == 200
    assert (await create(client, admin)).json()["role"] == "agent"  # the default role


MISSING = object()


async def test_create_validation_names_the_field_and_writes_nothing(
    client, ctx, admin: Agent
) -> None:
    before = await count_agents(ctx)
    cases: list[tuple[str, Any]] = [
        ("email", MISSING),
        ("email", "not-an-email"),
        ("email", "a@"),
        ("name", MISSING),
        ("name", ""),
        ("name", "   "),
        ("password", MISSING),
        ("password", "short"),
        ("role", "owner"),
    ]
    for field, value in cases:
        body = {"email": "x@example.com", "name": "X", "password": PASSWORD, field: value}
        body = {k: v for k, v in body.items() if v is not MISSING}
        r = await client.post(AGENTS, json=body, headers=admin.headers)
        assert fields(problem(r, 422)) == {field}, (field, value, r.text)
    assert await count_agents(ctx) == before
    logged = await scalar(ctx, "SELECT count(*) FROM activity_logs WHERE action = 'create_agent'")
    assert logged == before


async def test_duplicate_email_any_case_conflicts(client, ctx, admin: Agent) -> None:
    assert (await create(client, admin, email="dup@example.com")).status_code == 201
    before = await count_agents(ctx)
    for email in ("dup@example.com", "DUP@Example.com"):
        body = problem(await create(client, admin, email=email), 409)
        assert fields(body) == {"email"}
        assert body["errors"][0]["type"] == "taken"  # what clients translate by
    assert await count_agents(ctx) == before


async def test_unknown_and_malformed_ids(client, admin: Agent) -> None:
    missing = uuid4()
    problem(await client.get(f"{AGENTS}/{missing}", headers=admin.headers), 404)
    r = await client.patch(f"{AGENTS}/{missing}", json={"name": "X"}, headers=admin.headers)
    problem(r, 404)
    r = await client.post(
        f"{AGENTS}/{missing}/password", json={"password": NEW_PASSWORD}, headers=admin.headers
    )
    problem(r, 404)
    problem(await client.get(f"{AGENTS}/{missing}/divisions", headers=admin.headers), 404)
    body = problem(await client.get(f"{AGENTS}/not-a-uuid", headers=admin.headers), 422)
    assert fields(body) == {"agent_id"}
    r = await client.patch(f"{AGENTS}/123", json={"name": "X"}, headers=admin.headers)
    assert "agent_id" in fields(problem(r, 422))


async def test_update_name_role_and_active(client, actors: Actors, admin: Agent) -> None:
    other = await actors.make("agent", login=False)
    url = f"{AGENTS}/{other.id}"
    r = await client.patch(url, json={"name": "  Renamed  "}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed" and r.json()["role"] == "agent"
    r = await client.patch(url, json={"role": "supervisor"}, headers=admin.headers)
    assert r.json()["role"] == "supervisor" and r.json()["name"] == "Renamed"
    r = await client.patch(url, json={"is_active": False}, headers=admin.headers)
    assert r.json()["is_active"] is False
    r = await client.patch(url, json={"is_active": True}, headers=admin.headers)
    assert r.json()["is_active"] is True
    got = (await client.get(url, headers=admin.headers)).json()
    assert (got["name"], got["role"], got["is_active"]) == ("Renamed", "supervisor", True)
    for bad, field in (
        ({"role": "root"}, "role"),
        ({"name": ""}, "name"),
        ({"name": "  "}, "name"),
        ({"is_active": "maybe"}, "is_active"),
    ):
        assert field in fields(
            problem(await client.patch(url, json=bad, headers=admin.headers), 422)
        )
    assert (await login(client, other.email, PASSWORD)).status_code == 200  # active again


async def test_reset_password_ends_sessions(client, actors: Actors, admin: Agent) -> None:
    target = await actors.make("supervisor")
    assert (await client.get("/api/v1/auth/me", headers=target.headers)).status_code == 200
    r = await client.post(
        f"{AGENTS}/{target.id}/password", json={"password": "short"}, headers=admin.headers
    )
    assert fields(problem(r, 422)) == {"password"}
    assert (await client.get("/api/v1/auth/me", headers=target.headers)).status_code == 200
    r = await client.post(
        f"{AGENTS}/{target.id}/password", json={"password": NEW_PASSWORD}, headers=admin.headers
    )
    assert r.status_code == 204, r.text
    problem(await client.get("/api/v1/auth/me", headers=target.headers), 401)
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": target.refresh})
    problem(r, 401)
    problem(await login(client, target.email, PASSWORD), 401)
    assert (await login(client, target.email, NEW_PASSWORD)).status_code == 200
    # The admin's own session is untouched.
    assert (await client.get("/api/v1/auth/me", headers=admin.headers)).status_code == 200


async def test_deactivation_ends_access_refresh_and_login(
    client, actors: Actors, admin: Agent
) -> None:
    target = await actors.make("agent")
    assert (await client.get("/api/v1/auth/me", headers=target.headers)).status_code == 200
    r = await client.patch(
        f"{AGENTS}/{target.id}", json={"is_active": False}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    problem(await client.get("/api/v1/auth/me", headers=target.headers), 401)
    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": target.refresh}), 401)
    problem(await login(client, target.email, PASSWORD), 401)


async def seed(actors: Actors, names: list[str], role: str = "agent") -> list[Agent]:
    made = [await actors.make(role, login=False) for _ in names]
    async with actors.ctx.pool.acquire() as conn:
        for agent, name in zip(made, names, strict=True):
            await conn.execute("UPDATE agents SET name = $2 WHERE id = $1", agent.id, name)
    return made


async def ids(client: httpx.AsyncClient, admin: Agent, **params: Any) -> set[UUID]:
    r = await client.get(AGENTS, params=params, headers=admin.headers)
    assert r.status_code == 200, r.text
    return {UUID(a["id"]) for a in r.json()["items"]}


async def test_list_search_and_filters(client, ctx, actors: Actors, admin: Agent) -> None:
    zoe, zed = await seed(actors, ["Zoe Walker", "Zed Stone"])
    sup = await actors.make("supervisor", email="boss.person@corp.example", login=False)
    pct = (await seed(actors, ["100% Sure"]))[0]
    assert await ids(client, admin, q="walk") == {zoe.id}
    assert await ids(client, admin, q="ZE") == {zed.id}
    assert await ids(client, admin, q="CORP.exam") == {sup.id}
    assert await ids(client, admin, q="%") == {pct.id}  # wildcards are literal
    assert await ids(client, admin, q="nobody-matches") == set()
    assert await ids(client, admin, role="supervisor") == {sup.id}
    assert await ids(client, admin, role="admin") == {admin.id}
    problem(await client.get(AGENTS, params={"role": "boss"}, headers=admin.headers), 422)
    await client.patch(f"{AGENTS}/{zed.id}", json={"is_active": False}, headers=admin.headers)
    assert await ids(client, admin, is_active="false") == {zed.id}
    assert zed.id not in await ids(client, admin, is_active="true")
    r = await client.post("/api/v1/divisions", json={"name": "Sales"}, headers=admin.headers)
    division = r.json()["id"]
    await client.put(f"/api/v1/divisions/{division}/members/{zoe.id}", headers=admin.headers)
    await client.put(f"/api/v1/divisions/{division}/members/{sup.id}", headers=admin.headers)
    assert await ids(client, admin, division_id=division) == {zoe.id, sup.id}
    assert await ids(client, admin, division_id=division, role="agent") == {zoe.id}
    assert await ids(client, admin, division_id=str(uuid4())) == set()
    assert len(await ids(client, admin)) == await count_agents(ctx) == 5


async def test_keyset_pagination_walks_every_agent_once(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    await seed(actors, ["Carol", "alice", "Bob", "Bob", "Bob", "Dave", "Eve"])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = await client.get(AGENTS, params=params, headers=admin.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [a["id"] for a in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    async with ctx.pool.acquire() as conn:
        expected = [
            str(r["id"]) for r in await conn.fetch("SELECT id FROM agents ORDER BY name, id")
        ]
    assert seen == expected and len(set(seen)) == 8
    assert pages == 4
    for bad in ("garbage!!", "W10", "WyJhIl0", "eyJhIjogMX0"):
        body = problem(await client.get(AGENTS, params={"cursor": bad}, headers=admin.headers), 400)
        assert fields(body) == {"cursor"}
    for limit in (0, 201):
        assert "limit" in fields(
            problem(await client.get(AGENTS, params={"limit": limit}, headers=admin.headers), 422)
        )


async def test_agent_divisions(client, actors: Actors, admin: Agent) -> None:
    agent = await actors.make("agent", login=False)
    url = f"{AGENTS}/{agent.id}/divisions"
    r = await client.get(url, headers=admin.headers)
    assert r.status_code == 200 and r.json() == []
    made = {}
    for name in ("Support", "Billing"):
        r = await client.post("/api/v1/divisions", json={"name": name}, headers=admin.headers)
        made[name] = r.json()["id"]
        await client.put(
            f"/api/v1/divisions/{made[name]}/members/{agent.id}", headers=admin.headers
        )
    r = await client.get(url, headers=admin.headers)
    assert r.json() == [
        {"id": made["Billing"], "name": "Billing"},
        {"id": made["Support"], "name": "Support"},
    ]


async def test_last_admin_cannot_be_demoted_or_deactivated(client, ctx, admin: Agent) -> None:
    url = f"{AGENTS}/{admin.id}"
    for change, field in (
        ({"role": "supervisor"}, "role"),
        ({"is_active": False}, "is_active"),
        ({"role": "agent", "is_active": False}, "role"),
    ):
        body = problem(await client.patch(url, json=change, headers=admin.headers), 409)
        assert fields(body) == {field}
    got = (await client.get(url, headers=admin.headers)).json()
    assert got["role"] == "admin" and got["is_active"] is True
    changed = await scalar(
        ctx,
        "SELECT count(*) FROM activity_logs WHERE target_id = $1 "
        "AND action IN ('update_agent', 'deactivate_agent')",
        admin.id,
    )
    assert changed == 0
    # Changes that keep the admin an active admin are fine.
    r = await client.patch(
        url, json={"name": "Still Admin", "role": "admin"}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["name"] == "Still Admin"


async def test_with_two_admins_one_may_be_demoted(client, actors: Actors, admin: Agent) -> None:
    second = await actors.make("admin")
    r = await client.patch(f"{AGENTS}/{admin.id}", json={"role": "agent"}, headers=second.headers)
    assert r.status_code == 200 and r.json()["role"] == "agent"
    problem(await client.get(AGENTS, headers=admin.headers), 403)  # demoted at once
    r = await client.patch(f"{AGENTS}/{second.id}", json={"role": "agent"}, headers=second.headers)
    problem(r, 409)


async def test_concurrent_mutual_deactivation_keeps_an_admin(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    second = await actors.make("admin")
    for a in (admin, second):  # warm both principals so neither request waits to authenticate
        assert (await client.get("/api/v1/auth/me", headers=a.headers)).status_code == 200
    results = await asyncio.gather(
        client.patch(f"{AGENTS}/{second.id}", json={"is_active": False}, headers=admin.headers),
        client.patch(f"{AGENTS}/{admin.id}", json={"is_active": False}, headers=second.headers),
    )
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    problem(next(r for r in results if r.status_code == 409), 409)
    active = await scalar(ctx, "SELECT count(*) FROM agents WHERE role = 'admin' AND is_active")
    assert active == 1


async def test_an_empty_or_unchanged_patch_writes_nothing_and_unknown_fields_are_refused(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    other = await actors.make("agent", login=False)
    url = f"{AGENTS}/{other.id}"
    before = (await client.get(url, headers=admin.headers)).json()
    for same in ({}, {"name": None}, {"name": f"  {before['name']} "}, {"role": "agent"}):
        r = await client.patch(url, json=same, headers=admin.headers)
        assert r.status_code == 200 and r.json() == before, (same, r.text)
    logged = await scalar(
        ctx,
        "SELECT count(*) FROM activity_logs WHERE target_id = $1 AND action LIKE 'update%'",
        other.id,
    )
    assert logged == 0
    for unknown in ({"email": "new@example.com"}, {"password_hash": "x"}):
        body = problem(await client.patch(url, json=unknown, headers=admin.headers), 422)
        assert fields(body) == set(unknown)
    r = await create(client, admin, is_admin=True)
    assert fields(problem(r, 422)) == {"is_admin"}
    assert (await client.get(url, headers=admin.headers)).json() == before
