"""Divisions API: CRUD, unique names, memberships, member listing and RBAC spot checks."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from omnistream.context import AppContext
from omnistream.quick_replies import service as quick_replies
from tests import factories
from tests.conftest import Actors, Agent, fields, problem

DIVISIONS = "/api/v1/divisions"


async def scalar(ctx: AppContext, sql: str, *args: Any) -> Any:
    async with ctx.pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def make(
    client: httpx.AsyncClient, admin: Agent, name: str, description: str = ""
) -> dict[str, Any]:
    r = await client.post(
        DIVISIONS, json={"name": name, "description": description}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def member(
    client: httpx.AsyncClient, admin: Agent, method: str, division: Any, agent: Any
) -> httpx.Response:
    url = f"{DIVISIONS}/{division}/members/{agent}"
    return await client.request(method, url, headers=admin.headers)


async def my_divisions(client: httpx.AsyncClient, agent: Agent) -> list[str]:
    r = await client.get("/api/v1/auth/me", headers=agent.headers)
    assert r.status_code == 200, r.text
    return [d["name"] for d in r.json()["divisions"]]


async def test_crud(client, ctx, admin: Agent) -> None:
    r = await client.post(
        DIVISIONS, json={"name": "  Support  ", "description": "Help desk"}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "Support" and created["description"] == "Help desk"
    assert created["member_count"] == 0
    url = f"{DIVISIONS}/{created['id']}"
    got = await client.get(url, headers=admin.headers)
    assert got.status_code == 200 and got.json() == created
    r = await client.patch(url, json={"name": "Customer Support"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Customer Support" and r.json()["description"] == "Help desk"
    r = await client.patch(url, json={"description": "All tickets"}, headers=admin.headers)
    assert r.json()["name"] == "Customer Support" and r.json()["description"] == "All tickets"
    assert (await client.get(url, headers=admin.headers)).json()["description"] == "All tickets"
    r = await client.delete(url, headers=admin.headers)
    assert r.status_code == 204 and r.content == b""
    problem(await client.get(url, headers=admin.headers), 404)
    problem(await client.delete(url, headers=admin.headers), 404)
    assert await scalar(ctx, "SELECT count(*) FROM divisions") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "ok", "description": "d" * 2001}, "description"),
    ],
)
async def test_create_validation(
    client, ctx, admin: Agent, body: dict[str, Any], field: str
) -> None:
    r = await client.post(DIVISIONS, json=body, headers=admin.headers)
    assert fields(problem(r, 422)) == {field}
    assert await scalar(ctx, "SELECT count(*) FROM divisions") == 0


async def test_duplicate_names_ignore_case(client, ctx, admin: Agent) -> None:
    sales = await make(client, admin, "Sales")
    for name in ("Sales", "SALES", " sales "):
        r = await client.post(DIVISIONS, json={"name": name}, headers=admin.headers)
        assert fields(problem(r, 409)) == {"name"}
        assert r.json()["errors"][0]["type"] == "taken"
    assert await scalar(ctx, "SELECT count(*) FROM divisions") == 1
    billing = await make(client, admin, "Billing")
    url = f"{DIVISIONS}/{billing['id']}"
    r = await client.patch(url, json={"name": "sAlEs"}, headers=admin.headers)
    assert fields(problem(r, 409)) == {"name"}
    assert (await client.get(url, headers=admin.headers)).json()["name"] == "Billing"
    for blank in ("", "   "):
        r = await client.patch(url, json={"name": blank}, headers=admin.headers)
        assert fields(problem(r, 422)) == {"name"}
    # Renaming a division to another case of its own name is not a conflict.
    r = await client.patch(
        f"{DIVISIONS}/{sales['id']}", json={"name": "SALES"}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["name"] == "SALES"


async def test_unknown_and_malformed_ids(client, actors: Actors, admin: Agent) -> None:
    missing = uuid4()
    agent = await actors.make("agent", login=False)
    url = f"{DIVISIONS}/{missing}"
    problem(await client.get(url, headers=admin.headers), 404)
    problem(await client.patch(url, json={"name": "X"}, headers=admin.headers), 404)
    problem(await client.delete(url, headers=admin.headers), 404)
    problem(await client.get(f"{url}/members", headers=admin.headers), 404)
    problem(await member(client, admin, "PUT", missing, agent.id), 404)
    problem(await member(client, admin, "DELETE", missing, agent.id), 404)
    body = problem(await client.get(f"{DIVISIONS}/nope", headers=admin.headers), 422)
    assert fields(body) == {"division_id"}
    division = await make(client, admin, "Ops")
    assert "agent_id" in fields(
        problem(await member(client, admin, "PUT", division["id"], "x"), 422)
    )


async def test_membership(client, ctx, actors: Actors, admin: Agent) -> None:
    agent = await actors.make("agent")
    ops = await make(client, admin, "Ops")
    alpha = await make(client, admin, "Alpha")
    assert await my_divisions(client, agent) == []
    for _ in range(2):  # PUT is idempotent
        r = await member(client, admin, "PUT", ops["id"], agent.id)
        assert r.status_code == 204, r.text
    assert (await client.get(f"{DIVISIONS}/{ops['id']}", headers=admin.headers)).json()[
        "member_count"
    ] == 1
    assert await my_divisions(client, agent) == ["Ops"]
    assert (await member(client, admin, "PUT", alpha["id"], agent.id)).status_code == 204
    assert await my_divisions(client, agent) == ["Alpha", "Ops"]
    r = await member(client, admin, "DELETE", ops["id"], agent.id)
    assert r.status_code == 204, r.text
    assert await my_divisions(client, agent) == ["Alpha"]
    problem(await member(client, admin, "DELETE", ops["id"], agent.id), 404)  # not a member
    problem(await member(client, admin, "PUT", ops["id"], uuid4()), 404)  # unknown agent
    problem(await member(client, admin, "DELETE", ops["id"], uuid4()), 404)
    assert await scalar(ctx, "SELECT count(*) FROM agent_divisions") == 1
    listed = (await client.get(DIVISIONS, headers=admin.headers)).json()["items"]
    assert {d["name"]: d["member_count"] for d in listed} == {"Alpha": 1, "Ops": 0}


async def test_delete_division_removes_memberships(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    agent = await actors.make("agent")
    doomed = await make(client, admin, "Doomed")
    kept = await make(client, admin, "Kept")
    for d in (doomed, kept):
        assert (await member(client, admin, "PUT", d["id"], agent.id)).status_code == 204
    assert await my_divisions(client, agent) == ["Doomed", "Kept"]
    assert (
        await client.delete(f"{DIVISIONS}/{doomed['id']}", headers=admin.headers)
    ).status_code == 204
    assert await my_divisions(client, agent) == ["Kept"]
    r = await client.get(f"/api/v1/agents/{agent.id}/divisions", headers=admin.headers)
    assert [d["name"] for d in r.json()] == ["Kept"]
    assert (
        await scalar(
            ctx, "SELECT count(*) FROM agent_divisions WHERE division_id = $1", doomed["id"]
        )
        == 0
    )
    # The agent itself survives the division.
    assert (
        await client.get(f"/api/v1/agents/{agent.id}", headers=admin.headers)
    ).status_code == 200


async def test_a_division_with_conversations_is_not_deleted(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    agent = await actors.make("agent")
    busy, other = await make(client, admin, "Busy"), await make(client, admin, "Other")
    assert (await member(client, admin, "PUT", busy["id"], agent.id)).status_code == 204
    conversation = await factories.conversation(ctx, division_id=busy["id"], status="resolved")
    url = f"{DIVISIONS}/{busy['id']}"
    body = problem(await client.delete(url, headers=admin.headers), 409)
    assert "1 conversation:" in body["detail"] and "transfer" in body["detail"]
    # Nothing was removed: the division, its member, the conversation's division.
    assert (await client.get(url, headers=admin.headers)).status_code == 200
    assert await my_divisions(client, agent) == ["Busy"]
    assert await scalar(
        ctx, "SELECT division_id FROM conversations WHERE id = $1", conversation
    ) == UUID(busy["id"])
    # Once its conversations are elsewhere, it goes.
    r = await client.post(
        f"/api/v1/conversations/{conversation}/transfer",
        json={"division_id": other["id"], "reason": "division closes"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert (await client.delete(url, headers=admin.headers)).status_code == 204


async def test_members_pagination(client, actors: Actors, admin: Agent) -> None:
    division = await make(client, admin, "Team")
    outsider = await actors.make("agent", login=False)
    added = [await actors.make("agent", login=False) for _ in range(5)]
    for a in added:
        assert (await member(client, admin, "PUT", division["id"], a.id)).status_code == 204
    url = f"{DIVISIONS}/{division['id']}/members"
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = await client.get(url, params=params, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) <= 2
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert sorted(m["id"] for m in seen) == sorted(str(a.id) for a in added)
    assert str(outsider.id) not in {m["id"] for m in seen}
    keys = [(m["name"], m["id"]) for m in seen]
    assert len(set(keys)) == 5
    assert set(seen[0]) == {"id", "email", "name", "role", "is_active", "joined_at"}
    r = await client.get(url, params={"cursor": "%%%"}, headers=admin.headers)
    assert fields(problem(r, 400)) == {"cursor"}


async def test_list_divisions_search_and_pages(client, admin: Agent) -> None:
    for name, desc in (("Alpha", ""), ("Beta", "night shift"), ("Gamma", ""), ("Delta", "")):
        await make(client, admin, name, desc)
    r = await client.get(DIVISIONS, params={"q": "NIGHT"}, headers=admin.headers)
    assert [d["name"] for d in r.json()["items"]] == ["Beta"]
    r = await client.get(DIVISIONS, params={"q": "ta"}, headers=admin.headers)
    assert [d["name"] for d in r.json()["items"]] == ["Beta", "Delta"]
    names: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(DIVISIONS, params=params, headers=admin.headers)).json()
        names += [d["name"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == ["Alpha", "Beta", "Delta", "Gamma"]


async def test_rbac(client, actors: Actors, admin: Agent) -> None:
    division = await make(client, admin, "Existing")
    target = await actors.make("agent", login=False)
    supervisor = await actors.make("supervisor")
    agent = await actors.make("agent")
    d_url = f"{DIVISIONS}/{division['id']}"
    a_url = f"/api/v1/agents/{target.id}"
    reads = [
        ("GET", "/api/v1/agents", None),
        ("GET", a_url, None),
        ("GET", DIVISIONS, None),
        ("GET", d_url, None),
        ("GET", f"{d_url}/members", None),
        ("GET", f"{a_url}/divisions", None),
    ]
    writes = [
        (
            "POST",
            "/api/v1/agents",
            {"email": "n@example.com", "name": "N", "password": "long enough pw"},
        ),
        ("PATCH", a_url, {"name": "Hacked"}),
        ("POST", f"{a_url}/password", {"password": "long enough pw"}),
        ("POST", DIVISIONS, {"name": "New"}),
        ("PATCH", d_url, {"name": "Hacked"}),
        ("DELETE", d_url, None),
        ("PUT", f"{d_url}/members/{target.id}", None),
        ("DELETE", f"{d_url}/members/{target.id}", None),
        ("GET", "/api/v1/activity", None),
    ]
    for method, url, body in reads:
        r = await client.request(method, url, json=body, headers=supervisor.headers)
        assert r.status_code == 200, (method, url, r.text)
    for who, calls in ((supervisor, writes), (agent, reads + writes)):
        for method, url, body in calls:
            r = await client.request(method, url, json=body, headers=who.headers)
            problem(r, 403)
    for method, url, body in reads + writes:
        r = await client.request(method, url, json=body)
        problem(r, 401)
        assert r.headers.get("www-authenticate") == "Bearer"
    # Nothing was changed by the refused calls.
    got = (await client.get(d_url, headers=admin.headers)).json()
    assert got["name"] == "Existing" and got["member_count"] == 0
    assert (await client.get(a_url, headers=admin.headers)).json()["name"] != "Hacked"
    assert len((await client.get(DIVISIONS, headers=admin.headers)).json()["items"]) == 1


async def test_delete_division_deletes_its_quick_replies_with_events(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    doomed, kept = await make(client, admin, "Doomed"), await make(client, admin, "Kept")
    agent = await actors.make("agent", divisions=[doomed["id"]])
    replies = {}
    for title, division in (("Refund", doomed), ("hello", doomed), ("Stay", kept), ("All", None)):
        body = {"title": title, "body": "Text", "division_id": division and division["id"]}
        r = await client.post("/api/v1/quick-replies", json=body, headers=admin.headers)
        assert r.status_code == 201, r.text
        replies[title] = r.json()["id"]
    r = await client.put(
        f"/api/v1/quick-replies/{replies['Refund']}/favorite", headers=agent.headers
    )
    assert r.status_code == 204
    before = await scalar(ctx, "SELECT max(pos) FROM event_outbox")
    r = await client.delete(f"{DIVISIONS}/{doomed['id']}", headers=admin.headers)
    assert r.status_code == 204, r.text
    async with ctx.pool.acquire() as conn:
        left = await conn.fetch("SELECT title FROM quick_replies ORDER BY title")
        events = await conn.fetch(
            "SELECT type, data, actor, audience FROM event_outbox WHERE pos > $1 ORDER BY pos",
            before,
        )
        logs = await conn.fetch(
            "SELECT agent_id, action, target_id, metadata_json FROM activity_logs "
            "WHERE action IN ('delete_quick_reply', 'delete_division') "
            "ORDER BY action DESC, lower(metadata_json->>'title')"
        )
    assert [r["title"] for r in left] == ["All", "Stay"]
    assert await scalar(ctx, "SELECT count(*) FROM agent_favorite_replies") == 0
    assert [(e["type"], e["data"]) for e in events] == [
        (
            "quick_reply.deleted",
            {
                "quick_reply": {"id": replies[title], "division_id": doomed["id"], "title": title},
                "reason": "division_deleted",
            },
        )
        for title in ("hello", "Refund")  # by title, ignoring case
    ]
    audience = [{"division_id": doomed["id"], "assigned_agent_id": None}]  # who could read them
    assert all(e["actor"]["id"] == str(admin.id) and e["audience"] == audience for e in events)
    assert [(g["action"], str(g["target_id"])) for g in logs] == [
        ("delete_quick_reply", replies["hello"]),
        ("delete_quick_reply", replies["Refund"]),
        ("delete_division", doomed["id"]),
    ]
    assert {g["agent_id"] for g in logs} == {admin.id}
    assert logs[0]["metadata_json"] == {
        "title": "hello",
        "division_id": doomed["id"],
        "division_deleted": True,
    }
    assert logs[2]["metadata_json"]["quick_replies"] == 2


async def test_a_quick_reply_created_during_the_delete_is_refused(
    client, ctx, admin: Agent, monkeypatch
) -> None:
    doomed = await make(client, admin, "Doomed")
    # The delete pauses after removing the division's replies, before the division itself.
    removed, go_on = asyncio.Event(), asyncio.Event()
    original = quick_replies.delete_with_division

    async def paused(*args: Any) -> int:
        count = await original(*args)
        removed.set()
        await go_on.wait()
        return count

    monkeypatch.setattr(quick_replies, "delete_with_division", paused)
    deleting = asyncio.create_task(
        client.delete(f"{DIVISIONS}/{doomed['id']}", headers=admin.headers)
    )
    await removed.wait()
    body = {"title": "Late", "body": "Text", "division_id": doomed["id"]}
    creating = asyncio.create_task(
        client.post("/api/v1/quick-replies", json=body, headers=admin.headers)
    )
    await asyncio.sleep(0.3)
    assert not creating.done()  # waits on the division's row lock
    go_on.set()
    assert (await deleting).status_code == 204
    assert fields(problem(await creating, 422)) == {"division_id"}
    assert await scalar(ctx, "SELECT count(*) FROM quick_replies") == 0


async def test_an_unchanged_patch_writes_nothing_and_unknown_fields_are_refused(
    client, ctx, admin: Agent
) -> None:
    made = await make(client, admin, f"Quiet {uuid4().hex[:6]}", "Same")
    url = f"{DIVISIONS}/{made['id']}"
    before = (await client.get(url, headers=admin.headers)).json()
    for same in ({}, {"description": " Same "}, {"name": f" {made['name']} "}):
        r = await client.patch(url, json=same, headers=admin.headers)
        assert r.status_code == 200 and r.json() == before, (same, r.text)
    logged = await scalar(
        ctx,
        "SELECT count(*) FROM activity_logs WHERE target_id = $1 AND action = 'update_division'",
        UUID(made["id"]),
    )
    assert logged == 0
    body = problem(await client.patch(url, json={"colour": "red"}, headers=admin.headers), 422)
    assert fields(body) == {"colour"}
    r = await client.post(DIVISIONS, json={"name": "X", "members": []}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"members"}


async def test_delete_division_deletes_its_sla_policies_with_events(
    client, ctx, admin: Agent
) -> None:
    doomed, kept = await make(client, admin, "Doomed"), await make(client, admin, "Kept")
    made = {}
    for name, division in (("Doomed WA", doomed), ("Kept", kept), ("Default", None)):
        body = {
            "name": name,
            "division_id": division and division["id"],
            "first_response_minutes": 30,
            "resolution_minutes": 600,
        }
        r = await client.post("/api/v1/sla/policies", json=body, headers=admin.headers)
        assert r.status_code == 201, r.text
        made[name] = r.json()["id"]
    before = await scalar(ctx, "SELECT max(pos) FROM event_outbox")
    r = await client.delete(f"{DIVISIONS}/{doomed['id']}", headers=admin.headers)
    assert r.status_code == 204, r.text
    listed = (await client.get("/api/v1/sla/policies", headers=admin.headers)).json()
    assert sorted(p["name"] for p in listed) == ["Default", "Kept"]
    async with ctx.pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT type, data, audience FROM event_outbox WHERE pos > $1 AND type LIKE 'sla%'",
            before,
        )
        logs = await conn.fetch(
            "SELECT action, target_id, metadata_json FROM activity_logs "
            "WHERE action IN ('delete_sla_policy', 'delete_division') ORDER BY action DESC"
        )
    assert [(e["type"], e["data"], e["audience"]) for e in events] == [
        (
            "sla_policy.deleted",
            {"policy_id": made["Doomed WA"], "reason": "division_deleted"},
            [{"admins": True}],
        )
    ]
    assert [(g["action"], str(g["target_id"])) for g in logs] == [
        ("delete_sla_policy", made["Doomed WA"]),
        ("delete_division", doomed["id"]),
    ]
    assert logs[0]["metadata_json"]["reason"] == "division_deleted"
    assert logs[1]["metadata_json"]["sla_policies"] == 1
