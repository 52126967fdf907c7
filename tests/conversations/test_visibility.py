"""The visibility matrix: admin / supervisor / agent x own division / other division /
no division / assigned to me / assigned to someone else — on every read and action."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from tests import factories
from tests.conftest import Actors, Agent

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))


@dataclass
class World:
    admin: Agent
    supervisor: Agent
    agent: Agent
    other: Agent
    conversations: dict[str, UUID]
    division_a: UUID
    division_b: UUID


@pytest.fixture
async def world(ctx, actors: Actors) -> World:
    a = await factories.division(ctx, "A")
    b = await factories.division(ctx, "B")
    admin = await actors.make("admin")
    supervisor = await actors.make("supervisor", divisions=[a])
    agent = await actors.make("agent", divisions=[a])
    other = await actors.make("agent", divisions=[a, b])

    async def conv(division: UUID | None, assignee: Agent | None = None) -> UUID:
        return await factories.conversation(
            ctx, division_id=division, assigned_agent_id=assignee.id if assignee else None
        )

    conversations = {
        "a_unassigned": await conv(a),
        "b_unassigned": await conv(b),
        "none_unassigned": await conv(None),
        "a_mine": await conv(a, agent),
        "a_other": await conv(a, other),
        "b_mine": await conv(b, agent),
        "none_other": await conv(None, other),
        # "Assigned to me" for the supervisor and the admin: the division still decides
        # for a supervisor (the rule names divisions only).
        "a_sup": await conv(a, supervisor),
        "b_sup": await conv(b, supervisor),
        "b_admin": await conv(b, admin),
    }
    return World(admin, supervisor, agent, other, conversations, a, b)


ALL = {
    "a_unassigned",
    "b_unassigned",
    "none_unassigned",
    "a_mine",
    "a_other",
    "b_mine",
    "none_other",
    "a_sup",
    "b_sup",
    "b_admin",
}
EXPECTED = {
    "admin": ALL,
    "supervisor": {"a_unassigned", "none_unassigned", "a_mine", "a_other", "none_other", "a_sup"},
    "agent": {"a_unassigned", "none_unassigned", "a_mine", "b_mine"},
}
# Whose each conversation is, and its division ("a", "b" or None).
OWNER = {"a_mine": "agent", "b_mine": "agent", "a_sup": "supervisor", "b_sup": "supervisor"}
OWNER |= {"b_admin": "admin", "a_other": "other", "none_other": "other"}


def division_of(name: str) -> str | None:
    return None if name.startswith("none") else name[0]


def who(world: World, role: str) -> Agent:
    return {"admin": world.admin, "supervisor": world.supervisor, "agent": world.agent}[role]


@pytest.mark.parametrize("role", sorted(EXPECTED))
async def test_list_follows_visibility(client, world: World, role: str) -> None:
    actor = who(world, role)
    names = {v: k for k, v in world.conversations.items()}
    r = await client.get("/api/v1/conversations", headers=actor.headers, params={"limit": 100})
    assert r.status_code == 200, r.text
    assert {names[UUID(i["id"])] for i in r.json()["items"]} == EXPECTED[role]


@dataclass
class Cell:
    """One conversation of the world with what the routes act on: a failed reply of its
    own (to get and retry), an uploaded file (to download), a note by the caller, a label
    it has (to remove) and one it has not (to add)."""

    cid: UUID
    message_id: UUID
    media_url: str
    note_id: UUID
    label_id: UUID
    new_label_id: UUID


async def cells(ctx, client, world: World, caller: Agent) -> dict[str, Cell]:
    out = {}
    async with ctx.pool.acquire() as conn:
        label_id, new_label_id = [
            await conn.fetchval(
                "INSERT INTO labels (name, colour) VALUES ($1, '#123456') RETURNING id", name
            )
            for name in ("On it", "New")
        ]
    for name, cid in world.conversations.items():
        async with ctx.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO conversation_labels (conversation_id, label_id, status, "
                "division_id, assigned_agent_id) SELECT id, $2, status, division_id, "
                "assigned_agent_id FROM conversations WHERE id = $1",
                cid,
                label_id,
            )
            message_id = await conn.fetchval(
                "INSERT INTO messages (conversation_id, channel, direction, type, content, "
                "status, error_reason, failed_at) VALUES ($1, 'whatsapp', 'outbound', 'text', "
                "'{\"text\": \"hi\"}', 'failed', 'test', now()) RETURNING id",
                cid,
            )
            note_id = await conn.fetchval(
                "INSERT INTO conversation_notes (conversation_id, agent_id, body) "
                "VALUES ($1, $2, 'mine') RETURNING id",
                cid,
                caller.id,
            )
        r = await client.post(
            f"/api/v1/conversations/{cid}/uploads",
            files={"file": ("a.png", PNG, "image/png")},
            headers=world.admin.headers,
        )
        assert r.status_code == 201, r.text
        out[name] = Cell(cid, message_id, r.json()["url"], note_id, label_id, new_label_id)
    return out


# Every read and write route of a conversation: (method, path, body). {c} the conversation.
CONV = "/api/v1/conversations/{c.cid}"
ROUTES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "get": ("GET", CONV, None),
    "timeline": ("GET", CONV + "/messages", None),
    "history": ("GET", CONV + "/history", None),
    "notes": ("GET", CONV + "/notes", None),
    "transfers": ("GET", CONV + "/transfers", None),
    "message": ("GET", "/api/v1/messages/{c.message_id}", None),
    "media": ("GET", "{c.media_url}", None),
    "send": ("POST", CONV + "/messages", {"type": "text", "text": "Halo"}),
    "upload": ("POST", CONV + "/uploads", None),
    "retry": ("POST", "/api/v1/messages/{c.message_id}/retry", None),
    "add_note": ("POST", CONV + "/notes", {"body": "secret"}),
    "delete_note": ("DELETE", CONV + "/notes/{c.note_id}", None),
    "take": ("POST", CONV + "/take", None),
    "assign": ("POST", CONV + "/assign", {}),
    "unassign": ("POST", CONV + "/unassign", None),
    "transfer": ("POST", CONV + "/transfer", {}),
    "resolve": ("POST", CONV + "/resolve", None),
    "reopen": ("POST", CONV + "/reopen", None),
    "read": ("POST", CONV + "/read", None),
    "priority": ("POST", CONV + "/priority", {"priority": "high"}),
    "add_label": ("POST", CONV + "/labels", {}),
    "remove_label": ("DELETE", CONV + "/labels/{c.label_id}", None),
}
CREATED = {"send": 201, "upload": 201, "add_note": 201, "delete_note": 204}


def expected(role: str, name: str, route: str) -> int:
    owner, division = OWNER.get(name), division_of(name)
    own_divisions = {"admin": set(), "supervisor": {"a"}, "agent": {"a"}}[role]
    if route == "take":
        # Judged as if unassigned: someone else holding one of my pool's conversations is a
        # lost race (409), not a secret; outside the pool it is a 404.
        in_pool = role == "admin" or division is None or division in own_divisions
        if not in_pool:
            return 404
        return 200 if owner in (None, role) else 409
    if name not in EXPECTED[role]:
        return 404
    if route == "assign":  # to oneself: a member of the division (admins: anywhere)
        ok = role == "admin" or division is None or division in own_divisions
        return 200 if ok else 422
    if route == "transfer":  # to division A: nothing changes for what is already there
        return 422 if division == "a" else 200
    return CREATED.get(route, 200)


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("role", sorted(EXPECTED))
async def test_every_route_follows_visibility(
    ctx, client, world: World, role: str, route: str
) -> None:
    """404 exactly where the conversation is not the caller's to see; any 2xx there is a
    leak. A fresh world per route, so one action's move cannot hide another's leak."""
    actor = who(world, role)
    method, template, body = ROUTES[route]
    if route == "assign":
        body = {"agent_id": str(actor.id)}
    elif route == "transfer":
        body = {"division_id": str(world.division_a), "reason": "triage"}
    got = {}
    for name, cell in (await cells(ctx, client, world, actor)).items():
        url = template.format(c=cell)
        if route == "add_label":
            body = {"label_id": str(cell.new_label_id)}
        if route == "upload":
            r = await client.post(
                url, files={"file": ("b.png", PNG, "image/png")}, headers=actor.headers
            )
        else:
            r = await client.request(method, url, json=body, headers=actor.headers)
        got[name] = r.status_code
        if r.status_code == 404:
            assert r.json()["type"].endswith(":not-found"), r.text
    assert got == {name: expected(role, name, route) for name in ALL}


@pytest.mark.parametrize("role", sorted(EXPECTED))
async def test_actions_on_visible_conversations_work(client, world: World, role: str) -> None:
    actor = who(world, role)
    for name in sorted(EXPECTED[role]):
        cid = world.conversations[name]
        base = f"/api/v1/conversations/{cid}"
        r = await client.post(base + "/notes", headers=actor.headers, json={"body": "checked"})
        assert r.status_code == 201, (role, name, r.text)
        r = await client.post(base + "/resolve", headers=actor.headers)
        assert r.status_code == 200 and r.json()["status"] == "resolved", (role, name, r.text)
        r = await client.post(base + "/reopen", headers=actor.headers)
        assert r.status_code == 200 and r.json()["status"] == "open"


async def test_tab_counts_follow_visibility(client, world: World) -> None:
    counts = {}
    for role in EXPECTED:
        r = await client.get("/api/v1/conversations/counts", headers=who(world, role).headers)
        assert r.status_code == 200
        counts[role] = r.json()
    assert counts["agent"] | {"cap": 0} == {"mine": 2, "unassigned": 2, "all_open": 4, "cap": 0}
    assert (counts["supervisor"]["all_open"], counts["supervisor"]["unassigned"]) == (6, 2)
    assert counts["supervisor"]["mine"] == 1  # a_sup; b_sup is outside their divisions
    assert (
        counts["admin"]["all_open"],
        counts["admin"]["unassigned"],
        counts["admin"]["mine"],
    ) == (10, 3, 1)


async def test_contact_conversations_follow_visibility(client, ctx, world: World) -> None:
    contact = await factories.contact(ctx)
    visible = await factories.conversation(ctx, contact_id=contact, division_id=world.division_a)
    hidden = await factories.conversation(ctx, contact_id=contact, division_id=world.division_b)
    r = await client.get(f"/api/v1/contacts/{contact}/conversations", headers=world.agent.headers)
    assert [UUID(i["id"]) for i in r.json()["items"]] == [visible]
    r = await client.get(f"/api/v1/contacts/{contact}/conversations", headers=world.admin.headers)
    assert {UUID(i["id"]) for i in r.json()["items"]} == {visible, hidden}
    # A contact the caller may not see answers 404 as GET /contacts/{id} does, not an empty
    # page; so does an unknown one.
    stranger = await factories.contact(ctx, name="Only in B")
    await factories.conversation(ctx, contact_id=stranger, division_id=world.division_b)
    for contact_id in (stranger, uuid.uuid4()):
        for path in ("", "/conversations"):
            r = await client.get(
                f"/api/v1/contacts/{contact_id}{path}", headers=world.agent.headers
            )
            assert r.status_code == 404, (contact_id, path, r.text)
    r = await client.get(
        f"/api/v1/contacts/{stranger}/conversations", headers=world.supervisor.headers
    )
    assert (
        r.status_code == 200 and r.json()["items"] == []
    )  # sees the contact, not its B conversation


def test_fan_out_fast_path_agrees_with_the_rule() -> None:
    """Viewer.sees (strings, parsed once per event) == Scope.can_see_any on every case."""
    import itertools
    import uuid

    from omnistream.conversations.visibility import (
        ADMINS,
        STAFF,
        Scope,
        Viewer,
        parse_audience,
        state,
    )
    from omnistream.kit.enums import Role

    d1, d2, me, other = (uuid.uuid4() for _ in range(4))
    states = [state(d, a) for d in (d1, d2, None) for a in (me, other, None)] + [STAFF, ADMINS]
    audiences = [[]] + [[s] for s in states] + [list(p) for p in itertools.combinations(states, 2)]
    checked = 0
    for role in Role:
        for divisions in (frozenset(), frozenset({d1}), frozenset({d1, d2})):
            scope = Scope(role, me, divisions)
            viewer = Viewer.of(scope)
            for audience in audiences:
                assert viewer.sees(parse_audience(audience)) == scope.can_see_any(audience), (
                    role,
                    divisions,
                    audience,
                )
                checked += 1
    assert checked == 3 * 3 * len(audiences)
