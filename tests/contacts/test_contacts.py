"""Contacts API: normalisation, duplicates (also concurrent), search, pages, visibility,
merge, delete, and the events and audit rows every change writes."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from omnistream.context import AppContext
from tests import factories
from tests.conftest import Actors, Agent, fields, problem

CONTACTS = "/api/v1/contacts"


async def scalar(ctx: AppContext, sql: str, *args: Any) -> Any:
    async with ctx.pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def outbox(ctx: AppContext, event_type: str) -> list[dict[str, Any]]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT data, audience, actor FROM event_outbox WHERE type = $1 ORDER BY pos",
            event_type,
        )
    return [dict(r) for r in rows]


async def activity(ctx: AppContext, action: str) -> list[dict[str, Any]]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT agent_id, target_id, metadata_json AS metadata FROM activity_logs "
            "WHERE action = $1 ORDER BY created_at, id",
            action,
        )
    return [dict(r) for r in rows]


async def create(client: httpx.AsyncClient, who: Agent, **body: Any) -> dict[str, Any]:
    r = await client.post(CONTACTS, json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def merge(client: httpx.AsyncClient, who: Agent, into: Any, other: Any) -> httpx.Response:
    body = {"other_contact_id": str(other)}
    return await client.post(f"{CONTACTS}/{into}/merge", json=body, headers=who.headers)


async def walk(client: httpx.AsyncClient, who: Agent, **params: Any) -> list[dict[str, Any]]:
    """Every page of the list; each page is checked against the limit."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        r = await client.get(CONTACTS, params=query, headers=who.headers)
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) <= params.get("limit", 50)
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return seen


async def test_create_get_and_created_event(client, ctx, admin: Agent) -> None:
    created = await create(
        client,
        admin,
        name="  Budi Santoso ",
        phone="0812-3456-7890",
        email=" Budi@Example.COM ",
        profile_pic_url="https://cdn.example.com/budi.jpg",
        identities=[
            {"channel": "instagram", "external_id": "ig-1"},
            {"channel": "instagram", "external_id": "ig-1"},  # repeated: stored once
            {"channel": "messenger", "external_id": "psid-9"},
        ],
    )
    assert created["name"] == "Budi Santoso"
    assert created["phone"] == "6281234567890" and created["email"] == "budi@example.com"
    assert [(i["channel"], i["external_id"]) for i in created["identities"]] == [
        ("instagram", "ig-1"),
        ("messenger", "psid-9"),
    ]
    got = await client.get(f"{CONTACTS}/{created['id']}", headers=admin.headers)
    assert got.status_code == 200 and got.json() == created
    (event,) = await outbox(ctx, "contact.created")
    assert event["data"] == created and event["audience"] == []
    assert event["actor"]["id"] == str(admin.id)
    (log,) = await activity(ctx, "create_contact")
    assert log["agent_id"] == admin.id and log["target_id"] == UUID(created["id"])
    assert log["metadata"]["phone"] == "6281234567890"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("0812-3456-7890", "6281234567890"),
        ("+62 812 3456 7890", "6281234567890"),
        ("6281234567890", "6281234567890"),
        ("(021) 555-1234", "62215551234"),
        ("+1 (415) 555-2671", "14155552671"),
        ("14155552671", "14155552671"),
    ],
)
async def test_phone_normalisation(client, admin: Agent, raw: str, stored: str) -> None:
    assert (await create(client, admin, phone=raw))["phone"] == stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "not a number"}, "phone"),
        ({"phone": "   "}, "phone"),
        ({"phone": "0" * 41}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a" * 320 + "@example.com"}, "email"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul\u0000byte"}, "name"),
        ({"name": "A", "profile_pic_url": "ftp://example.com/a.png"}, "profile_pic_url"),
        ({"identities": [{"channel": "fax", "external_id": "1"}]}, "identities.0.channel"),
        (
            {"identities": [{"channel": "instagram", "external_id": "x" * 201}]},
            "identities.0.external_id",
        ),
    ],
)
async def test_create_validation(
    client, ctx, admin: Agent, body: dict[str, Any], field: str
) -> None:
    r = await client.post(CONTACTS, json=body, headers=admin.headers)
    assert fields(problem(r, 422)) == {field}
    assert await scalar(ctx, "SELECT count(*) FROM contacts") == 0
    assert await outbox(ctx, "contact.created") == []


async def test_duplicates_answer_409_naming_the_holder(client, ctx, admin: Agent) -> None:
    first = await create(
        client, admin, name="First", phone="081234567890", email="budi@example.com",
        identities=[{"channel": "instagram", "external_id": "ig-42"}],
    )  # fmt: skip
    cases = [
        ({"phone": "+62 812-3456-7890"}, {"phone"}),
        ({"email": "BUDI@example.com"}, {"email"}),
        (
            {"identities": [{"channel": "instagram", "external_id": "ig-42"}]},
            {"identities.0.external_id"},
        ),
        ({"phone": "6281234567890", "email": "Budi@Example.com"}, {"phone", "email"}),
    ]
    for body, names in cases:
        r = await client.post(CONTACTS, json={"name": "Dup", **body}, headers=admin.headers)
        err = problem(r, 409)
        assert fields(err) == names and err["existing_contact_id"] == first["id"]
    # The same identity id on another channel is a different identity.
    await create(client, admin, identities=[{"channel": "messenger", "external_id": "ig-42"}])
    other = await create(client, admin, name="Other", phone="+6285700001111")
    url = f"{CONTACTS}/{other['id']}"
    err = problem(
        await client.patch(url, json={"phone": "0812 3456 7890"}, headers=admin.headers), 409
    )
    assert fields(err) == {"phone"} and err["existing_contact_id"] == first["id"]
    assert (await client.get(url, headers=admin.headers)).json()["phone"] == "6285700001111"
    assert await scalar(ctx, "SELECT count(*) FROM contacts") == 3


async def test_concurrent_duplicates_one_wins(client, ctx, admin: Agent) -> None:
    async def post(body: dict[str, Any]) -> httpx.Response:
        return await client.post(CONTACTS, json=body, headers=admin.headers)

    for a, b in (
        ({"phone": "0812-1111-2222"}, {"phone": "+62 812 1111 2222"}),
        ({"email": "race@example.com"}, {"email": "RACE@example.com"}),
        ({"identities": [{"channel": "instagram", "external_id": "r"}]},) * 2,
    ):
        results = await asyncio.gather(post(a), post(b))
        assert sorted(r.status_code for r in results) == [201, 409], [r.text for r in results]
        winner = next(r for r in results if r.status_code == 201).json()
        loser = next(r for r in results if r.status_code == 409).json()
        assert loser["existing_contact_id"] == winner["id"]
    assert await scalar(ctx, "SELECT count(*) FROM contacts") == 3
    assert len(await outbox(ctx, "contact.created")) == 3


async def test_search_is_partial_case_insensitive_and_knows_phones(client, admin: Agent) -> None:
    await create(client, admin, name="Budi Santoso", phone="0812-3456-7890", email="budi@x.id")
    await create(client, admin, name="Siti Aminah", email="siti@Mail.com")
    await create(client, admin, name="Andi", phone="+62 857 0000 1111")
    await create(
        client, admin, name="Insta", identities=[{"channel": "instagram", "external_id": "IG-77"}]
    )
    cases = {
        "budi": ["Budi Santoso"],
        "SANTO": ["Budi Santoso"],
        "mail.COM": ["Siti Aminah"],
        "0812 3456": ["Budi Santoso"],
        "6281234": ["Budi Santoso"],
        "+62 857": ["Andi"],
        "1111": ["Andi"],
        "ig-7": ["Insta"],
        "DI": ["Andi", "Budi Santoso"],
        "%": [],
        "zzz": [],
    }
    for q, names in cases.items():
        r = await client.get(CONTACTS, params={"q": q}, headers=admin.headers)
        assert [c["name"] for c in r.json()["items"]] == names, q
    for bad in ("x" * 201, "nul\u0000"):
        r = await client.get(CONTACTS, params={"q": bad}, headers=admin.headers)
        assert fields(problem(r, 422)) == {"q"}


async def test_pagination_walk_and_filters(client, ctx, admin: Agent) -> None:
    names = ["Gita", "Adi", "Eka", "Budi", "Fajar", "Citra", "Dewi"]
    ids = {n: (await create(client, admin, name=n))["id"] for n in names}
    seen = await walk(client, admin, limit=3)
    assert [c["name"] for c in seen] == sorted(names)
    assert len({c["id"] for c in seen}) == 7
    r = await client.get(CONTACTS, params={"cursor": "not-a-cursor"}, headers=admin.headers)
    assert fields(problem(r, 400)) == {"cursor"}
    problem(await client.get(CONTACTS, params={"limit": 0}, headers=admin.headers), 422)
    division = await factories.division(ctx)
    await factories.conversation(ctx, contact_id=UUID(ids["Eka"]), division_id=division)
    await factories.conversation(ctx, contact_id=UUID(ids["Adi"]), channel="instagram")
    r = await client.get(CONTACTS, params={"division_id": str(division)}, headers=admin.headers)
    assert [c["name"] for c in r.json()["items"]] == ["Eka"]
    r = await client.get(CONTACTS, params={"channel": "instagram"}, headers=admin.headers)
    assert [c["name"] for c in r.json()["items"]] == ["Adi"]


async def test_agent_sees_contacts_of_conversations_they_may_see(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    div_a, div_b = await factories.division(ctx), await factories.division(ctx)
    agent = await actors.make("agent", divisions=[div_a])
    colleague = await actors.make("agent", login=False, divisions=[div_a])
    supervisor = await actors.make("supervisor")
    made: dict[str, str] = {}
    for name, division, assignee in (
        ("pool-a", div_a, None),
        ("other-division", div_b, None),
        ("colleague-owns", div_a, colleague.id),
        ("mine-in-b", div_b, agent.id),
        ("no-division", None, None),
    ):
        made[name] = (await create(client, admin, name=name))["id"]
        await factories.conversation(
            ctx, contact_id=UUID(made[name]), division_id=division, assigned_agent_id=assignee
        )
    made["no-conversation"] = (await create(client, admin, name="no-conversation"))["id"]
    visible = {"pool-a", "mine-in-b", "no-division"}
    assert {c["name"] for c in await walk(client, agent, limit=2)} == visible
    for who in (supervisor, admin):
        assert {c["name"] for c in await walk(client, who)} == set(made)
    for name, contact_id in made.items():
        url = f"{CONTACTS}/{contact_id}"
        r = await client.get(url, headers=agent.headers)
        if name in visible:
            assert r.status_code == 200 and r.json()["name"] == name
        else:
            problem(r, 404)
            problem(await client.patch(url, json={"name": "x"}, headers=agent.headers), 404)
    assert (await client.get(f"{CONTACTS}/{made['other-division']}", headers=admin.headers)).json()[
        "name"
    ] == "other-division"
    # An agent may create a contact; it is theirs to see once it has a conversation.
    r = await client.post(CONTACTS, json={"name": "Walk-in"}, headers=agent.headers)
    assert r.status_code == 201 and r.json()["name"] == "Walk-in"
    problem(await client.get(f"{CONTACTS}/{r.json()['id']}", headers=agent.headers), 404)


async def test_update_writes_event_and_audit(client, ctx, actors: Actors, admin: Agent) -> None:
    division = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[division])
    contact = await create(client, admin, name="Old", phone="081200001111", email="old@example.com")
    await factories.conversation(ctx, contact_id=UUID(contact["id"]), division_id=division)
    await factories.conversation(ctx, contact_id=UUID(contact["id"]), assigned_agent_id=agent.id)
    url = f"{CONTACTS}/{contact['id']}"
    r = await client.patch(
        url,
        json={"name": " New ", "phone": "+62 812-0000-2222", "email": None},
        headers=agent.headers,
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert (updated["name"], updated["phone"], updated["email"]) == ("New", "6281200002222", None)
    assert updated["updated_at"] > contact["updated_at"]
    assert (await client.get(url, headers=admin.headers)).json() == updated
    (event,) = await outbox(ctx, "contact.updated")
    assert event["data"] == updated
    assert event["audience"][0] == {"staff": True}  # every admin and supervisor
    assert {(s["division_id"], s["assigned_agent_id"]) for s in event["audience"][1:]} == {
        (str(division), None),
        (None, str(agent.id)),
    }
    (log,) = await activity(ctx, "update_contact")
    assert log["agent_id"] == agent.id
    assert log["metadata"]["changes"] == {"name": "New", "phone": "6281200002222", "email": None}
    # The same values again (phone in another format) change nothing and log nothing.
    r = await client.patch(
        url, json={"name": "New", "phone": "0812 0000 2222"}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json() == updated
    assert len(await outbox(ctx, "contact.updated")) == 1
    for body, field in (({"name": None}, "name"), ({"phone": "999"}, "phone"), ({"email": "@"}, "email")):  # fmt: skip
        r = await client.patch(url, json=body, headers=admin.headers)
        assert fields(problem(r, 422)) == {field}
    missing = f"{CONTACTS}/{uuid4()}"
    problem(await client.patch(missing, json={"name": "x"}, headers=admin.headers), 404)
    problem(await client.get(missing, headers=admin.headers), 404)
    r = await client.get(f"{CONTACTS}/nope", headers=admin.headers)
    assert fields(problem(r, 422)) == {"contact_id"}


async def test_merge_moves_conversations_and_identities(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    supervisor = await actors.make("supervisor")
    agent = await actors.make("agent")
    division = await factories.division(ctx)
    keep = await create(
        client, admin, name="Budi", phone="081234567890",
        identities=[{"channel": "instagram", "external_id": "ig-budi"}],
    )  # fmt: skip
    gone = await create(
        client, admin, name="Budi S.", phone="085700001111", email="budi@example.com",
        profile_pic_url="https://cdn.example.com/b.png",
        identities=[{"channel": "messenger", "external_id": "psid-budi"}],
    )  # fmt: skip
    keep_id, gone_id = UUID(keep["id"]), UUID(gone["id"])
    await factories.conversation(ctx, contact_id=keep_id)
    moved = [
        await factories.conversation(ctx, contact_id=gone_id, division_id=division),
        await factories.conversation(ctx, contact_id=gone_id, channel="messenger"),
    ]
    problem(await merge(client, agent, keep["id"], gone["id"]), 403)
    r = await merge(client, supervisor, keep["id"], gone["id"])
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["id"] == keep["id"] and merged["name"] == "Budi"
    assert merged["phone"] == "6281234567890"  # the survivor keeps its own
    assert merged["email"] == "budi@example.com"  # and fills the empty ones
    assert merged["profile_pic_url"] == "https://cdn.example.com/b.png"
    assert {i["external_id"] for i in merged["identities"]} == {"ig-budi", "psid-budi"}
    owners = "SELECT array_agg(DISTINCT contact_id) FROM conversations WHERE id = ANY($1)"
    assert await scalar(ctx, owners, moved) == [keep_id]
    assert await scalar(ctx, "SELECT count(*) FROM conversations") == 3
    problem(await client.get(f"{CONTACTS}/{gone['id']}", headers=admin.headers), 404)
    assert await scalar(ctx, "SELECT count(*) FROM contacts") == 1
    (log,) = await activity(ctx, "merge_contacts")
    assert log["agent_id"] == supervisor.id and log["target_id"] == keep_id
    assert log["metadata"]["removed_contact_id"] == gone["id"]
    assert log["metadata"]["conversations_moved"] == 2
    (event,) = await outbox(ctx, "contact.merged")
    assert event["data"] == {**merged, "merged_contact_id": gone["id"]}
    assert {"division_id": str(division), "assigned_agent_id": None} in event["audience"]
    # The removed contact's email now belongs to the survivor.
    err = problem(
        await client.post(CONTACTS, json={"email": "BUDI@example.com"}, headers=admin.headers), 409
    )
    assert err["existing_contact_id"] == keep["id"]


async def test_merge_bad_input(client, admin: Agent) -> None:
    one = await create(client, admin, name="One")
    assert fields(problem(await merge(client, admin, one["id"], one["id"]), 422)) == {
        "other_contact_id"
    }
    assert fields(problem(await merge(client, admin, one["id"], uuid4()), 404)) == {
        "other_contact_id"
    }
    problem(await merge(client, admin, uuid4(), one["id"]), 404)
    problem(await merge(client, admin, one["id"], "not-a-uuid"), 422)
    r = await client.post(f"{CONTACTS}/{one['id']}/merge", json={}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"other_contact_id"}
    assert (await client.get(f"{CONTACTS}/{one['id']}", headers=admin.headers)).status_code == 200


async def test_delete_is_admin_only_and_cascades(client, ctx, actors: Actors, admin: Agent) -> None:
    supervisor = await actors.make("supervisor")
    agent = await actors.make("agent")
    contact = await create(
        client, admin, name="Doomed", phone="081299990000",
        identities=[{"channel": "instagram", "external_id": "ig-doomed"}],
    )  # fmt: skip
    conversation = await factories.conversation(
        ctx, contact_id=UUID(contact["id"]), assigned_agent_id=agent.id
    )
    url = f"{CONTACTS}/{contact['id']}"
    for who in (agent, supervisor):
        problem(await client.delete(url, headers=who.headers), 403)
    assert (await client.get(url, headers=agent.headers)).status_code == 200
    r = await client.delete(url, headers=admin.headers)
    assert r.status_code == 204 and r.content == b""
    problem(await client.get(url, headers=admin.headers), 404)
    problem(await client.delete(url, headers=admin.headers), 404)
    assert await scalar(ctx, "SELECT count(*) FROM conversations WHERE id = $1", conversation) == 0
    assert await scalar(ctx, "SELECT count(*) FROM contact_identities") == 0
    (event,) = await outbox(ctx, "contact.deleted")
    assert event["data"]["id"] == contact["id"] and event["data"]["name"] == "Doomed"
    assert event["audience"] == [
        {"staff": True},
        {"division_id": None, "assigned_agent_id": str(agent.id)},
    ]
    (log,) = await activity(ctx, "delete_contact")
    assert log["agent_id"] == admin.id and log["metadata"]["phone"] == "6281299990000"
    # The phone is free again.
    assert (await create(client, admin, phone="081299990000"))["phone"] == "6281299990000"
