"""Quick replies: visibility and managing rights per role and division, validation,
favourites, search, shortcut, pagination, events and activity. Using them (rendering,
sending by quick_reply_id): test_quick_replies_send.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest

from omnistream.context import AppContext
from omnistream.conversations.visibility import Scope, Viewer, parse_audience
from omnistream.events import queries as event_queries
from omnistream.events.dispatcher import publish_pending
from omnistream.kit.enums import Role
from tests import factories
from tests.conftest import Actors, Agent, fields, problem

URL = "/api/v1/quick-replies"


async def scalar(ctx: AppContext, sql: str, *args: Any) -> Any:
    async with ctx.pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def create(client: httpx.AsyncClient, who: Agent, **body: Any) -> dict[str, Any]:
    body.setdefault("body", f"Text of {body['title']}")
    r = await client.post(URL, json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def listing(client: httpx.AsyncClient, who: Agent, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(URL, params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def titles(client: httpx.AsyncClient, who: Agent, **params: Any) -> list[str]:
    return [i["title"] for i in await listing(client, who, **params)]


async def raw_reply(ctx: AppContext, title: str, body: str, division_id: UUID | None = None) -> str:
    """A reply written straight to the table (the API refuses unknown placeholders)."""
    value = await scalar(
        ctx,
        "INSERT INTO quick_replies (title, body, division_id) VALUES ($1, $2, $3) RETURNING id",
        title,
        body,
        division_id,
    )
    return str(value)


@dataclass
class Org:
    a: UUID
    b: UUID
    admin: Agent
    sup_a: Agent
    agent_a: Agent
    agent_b: Agent


@pytest.fixture
async def org(ctx: AppContext, actors: Actors) -> Org:
    a, b = await factories.division(ctx, "Sales"), await factories.division(ctx, "Billing")
    return Org(
        a,
        b,
        await actors.make("admin"),
        await actors.make("supervisor", divisions=[a]),
        await actors.make("agent", divisions=[a]),
        await actors.make("agent", divisions=[b]),
    )


# Visibility and managing rights -----------------------------------------------------------


async def test_visibility_per_role_and_division(client, org: Org) -> None:
    hello = await create(client, org.admin, title="Hello")
    in_a = await create(client, org.admin, title="Sales offer", division_id=str(org.a))
    in_b = await create(client, org.admin, title="Billing cycle", division_id=str(org.b))
    assert in_a["division_name"] == "Sales" and hello["division_id"] is None
    assert await titles(client, org.admin) == ["Billing cycle", "Hello", "Sales offer"]
    assert await titles(client, org.sup_a) == ["Hello", "Sales offer"]
    assert await titles(client, org.agent_a) == ["Hello", "Sales offer"]
    assert await titles(client, org.agent_b) == ["Billing cycle", "Hello"]
    # Another division's reply does not exist for them.
    problem(await client.get(f"{URL}/{in_b['id']}", headers=org.agent_a.headers), 404)
    problem(await client.get(f"{URL}/{in_a['id']}", headers=org.agent_b.headers), 404)
    got = await client.get(f"{URL}/{in_a['id']}", headers=org.agent_a.headers)
    assert got.status_code == 200 and got.json()["title"] == "Sales offer"
    # can_manage tells the UI which ones to offer for editing.
    flags = {i["title"]: i["can_manage"] for i in await listing(client, org.sup_a)}
    assert flags == {"Hello": False, "Sales offer": True}
    assert not any(i["can_manage"] for i in await listing(client, org.agent_a))
    assert all(i["can_manage"] for i in await listing(client, org.admin))


async def test_managing_rights(client, ctx, org: Org, actors: Actors) -> None:
    sup_b = await actors.make("supervisor", divisions=[org.b])
    hello = await create(client, org.admin, title="Hello")
    in_b = await create(client, org.admin, title="Billing", division_id=str(org.b))
    mine = await create(client, org.sup_a, title="Sales", division_id=str(org.a))
    assert mine["created_by"] == str(org.sup_a.id) and mine["can_manage"]

    async def post(who: Agent, **body: Any) -> httpx.Response:
        return await client.post(URL, json={"body": "x", **body}, headers=who.headers)

    # Supervisors: only their divisions' replies; never global ones.
    assert fields(problem(await post(org.sup_a, title="Global"), 403)) == {"division_id"}
    body = problem(await post(org.sup_a, title="B", division_id=str(org.b)), 403)
    assert fields(body) == {"division_id"}
    # Agents manage none.
    problem(await post(org.agent_a, title="A", division_id=str(org.a)), 403)
    for method in ("PATCH", "DELETE"):
        r = await client.request(
            method, f"{URL}/{mine['id']}", json={"title": "t"}, headers=org.agent_a.headers
        )
        problem(r, 403)
    # Visible but not theirs: 403; not visible: 404.
    problem(
        await client.patch(f"{URL}/{hello['id']}", json={"title": "t"}, headers=org.sup_a.headers),
        403,
    )
    problem(await client.delete(f"{URL}/{hello['id']}", headers=org.sup_a.headers), 403)
    problem(
        await client.patch(f"{URL}/{in_b['id']}", json={"title": "t"}, headers=org.sup_a.headers),
        404,
    )
    problem(await client.delete(f"{URL}/{in_b['id']}", headers=org.sup_a.headers), 404)
    # Moving a reply needs rights on both divisions; making it global is for admins.
    url = f"{URL}/{mine['id']}"
    r = await client.patch(url, json={"division_id": str(org.b)}, headers=org.sup_a.headers)
    assert fields(problem(r, 403)) == {"division_id"}
    r = await client.patch(url, json={"division_id": None}, headers=org.sup_a.headers)
    assert fields(problem(r, 403)) == {"division_id"}
    r = await client.patch(url, json={"title": "  Sales v2 "}, headers=org.sup_a.headers)
    assert r.status_code == 200 and r.json()["title"] == "Sales v2"
    assert r.json()["body"] == "Text of Sales" and r.json()["updated_at"] > mine["updated_at"]
    # Admins manage every reply, move it anywhere, but not into a missing division.
    r = await client.patch(url, json={"division_id": str(UUID(int=7))}, headers=org.admin.headers)
    assert fields(problem(r, 422)) == {"division_id"}
    r = await client.patch(url, json={"division_id": str(org.b)}, headers=org.admin.headers)
    assert r.status_code == 200 and r.json()["division_name"] == "Billing"
    problem(await client.get(url, headers=org.sup_a.headers), 404)  # gone from their sight
    r = await client.patch(url, json={"title": "Sales v3"}, headers=sup_b.headers)
    assert r.status_code == 200  # now the Billing supervisor's
    r = await client.patch(url, json={"division_id": None}, headers=org.admin.headers)
    assert r.status_code == 200 and r.json()["division_id"] is None
    assert (await client.delete(url, headers=org.admin.headers)).status_code == 204
    problem(await client.delete(url, headers=org.admin.headers), 404)
    r = await client.delete(f"{URL}/{in_b['id']}", headers=sup_b.headers)
    assert r.status_code == 204
    assert await scalar(ctx, "SELECT count(*) FROM quick_replies") == 1  # Hello


BAD_BODIES = [
    ({}, {"title", "body"}),
    ({"title": "  ", "body": "x"}, {"title"}),
    ({"title": "t" * 201, "body": "x"}, {"title"}),
    ({"title": "t", "body": "   "}, {"body"}),
    ({"title": "t", "body": "x" * 4097}, {"body"}),
    ({"title": "t", "body": "x", "media_url": "ftp://example.com/a.png"}, {"media_url"}),
    ({"title": "t", "body": "x", "media_url": "javascript:alert(1)"}, {"media_url"}),
    ({"title": "t", "body": "x", "media_url": "http://"}, {"media_url"}),
    ({"title": "t", "body": "x", "media_url": "https://a.example/a b.png"}, {"media_url"}),
    ({"title": "t", "body": "x", "media_url": "http://[::1/a.png"}, {"media_url"}),
    ({"title": "t", "body": "x", "media_url": "https://a.b:99999/x.png"}, {"media_url"}),
    ({"title": "t", "body": "x", "media_url": "https://x/" + "a" * 2000}, {"media_url"}),
    ({"title": "t", "body": "x", "division_id": "nope"}, {"division_id"}),
    ({"title": "t", "body": "x", "shortcut": "t"}, {"shortcut"}),
    ({"title": "t", "body": "Hi {{contact.email}}"}, {"body"}),
    ({"title": "t", "body": "x" * 1025, "media_url": "https://a.example/a.png"}, {"body"}),
    ({"title": "t", "body": "x", "division_id": str(UUID(int=5))}, {"division_id"}),
]


@pytest.mark.parametrize(("body", "expected"), BAD_BODIES)
async def test_create_validation(
    client, ctx, admin: Agent, body: dict[str, Any], expected: set[str]
) -> None:
    assert (
        fields(problem(await client.post(URL, json=body, headers=admin.headers), 422)) == expected
    )
    assert await scalar(ctx, "SELECT count(*) FROM quick_replies") == 0
    assert await scalar(ctx, "SELECT count(*) FROM event_outbox") == 0
    assert await scalar(ctx, "SELECT count(*) FROM activity_logs WHERE action LIKE '%quick%'") == 0


async def test_update_validation_and_odd_input(client, ctx, admin: Agent) -> None:
    reply = await create(client, admin, title="Photo", media_url="https://cdn.example/p.png")
    assert reply["media_type"] == "image"
    url = f"{URL}/{reply['id']}"
    for body, expected in [
        ({"title": None}, {"title"}),
        ({"body": None}, {"body"}),
        ({"body": "x" * 1025}, {"body"}),  # a caption of media_url
        ({"body": "{{ agent.email }} {{x}}"}, {"body"}),
        ({"media_url": "mailto:a@b.c"}, {"media_url"}),
        ({"media_url": "https://a.b:99999/x.png"}, {"media_url"}),
        ({"media_url": "http://[::1/a.png"}, {"media_url"}),
        ({"colour": "red"}, {"colour"}),
    ]:
        r = await client.patch(url, json=body, headers=admin.headers)
        assert fields(problem(r, 422)) == expected, body
    r = await client.patch(url, json={"body": "{{x}} and {{ y.z }}"}, headers=admin.headers)
    assert problem(r, 422)["unknown_placeholders"] == ["x", "y.z"]
    # NUL characters and malformed ids never cause a 500.
    problem(await client.patch(url, json={"title": "a\u0000b"}, headers=admin.headers), 422)
    problem(
        await client.post(URL, json={"title": "a", "body": "\u0000"}, headers=admin.headers), 422
    )
    problem(await client.get(f"{URL}/not-a-uuid", headers=admin.headers), 422)
    problem(await client.get(URL, params={"q": "\u0000"}, headers=admin.headers), 422)
    # A longer body is fine once the media is removed; an empty media_url removes it too.
    r = await client.patch(url, json={"media_url": None, "body": "x" * 1025}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["media_url"] is None
    r = await client.patch(
        url, json={"media_url": "https://cdn.example/doc.PDF"}, headers=admin.headers
    )
    assert fields(problem(r, 422)) == {"body"}
    r = await client.patch(
        url,
        json={"body": "short", "media_url": "https://cdn.example/doc.PDF"},
        headers=admin.headers,
    )
    assert r.status_code == 200 and r.json()["media_type"] == "document"
    r = await client.patch(url, json={"media_url": ""}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["media_url"] is None
    row = await scalar(ctx, "SELECT body FROM quick_replies WHERE id = $1", UUID(reply["id"]))
    assert row == "short"


# Favourites, search, shortcut, pagination -------------------------------------------------


async def test_search_and_shortcut(client, org: Org) -> None:
    await create(client, org.admin, title="Refund policy", body="Refunds take 5 days")
    await create(client, org.admin, title="refund status", body="Checking it")
    await create(client, org.admin, title="Address change", body="See our refund page")
    await create(client, org.admin, title="Discount", body="Now 100% off_all")
    await create(client, org.admin, title="Reference", body="x", division_id=str(org.b))
    agent = org.agent_a
    assert await titles(client, agent, q="REFUND") == [
        "Address change",
        "Refund policy",
        "refund status",
    ]
    assert await titles(client, agent, q="5 DAYS") == ["Refund policy"]
    # The shortcut: titles starting with the text after "/" (not body or mid-title matches).
    assert await titles(client, agent, q="/ref") == ["Refund policy", "refund status"]
    assert await titles(client, agent, q="  /REF ") == ["Refund policy", "refund status"]
    assert await titles(client, agent, shortcut="ref") == ["Refund policy", "refund status"]
    assert await titles(client, org.agent_b, shortcut="ref") == [
        "Reference",
        "Refund policy",
        "refund status",
    ]
    assert await titles(client, agent, q="/") == await titles(client, agent)
    assert await titles(client, agent, shortcut="change") == []
    # Wildcards are literal.
    assert await titles(client, agent, q="100%") == ["Discount"]
    assert await titles(client, agent, q="f_a") == ["Discount"]
    assert await titles(client, agent, q="%") == ["Discount"]
    assert await titles(client, agent, shortcut="_") == []
    # Search and favourites combine.
    ids = {i["title"]: i["id"] for i in await listing(client, agent)}
    await client.put(f"{URL}/{ids['refund status']}/favorite", headers=agent.headers)
    assert await titles(client, agent, q="/ref") == ["refund status", "Refund policy"]
    problem(await client.get(URL, params={"q": "x" * 201}, headers=agent.headers), 422)


# Events and activity ----------------------------------------------------------------------


async def test_events_and_activity(client, ctx, org: Org, actors: Actors) -> None:
    reply = await create(client, org.sup_a, title="Hi", body="Hello", division_id=str(org.a))
    url = f"{URL}/{reply['id']}"
    r = await client.patch(
        url, json={"title": "Hi there", "body": "Hello"}, headers=org.sup_a.headers
    )
    assert r.status_code == 200
    r = await client.patch(url, json={"title": "Hi there"}, headers=org.sup_a.headers)
    assert r.status_code == 200  # nothing changed: no event, no log entry
    for _ in range(2):  # the second pin changes nothing: no event, no entry
        assert (await client.put(f"{url}/favorite", headers=org.agent_a.headers)).is_success
    assert (await client.delete(url, headers=org.sup_a.headers)).status_code == 204
    async with ctx.pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT type, data, actor, audience FROM event_outbox ORDER BY pos"
        )
        logs = await conn.fetch(
            "SELECT agent_id, action, target_type, target_id, metadata_json FROM activity_logs "
            "WHERE target_type = 'quick_reply' ORDER BY created_at, action"
        )
        favourites = await conn.fetchval("SELECT count(*) FROM agent_favorite_replies")
    assert [e["type"] for e in events] == [
        "quick_reply.created",
        "quick_reply.updated",
        "quick_reply.favorited",
        "quick_reply.deleted",
    ]
    pin = events.pop(2)
    assert pin["data"] == {
        "quick_reply": {"id": reply["id"], "title": "Hi there"},
        "agent_id": str(org.agent_a.id),
    }
    assert pin["actor"]["id"] == str(org.agent_a.id)
    # Those who may read the reply: admins, division A's supervisors and agents, no one of B.
    assert all(
        e["audience"] == [{"division_id": str(org.a), "assigned_agent_id": None}] for e in events
    )
    sup_b = await actors.make("supervisor", divisions=[org.b])
    for who, division, sees in (
        (org.admin, None, True),
        (org.sup_a, org.a, True),
        (org.agent_a, org.a, True),
        (org.agent_b, org.b, False),
        (sup_b, org.b, False),
    ):
        viewer = Viewer(Role(who.role), str(who.id), frozenset([str(division)] if division else []))
        assert viewer.sees(parse_audience(events[0]["audience"])) is sees, who.role
    # A pin reaches the agent who pinned (and admins, who see every event); not another
    # agent or supervisor of the reply's division.
    agent_a2 = await actors.make("agent", divisions=[org.a])
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)
    for who, division, sees in (
        (org.agent_a, org.a, True),
        (org.admin, None, True),
        (agent_a2, org.a, False),
        (org.sup_a, org.a, False),
        (org.agent_b, org.b, False),
    ):
        divisions = frozenset([division] if division else [])
        viewer = Viewer(Role(who.role), str(who.id), frozenset(str(d) for d in divisions))
        assert viewer.sees(parse_audience(pin["audience"])) is sees, who.role
        async with ctx.pool.acquire() as conn:  # the replay after a reconnect: same rule in SQL
            replayed = await event_queries.visible_between(
                conn, Scope(Role(who.role), who.id, divisions), 0, 2**62, 100
            )
        assert ("quick_reply.favorited" in [e["type"] for e in replayed]) is sees, who.role
    assert all(e["actor"]["id"] == str(org.sup_a.id) for e in events)
    assert events[0]["data"]["quick_reply"]["title"] == "Hi"
    assert "is_favorite" not in events[0]["data"]["quick_reply"]
    assert events[1]["data"]["quick_reply"]["title"] == "Hi there"
    assert events[1]["data"]["changes"] == ["title"]
    assert events[2]["data"]["quick_reply"] == {
        "id": reply["id"],
        "division_id": str(org.a),
        "title": "Hi there",
    }
    assert [(g["action"], g["target_id"]) for g in logs] == [
        ("create_quick_reply", UUID(reply["id"])),
        ("update_quick_reply", UUID(reply["id"])),
        ("pin_quick_reply", UUID(reply["id"])),
        ("delete_quick_reply", UUID(reply["id"])),
    ]
    assert [g["agent_id"] for g in logs] == [
        org.sup_a.id,
        org.sup_a.id,
        org.agent_a.id,
        org.sup_a.id,
    ]
    assert logs[2]["metadata_json"] == {"title": "Hi there"}
    assert logs[1]["metadata_json"] == {"changes": {"title": "Hi there"}}
    assert favourites == 0  # pins go with their reply
