"""The visibility matrix: admin / supervisor / agent x own division / other division /
no division / assigned to me / assigned to someone else — on every read and action."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from uuid import UUID

import pytest

from tests import factories
from tests.conftest import Actors, Agent


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
    conv = {
        "a_unassigned": await factories.conversation(ctx, division_id=a),
        "b_unassigned": await factories.conversation(ctx, division_id=b),
        "none_unassigned": await factories.conversation(ctx),
        "a_mine": await factories.conversation(ctx, division_id=a, assigned_agent_id=agent.id),
        "a_other": await factories.conversation(ctx, division_id=a, assigned_agent_id=other.id),
        "b_mine": await factories.conversation(ctx, division_id=b, assigned_agent_id=agent.id),
        "none_other": await factories.conversation(ctx, assigned_agent_id=other.id),
    }
    return World(admin, supervisor, agent, other, conv, a, b)


EXPECTED = {
    "admin": {
        "a_unassigned",
        "b_unassigned",
        "none_unassigned",
        "a_mine",
        "a_other",
        "b_mine",
        "none_other",
    },
    "supervisor": {"a_unassigned", "none_unassigned", "a_mine", "a_other", "none_other"},
    "agent": {"a_unassigned", "none_unassigned", "a_mine", "b_mine"},
}


def who(world: World, role: str) -> Agent:
    return {"admin": world.admin, "supervisor": world.supervisor, "agent": world.agent}[role]


@pytest.mark.parametrize("role", sorted(EXPECTED))
async def test_list_and_get(client, world: World, role: str) -> None:
    actor = who(world, role)
    names = {v: k for k, v in world.conversations.items()}
    r = await client.get("/api/v1/conversations", headers=actor.headers, params={"limit": 100})
    assert r.status_code == 200, r.text
    assert {names[UUID(i["id"])] for i in r.json()["items"]} == EXPECTED[role]
    for name, cid in world.conversations.items():
        for path in ("", "/notes", "/transfers"):
            r = await client.get(f"/api/v1/conversations/{cid}{path}", headers=actor.headers)
            expected = 200 if name in EXPECTED[role] else 404
            assert r.status_code == expected, (role, name, path, r.status_code)


@pytest.mark.parametrize("role", sorted(EXPECTED))
async def test_actions_on_invisible_conversations_answer_404(
    client, world: World, role: str
) -> None:
    actor = who(world, role)
    for name, cid in world.conversations.items():
        if name in EXPECTED[role]:
            continue
        base = f"/api/v1/conversations/{cid}"
        for path, body in [
            ("/take", None),
            ("/unassign", None),
            ("/resolve", None),
            ("/reopen", None),
            ("/read", None),
            ("/assign", {"agent_id": str(actor.id)}),
            ("/transfer", {"division_id": str(world.division_a), "reason": "x"}),
            ("/notes", {"body": "secret"}),
        ]:
            r = await client.post(base + path, headers=actor.headers, json=body)
            # Taking a conversation of one's own pool that someone else holds is a lost race
            # (409); everything else one may not see is indistinguishable from missing (404).
            in_pool = role == "agent" and name in {"a_other", "none_other"}
            expected = 409 if path == "/take" and in_pool else 404
            assert r.status_code == expected, (role, name, path, r.status_code, r.text)


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
    assert (counts["supervisor"]["all_open"], counts["supervisor"]["unassigned"]) == (5, 2)
    assert (
        counts["admin"]["all_open"],
        counts["admin"]["unassigned"],
        counts["admin"]["mine"],
    ) == (7, 3, 0)


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

    from omnistream.conversations.visibility import Scope, Viewer, parse_audience, state
    from omnistream.kit.enums import Role

    d1, d2, me, other = (uuid.uuid4() for _ in range(4))
    states = [state(d, a) for d in (d1, d2, None) for a in (me, other, None)]
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
