"""The opt-out list: numbers added through the API and by an agent from a conversation,
listed and removed; whether a contact's number is out; every change an activity-log entry
and a live event that reaches staff and exactly the agents who see the number's contact."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from omnistream.context import AppContext
from omnistream.conversations.visibility import Scope, Viewer, parse_audience
from omnistream.kit.enums import Role
from tests.conftest import fields, problem


async def fetch(ctx: AppContext, sql: str, *args: Any) -> list[Any]:
    async with ctx.pool.acquire() as conn:
        return list(await conn.fetch(sql, *args))


async def contact_in(ctx: AppContext, phone: str, name: str, division: UUID | None) -> UUID:
    """A contact with a WhatsApp conversation (in `division`, unassigned)."""
    async with ctx.pool.acquire() as conn:
        contact_id: UUID = await conn.fetchval(
            "INSERT INTO contacts (phone, name) VALUES ($1, $2) RETURNING id", phone, name
        )
        await conn.execute(
            "INSERT INTO conversations (contact_id, channel, division_id) "
            "VALUES ($1, 'whatsapp', $2)",
            contact_id,
            division,
        )
    return contact_id


async def opt_out_events(ctx: AppContext, phone: str) -> list[Any]:
    return await fetch(
        ctx,
        "SELECT type, data, audience, actor->>'id' AS actor_id FROM event_outbox "
        "WHERE type LIKE 'campaign_opt_out.%' AND data->'opt_out'->>'phone' = $1 ORDER BY seq",
        phone,
    )


async def test_opt_outs_by_the_api_and_by_an_agent(ctx: AppContext, client, admin, actors) -> None:
    agent = await actors.make("agent")
    r = problem(
        await client.post("/api/v1/campaign-opt-outs", json={"phone": "12"}, headers=admin.headers),
        422,
    )
    assert fields(r) == {"phone"}
    r = await client.post(
        "/api/v1/campaign-opt-outs",
        json={"phone": "+62 812-3456-7890", "note": "asked by email"},
        headers=admin.headers,
    )
    assert r.status_code == 201 and r.json()["phone"] == "6281234567890"
    assert r.json()["reason"] == "api"
    problem(
        await client.post(
            "/api/v1/campaign-opt-outs", json={"phone": "081234567890"}, headers=admin.headers
        ),
        409,
    )
    listed = (
        await client.get("/api/v1/campaign-opt-outs", params={"q": "812"}, headers=admin.headers)
    ).json()
    assert [x["phone"] for x in listed["items"]] == ["6281234567890"]
    contact_id = await contact_in(ctx, "6281111111111", "Ani", None)
    r = await client.put(f"/api/v1/contacts/{contact_id}/opt-out", headers=agent.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["phone"], r.json()["reason"], r.json()["created_by"]) == (
        "6281111111111",
        "agent",
        str(agent.id),
    )
    deleted = await client.delete("/api/v1/campaign-opt-outs/6281234567890", headers=admin.headers)
    assert deleted.status_code == 204
    problem(
        await client.delete("/api/v1/campaign-opt-outs/6281234567890", headers=admin.headers), 404
    )
    log = await fetch(
        ctx,
        "SELECT action, metadata_json->>'phone' AS phone FROM activity_logs "
        "WHERE target_type = 'campaign_opt_out' AND metadata_json->>'phone' LIKE '628%' "
        "ORDER BY created_at",
    )
    assert [(x["action"], x["phone"]) for x in log] == [
        ("opt_out", "6281234567890"),
        ("opt_out", "6281111111111"),
        ("opt_in", "6281234567890"),
    ]


async def test_an_agent_reads_whether_a_contact_opted_out(
    ctx: AppContext, client, admin, actors
) -> None:
    agent = await actors.make("agent")
    contact_id = await contact_in(ctx, "6281222222222", "Rani", None)
    path = f"/api/v1/contacts/{contact_id}/opt-out"
    before = await client.get(path, headers=agent.headers)
    assert before.status_code == 200, before.text
    assert before.json() == {
        "contact_id": str(contact_id),
        "phone": "6281222222222",
        "opted_out": False,
        "opt_out": None,
    }
    assert (await client.put(path, headers=agent.headers)).status_code == 200
    again = await client.put(path, headers=agent.headers)  # already out: the same answer
    assert again.status_code == 200 and again.json()["reason"] == "agent"
    got = (await client.get(path, headers=agent.headers)).json()
    assert got["opted_out"] is True and got["opt_out"]["phone"] == "6281222222222"
    assert got["opt_out"]["reason"] == "agent" and got["opt_out"]["created_by"] == str(agent.id)
    assert len(await opt_out_events(ctx, "6281222222222")) == 1  # the second PUT changed nothing
    # Without a number: never sent to, and nothing to opt out.
    async with ctx.pool.acquire() as conn:
        bare = await conn.fetchval("INSERT INTO contacts (name) VALUES ('Tanpa') RETURNING id")
    got = (await client.get(f"/api/v1/contacts/{bare}/opt-out", headers=admin.headers)).json()
    assert (got["phone"], got["opted_out"], got["opt_out"]) == (None, False, None)
    r = problem(await client.put(f"/api/v1/contacts/{bare}/opt-out", headers=admin.headers), 422)
    assert fields(r) == {"contact_id"}


async def test_each_change_is_announced_to_who_sees_the_number(
    ctx: AppContext, client, admin, actors
) -> None:
    """Staff hear of every opt-out; an agent only of a number whose conversation they see
    (a division of theirs), whoever opted it out, and its removal as well."""
    async with ctx.pool.acquire() as conn:
        sales, support = [
            await conn.fetchval("INSERT INTO divisions (name) VALUES ($1) RETURNING id", n)
            for n in ("Sales opt-out", "Support opt-out")
        ]
    seller = await actors.make("agent", divisions=[sales])
    helper = await actors.make("agent", divisions=[support])
    boss = await actors.make("supervisor", divisions=[support])
    phone = "6281333333333"
    contact_id = await contact_in(ctx, phone, "Sinta", sales)
    assert (
        await client.put(f"/api/v1/contacts/{contact_id}/opt-out", headers=seller.headers)
    ).status_code == 200
    assert (
        await client.delete(f"/api/v1/campaign-opt-outs/{phone}", headers=admin.headers)
    ).status_code == 204
    added, removed = await opt_out_events(ctx, phone)
    assert (added["type"], removed["type"]) == (
        "campaign_opt_out.created",
        "campaign_opt_out.deleted",
    )
    assert (added["actor_id"], removed["actor_id"]) == (str(seller.id), str(admin.id))
    for event in (added, removed):
        data = event["data"]
        assert data["contact_id"] == str(contact_id)
        assert (data["opt_out"]["reason"], data["opt_out"]["created_by"]) == (
            "agent",
            str(seller.id),
        )
    scopes = {
        "admin": (Scope(Role.ADMIN, admin.id, frozenset()), True),
        "supervisor of another division": (
            Scope(Role.SUPERVISOR, boss.id, frozenset({support})),
            True,
        ),
        "agent who sees it": (Scope(Role.AGENT, seller.id, frozenset({sales})), True),
        "agent who does not": (Scope(Role.AGENT, helper.id, frozenset({support})), False),
    }
    for who, (scope, sees) in scopes.items():
        for event in (added, removed):
            states = parse_audience(event["audience"])
            assert Viewer.of(scope).sees(states) is sees, (who, event["type"])
            assert scope.can_see_any(event["audience"]) is sees, (who, event["type"])
    # A number no contact has: staff only.
    r = await client.post("/api/v1/campaign-opt-outs", json={"phone": "+6281344444444"},
                          headers=admin.headers)  # fmt: skip
    assert r.status_code == 201
    [lone] = await opt_out_events(ctx, "6281344444444")
    assert lone["data"]["contact_id"] is None
    assert Viewer.of(scopes["agent who sees it"][0]).sees(parse_audience(lone["audience"])) is False
    assert Viewer.of(scopes["supervisor of another division"][0]).sees(
        parse_audience(lone["audience"])
    )
