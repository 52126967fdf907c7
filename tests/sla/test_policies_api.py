"""The SLA policies API: create, list, get, change and delete policies (admins only), one per
(channel, division) pair, fields validated where they are named, every change an activity
entry and an admins-only event, open conversations marked for the breach loop, and the
public-holiday calendars for business hours."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from fastapi import FastAPI

from omnistream.context import AppContext
from omnistream.sla import policy_service
from tests.conftest import Actors, Agent, fields, problem

BASE = "/api/v1/sla/policies"
JAKARTA_OFFICE = {
    "timezone": "Asia/Jakarta",
    "always": False,
    "weekly": {d: [{"start": "08:00", "end": "17:00"}] for d in ("mon", "tue", "wed", "thu")},
    "holidays": ["2026-08-17"],
}


def policy(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Default",
        "first_response_minutes": 30,
        "resolution_minutes": 1440,
    }
    return body | overrides


async def fetch(ctx: AppContext, sql: str, *args: Any) -> list[Any]:
    async with ctx.pool.acquire() as conn:
        return list(await conn.fetch(sql, *args))


async def division(ctx: AppContext, name: str) -> UUID:
    async with ctx.pool.acquire() as conn:
        division_id: UUID = await conn.fetchval(
            "INSERT INTO divisions (name) VALUES ($1) RETURNING id", name
        )
    return division_id


async def conversation(ctx: AppContext, policy_id: str, status: str = "open") -> UUID:
    """A conversation row under the policy, its next check far away."""
    resolved = datetime.now(UTC) if status == "resolved" else None
    async with ctx.pool.acquire() as conn:
        contact_id = await conn.fetchval(
            "INSERT INTO contacts (phone, name) VALUES ($1, 'Ani') RETURNING id",
            f"62812{uuid4().int % 10**8:08d}",
        )
        conversation_id: UUID = await conn.fetchval(
            "WITH c AS (INSERT INTO conversations (contact_id, channel, status, resolved_at, "
            "sla_policy_id) VALUES ($1, 'whatsapp', $2, $3, $4) RETURNING id), "
            "s AS (INSERT INTO sla_schedule (conversation_id, check_at) "
            "SELECT id, now() + interval '3 days' FROM c) "
            "SELECT id FROM c",
            contact_id,
            status,
            resolved,
            UUID(policy_id),
        )
    return conversation_id


async def create(client: httpx.AsyncClient, admin: Agent, **overrides: Any) -> dict[str, Any]:
    r = await client.post(BASE, json=policy(**overrides), headers=admin.headers)
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made


async def test_create_list_get_update_delete(ctx: AppContext, client, admin) -> None:
    sales = await division(ctx, "Sales")
    default = await create(client, admin)
    assert default["channel"] is None and default["division_id"] is None
    assert default["priority"] == 1 and default["warning_percent"] == 80
    assert default["next_response_minutes"] is None and default["division_name"] is None
    # The spec's default: Monday to Saturday 08:00-17:00 in Jakarta.
    hours = default["business_hours"]
    assert hours["timezone"] == "Asia/Jakarta" and hours["always"] is False
    assert sorted(hours["weekly"]) == ["fri", "mon", "sat", "thu", "tue", "wed"]
    assert default["created_by"] == str(admin.id)

    whatsapp = await create(client, admin, name="  WhatsApp  ", channel="whatsapp")
    assert whatsapp["name"] == "WhatsApp" and whatsapp["priority"] == 2
    in_sales = await create(
        client,
        admin,
        name="Sales",
        division_id=str(sales),
        next_response_minutes=60,
        warning_percent=75,
        business_hours=JAKARTA_OFFICE,
    )
    assert in_sales["division_name"] == "Sales" and in_sales["priority"] == 2
    assert in_sales["business_hours"] == JAKARTA_OFFICE
    both = await create(
        client, admin, name="Sales on WhatsApp", channel="whatsapp", division_id=str(sales)
    )
    assert both["priority"] == 4

    listed = (await client.get(BASE, headers=admin.headers)).json()
    # Most specific first; on a tie the division policy before the channel policy.
    assert [p["name"] for p in listed] == ["Sales on WhatsApp", "Sales", "WhatsApp", "Default"]
    got = await client.get(f"{BASE}/{in_sales['id']}", headers=admin.headers)
    assert got.status_code == 200 and got.json() == in_sales

    r = await client.patch(
        f"{BASE}/{in_sales['id']}",
        json={"first_response_minutes": 15, "next_response_minutes": None, "name": "Sales team"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert (changed["first_response_minutes"], changed["next_response_minutes"]) == (15, None)
    assert changed["name"] == "Sales team" and changed["business_hours"] == JAKARTA_OFFICE
    assert changed["updated_at"] > in_sales["updated_at"]
    # Moving a policy to another pair (channel added: more specific).
    r = await client.patch(
        f"{BASE}/{whatsapp['id']}", json={"channel": "email"}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["channel"] == "email"
    r = await client.patch(
        f"{BASE}/{default['id']}", json={"business_hours": {"always": True}}, headers=admin.headers
    )
    assert r.json()["business_hours"]["always"] is True

    assert (await client.delete(f"{BASE}/{both['id']}", headers=admin.headers)).status_code == 204
    problem(await client.get(f"{BASE}/{both['id']}", headers=admin.headers), 404)
    problem(await client.delete(f"{BASE}/{both['id']}", headers=admin.headers), 404)
    problem(await client.patch(f"{BASE}/{both['id']}", json={}, headers=admin.headers), 404)
    assert len((await client.get(BASE, headers=admin.headers)).json()) == 3


async def test_an_edit_that_changes_nothing_writes_nothing(ctx: AppContext, client, admin) -> None:
    made = await create(client, admin)
    r = await client.patch(
        f"{BASE}/{made['id']}",
        json={"name": "Default", "first_response_minutes": 30, "channel": None},
        headers=admin.headers,
    )
    assert r.status_code == 200 and r.json() == made
    rows = await fetch(ctx, "SELECT type FROM event_outbox WHERE type LIKE 'sla_policy.%'")
    assert [r["type"] for r in rows] == ["sla_policy.created"]


async def test_invalid_fields_are_named(ctx: AppContext, client, admin) -> None:
    cases: list[tuple[dict[str, Any], set[str]]] = [
        (policy(first_response_minutes=0), {"first_response_minutes"}),
        (policy(resolution_minutes=525_601), {"resolution_minutes"}),
        (policy(next_response_minutes=-5), {"next_response_minutes"}),
        (policy(warning_percent=100), {"warning_percent"}),
        (policy(name="   "), {"name"}),
        (policy(channel="telegram"), {"channel"}),
        (policy(division_id="nope"), {"division_id"}),
        (policy(colour="red"), {"colour"}),
        (policy(business_hours={"timezone": "Asia/Jakart"}), {"business_hours.timezone"}),
        (
            policy(business_hours={"weekly": {"mon": [{"start": "25:00", "end": "17:00"}]}}),
            {"business_hours.weekly.mon.0.start"},
        ),
        (
            policy(business_hours={"weekly": {"mon": [{"start": "09:00", "end": "09:00"}]}}),
            {"business_hours.weekly.mon.0.end"},
        ),
        ({"name": "x", "resolution_minutes": 60}, {"first_response_minutes"}),
    ]
    for body, named in cases:
        r = problem(await client.post(BASE, json=body, headers=admin.headers), 422)
        assert fields(r) == named, (body, r)
    unknown = problem(
        await client.post(BASE, json=policy(division_id=str(uuid4())), headers=admin.headers),
        422,
    )
    assert fields(unknown) == {"division_id"} and "no division" in unknown["detail"]
    assert await fetch(ctx, "SELECT id FROM sla_policies") == []
    made = await create(client, admin)
    for body, named in [
        ({"first_response_minutes": None}, {"first_response_minutes"}),
        ({"business_hours": None}, {"business_hours"}),
        ({"name": None}, {"name"}),
        ({"division_id": str(uuid4())}, {"division_id"}),
        ({"priority": 4}, {"priority"}),
    ]:
        r = await client.patch(f"{BASE}/{made['id']}", json=body, headers=admin.headers)
        assert fields(problem(r, 422)) == named, body
    problem(await client.get(f"{BASE}/not-an-id", headers=admin.headers), 422)


async def test_one_policy_per_channel_and_division(ctx: AppContext, client, admin) -> None:
    sales = str(await division(ctx, "Sales"))
    default = await create(client, admin)
    taken = problem(await client.post(BASE, json=policy(name="Other"), headers=admin.headers), 409)
    assert default["id"] in taken["detail"] and "'Default'" in taken["detail"]
    assert taken["existing_policy_id"] == default["id"]
    assert fields(taken) == {"channel", "division_id"}
    pair = await create(client, admin, name="Sales WA", channel="whatsapp", division_id=sales)
    r = await client.post(
        BASE,
        json=policy(name="Again", channel="whatsapp", division_id=sales),
        headers=admin.headers,
    )
    assert pair["id"] in problem(r, 409)["detail"]
    names = [r["name"] for r in await fetch(ctx, "SELECT name FROM sla_policies ORDER BY name")]
    assert names == ["Default", "Sales WA"]
    # Changing a policy's pair into a taken one.
    email = await create(client, admin, name="Email", channel="email")
    r = await client.patch(
        f"{BASE}/{email['id']}", json={"channel": None, "name": "Renamed"}, headers=admin.headers
    )
    assert default["id"] in problem(r, 409)["detail"]
    r = await client.patch(
        f"{BASE}/{email['id']}",
        json={"channel": "whatsapp", "division_id": sales},
        headers=admin.headers,
    )
    assert pair["id"] in problem(r, 409)["detail"]
    unchanged = (await client.get(f"{BASE}/{email['id']}", headers=admin.headers)).json()
    assert unchanged == email
    events = await fetch(ctx, "SELECT type FROM event_outbox WHERE type LIKE 'sla_policy.%'")
    assert [e["type"] for e in events] == ["sla_policy.created"] * 3
    actions = await fetch(ctx, "SELECT action FROM activity_logs WHERE target_type = 'sla_policy'")
    assert len(actions) == 3


async def test_only_admins(ctx: AppContext, client, admin, actors: Actors) -> None:
    sales = await division(ctx, "Sales")
    made = await create(client, admin)
    supervisor = await actors.make("supervisor", divisions=[sales])
    agent = await actors.make("agent", divisions=[sales])
    one = f"{BASE}/{made['id']}"
    for who in (supervisor, agent):
        for r in [
            await client.get(BASE, headers=who.headers),
            await client.post(BASE, json=policy(name="Mine"), headers=who.headers),
            await client.get(one, headers=who.headers),
            await client.patch(one, json={"name": "Mine"}, headers=who.headers),
            await client.delete(one, headers=who.headers),
            await client.get(
                "/api/v1/sla/holidays", params={"country": "ID", "year": 2026}, headers=who.headers
            ),
        ]:
            problem(r, 403)
    problem(await client.get(BASE), 401)
    assert len(await fetch(ctx, "SELECT id FROM sla_policies")) == 1


async def test_activity_and_events_for_admins_only(ctx: AppContext, client, admin) -> None:
    made = await create(client, admin, channel="instagram")
    await client.patch(f"{BASE}/{made['id']}", json={"warning_percent": 90}, headers=admin.headers)
    await client.delete(f"{BASE}/{made['id']}", headers=admin.headers)
    events = await fetch(
        ctx,
        "SELECT type, data, audience, actor->>'id' AS actor_id FROM event_outbox "
        "WHERE type LIKE 'sla_policy.%' ORDER BY seq",
    )
    assert [e["type"] for e in events] == [
        "sla_policy.created",
        "sla_policy.updated",
        "sla_policy.deleted",
    ]
    assert all(e["audience"] == [{"admins": True}] for e in events)
    assert all(e["actor_id"] == str(admin.id) for e in events)
    assert events[0]["data"] == {"policy": made}
    assert events[1]["data"]["changed"] == ["warning_percent"]
    assert events[1]["data"]["policy"]["warning_percent"] == 90
    assert events[2]["data"] == {"policy_id": made["id"]}
    entries = await fetch(
        ctx,
        "SELECT action, target_type, target_id, agent_id, metadata_json FROM activity_logs "
        "WHERE target_type = 'sla_policy' ORDER BY created_at",
    )
    assert [e["action"] for e in entries] == [
        "create_sla_policy",
        "update_sla_policy",
        "delete_sla_policy",
    ]
    assert {str(e["target_id"]) for e in entries} == {made["id"]}
    assert {e["agent_id"] for e in entries} == {admin.id}
    assert entries[0]["metadata_json"]["channel"] == "instagram"
    assert entries[1]["metadata_json"]["changed"] == ["warning_percent"]


async def test_open_conversations_are_rechecked(ctx: AppContext, client, admin) -> None:
    made = await create(client, admin)
    other = await create(client, admin, name="Email", channel="email")
    open_one = await conversation(ctx, made["id"])
    resolved = await conversation(ctx, made["id"], "resolved")
    elsewhere = await conversation(ctx, other["id"])

    async def check_at(conversation_id: UUID) -> datetime:
        rows = await fetch(
            ctx, "SELECT check_at FROM sla_schedule WHERE conversation_id = $1", conversation_id
        )
        value: datetime = rows[0]["check_at"]
        return value

    later = datetime.now(UTC) + timedelta(days=2)
    # A new name changes no clock: nothing to look at again.
    await client.patch(f"{BASE}/{made['id']}", json={"name": "Renamed"}, headers=admin.headers)
    assert await check_at(open_one) > later
    await client.patch(
        f"{BASE}/{made['id']}", json={"resolution_minutes": 600}, headers=admin.headers
    )
    assert abs(await check_at(open_one) - datetime.now(UTC)) < timedelta(seconds=30)
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE sla_schedule SET check_at = now() + interval '3 days' "
            "WHERE conversation_id = $1",
            open_one,
        )
    assert (await client.delete(f"{BASE}/{made['id']}", headers=admin.headers)).status_code == 204
    rows = await fetch(
        ctx,
        "SELECT c.id, c.sla_policy_id, s.check_at AS sla_check_at FROM conversations c "
        "JOIN sla_schedule s ON s.conversation_id = c.id WHERE c.id = ANY($1::uuid[])",
        [open_one, resolved, elsewhere],
    )
    by_id = {r["id"]: r for r in rows}
    assert by_id[open_one]["sla_policy_id"] is None
    assert abs(by_id[open_one]["sla_check_at"] - datetime.now(UTC)) < timedelta(seconds=30)
    assert by_id[resolved]["sla_policy_id"] is None and by_id[resolved]["sla_check_at"] > later
    assert by_id[elsewhere]["sla_policy_id"] == UUID(other["id"])
    assert by_id[elsewhere]["sla_check_at"] > later


async def test_public_holidays(client, admin) -> None:
    url = "/api/v1/sla/holidays"
    r = await client.get(url, params={"country": "id", "year": 2026}, headers=admin.headers)
    assert r.status_code == 200, r.text
    days = r.json()
    assert "2026-08-17" in [d["date"] for d in days]
    assert [d["date"] for d in days] == sorted(d["date"] for d in days)
    assert all(d["name"] for d in days)
    for params, named in [
        ({"country": "XX", "year": 2026}, {"country"}),
        ({"country": "Indonesia", "year": 2026}, {"country"}),
        ({"country": "ID", "year": 1999}, {"year"}),
        ({"country": "ID"}, {"year"}),
        ({"country": "ID", "year": 2026, "subdivision": "ZZ"}, {"subdivision"}),
    ]:
        r = await client.get(url, params=params, headers=admin.headers)
        assert fields(problem(r, 422)) == named, params
    r = await client.get(
        url, params={"country": "US", "year": 2026, "subdivision": "CA"}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()


async def test_openapi_lists_every_status(app: FastAPI) -> None:
    doc = app.openapi()
    expected = {
        ("get", BASE): {401, 403},
        ("post", BASE): {400, 401, 403, 409, 413, 422},
        ("get", BASE + "/{policy_id}"): {401, 403, 404, 422},
        ("patch", BASE + "/{policy_id}"): {400, 401, 403, 404, 409, 413, 422},
        ("delete", BASE + "/{policy_id}"): {401, 403, 404, 422},
        ("get", "/api/v1/sla/holidays"): {401, 403, 422},
    }
    for (method, path), statuses in expected.items():
        responses = doc["paths"][path][method]["responses"]
        assert {int(c) for c in responses if int(c) >= 400} == statuses, (method, path)


async def test_concurrent_creates_of_one_pair(ctx: AppContext, client, admin) -> None:
    """Both may pass the check before either writes: the unique key answers the second."""
    answers = await asyncio.gather(
        *(client.post(BASE, json=policy(name=f"Twin {n}"), headers=admin.headers) for n in range(2))
    )
    assert sorted(r.status_code for r in answers) == [201, 409]
    assert len(await fetch(ctx, "SELECT id FROM sla_policies")) == 1


async def test_the_unique_key_answers_when_the_check_was_passed(
    ctx: AppContext, client, admin, monkeypatch
) -> None:
    """The race's loser, made certain: without the check the insert's savepoint catches the
    unique violation, names the existing policy, and the transaction goes on to 409."""
    made = await create(client, admin)

    async def passed(*_: Any, **__: Any) -> None:
        return None

    monkeypatch.setattr(policy_service, "_check_scope", passed)
    r = await client.post(BASE, json=policy(name="Twin"), headers=admin.headers)
    assert made["id"] in problem(r, 409)["detail"]
    r = await client.post(BASE, json=policy(division_id=str(uuid4())), headers=admin.headers)
    assert fields(problem(r, 422)) == {"division_id"}
    assert len(await fetch(ctx, "SELECT id FROM sla_policies")) == 1
