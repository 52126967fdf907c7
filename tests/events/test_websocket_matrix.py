"""WebSocket delivery driven by real HTTP actions (notes, replies, a transfer, contact
changes), not hand-made audiences: which roles in which divisions receive each event, live
and on resume. The rule restated here is the issue's, independently of the code's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from tests import factories
from tests.conftest import Actors, Agent
from tests.events.test_websocket import Live, all_published, connect, dispatcher, emit_one, server

__all__ = ["dispatcher", "server"]  # the module-scoped fixtures, shared with test_websocket

URL = "/api/v1/conversations"


@dataclass(frozen=True)
class Viewer:
    role: str
    divisions: frozenset[str]


def sees(v: Viewer, me: str, division: str | None, assignee: str | None) -> bool:
    """admin: all; supervisor: own divisions and none; agent: mine, plus unassigned ones in
    own divisions or none."""
    in_scope = division is None or division in v.divisions
    if v.role == "admin":
        return True
    if v.role == "supervisor":
        return in_scope
    return assignee == me or (assignee is None and in_scope)


VIEWERS = {
    "admin": Viewer("admin", frozenset()),
    "sup_a": Viewer("supervisor", frozenset({"a"})),
    "sup_b": Viewer("supervisor", frozenset({"b"})),
    "agent_a": Viewer("agent", frozenset({"a"})),
    "agent_b": Viewer("agent", frozenset({"b"})),
    "other": Viewer("agent", frozenset({"a", "b"})),
}
# name -> (division, assignee): every cell of the matrix for the viewers above.
CONVERSATIONS = {
    "a_pool": ("a", None),
    "b_pool": ("b", None),
    "none_pool": (None, None),
    "a_agent": ("a", "agent_a"),
    "b_agent": ("b", "agent_a"),  # assigned to agent_a outside their division
    "a_other": ("a", "other"),
    "none_other": (None, "other"),
    "b_sup": ("b", "sup_a"),  # assigned to a supervisor outside their division
    "moving": ("a", None),  # transferred to B with a reason
}


def subject(event: dict[str, Any]) -> str:
    data = event["data"]
    for key in ("note", "message"):
        if key in data:
            return str(data[key]["conversation_id"])
    if "conversation" in data:
        return str(data["conversation"]["id"])
    return str(data["id"])  # contact events


async def received(live: Live) -> list[tuple[str, str]]:
    """(type, subject) of every event up to the "end" marker."""
    got = []
    while True:
        event = await live.event(3.0)
        if event["data"].get("label") == "end":
            return got
        got.append((event["type"], subject(event)))


async def replayed(server: str, token: str, after: int) -> list[tuple[str, str]]:
    again = await connect(server, token, after_seq=after)
    try:
        got = []
        while (frame := await again.frame(3.0))["type"] == "event":
            event = frame["event"]
            if event["data"].get("label") != "end":
                got.append((event["type"], subject(event)))
        assert frame["type"] == "resumed", frame
        return got
    finally:
        await again.close()


async def people(ctx, actors: Actors) -> tuple[dict[str, UUID], dict[str, Agent]]:
    divisions = {"a": await factories.division(ctx), "b": await factories.division(ctx)}
    who = {
        name: await actors.make(
            v.role,
            divisions=[divisions[d] for d in sorted(v.divisions)],
        )
        for name, v in VIEWERS.items()
    }
    return divisions, who


async def test_http_actions_reach_exactly_those_who_may_see(
    server, ctx, client: httpx.AsyncClient, actors: Actors
) -> None:
    divisions, who = await people(ctx, actors)
    ids = {}
    for name, (division, assignee) in CONVERSATIONS.items():
        ids[name] = await factories.conversation(
            ctx,
            division_id=divisions[division] if division else None,
            assigned_agent_id=who[assignee].id if assignee else None,
        )
    names = {str(cid): name for name, cid in ids.items()}
    admin = who["admin"].headers
    sockets = {name: await connect(server, a.token) for name, a in who.items()}
    start = sockets["admin"].ready["seq"]
    try:
        for cid in ids.values():
            r = await client.post(f"{URL}/{cid}/notes", json={"body": "cek"}, headers=admin)
            assert r.status_code == 201, r.text
            r = await client.post(
                f"{URL}/{cid}/messages", json={"type": "text", "text": "Halo"}, headers=admin
            )
            assert r.status_code == 201, r.text
        r = await client.post(
            f"{URL}/{ids['moving']}/transfer",
            json={"division_id": str(divisions["b"]), "reason": "billing"},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        r = await client.post(f"{URL}/{ids['moving']}/notes", json={"body": "x"}, headers=admin)
        assert r.status_code == 201, r.text
        await emit_one(ctx, "end")
        live = {name: await received(s) for name, s in sockets.items()}
    finally:
        for s in sockets.values():
            await s.close()

    def expected(viewer: str) -> list[tuple[str, str]]:
        v, out = VIEWERS[viewer], []
        for name, (division, assignee) in CONVERSATIONS.items():
            if sees(v, viewer, division, assignee):
                out.append(("note.created", name))
            # The admin's reply takes an unassigned conversation (OMNISTREAM_ASSIGN_ON_REPLY):
            # its pool learns it left, and only who sees it then gets the message.
            replied = (division, assignee or "admin")
            if assignee is None and (sees(v, viewer, division, None) or sees(v, viewer, *replied)):
                out.append(("conversation.assigned", name))
            if sees(v, viewer, *replied):
                out.append(("message.created", name))
        before, after = ("a", "admin"), ("b", None)
        if sees(v, viewer, *before) or sees(v, viewer, *after):  # leavers learn it left
            out.append(("conversation.transferred", "moving"))
        if sees(v, viewer, *after):
            out.append(("note.created", "moving"))
        return out

    for viewer, events in live.items():
        assert [(t, names[s]) for t, s in events] == expected(viewer), viewer
    # Spot checks of the rule's edges, so a wrong restatement above cannot hide a leak.
    assert ("note.created", "b_sup") not in expected("sup_a")
    assert ("note.created", "b_agent") in expected("agent_a")
    assert ("note.created", "a_other") not in expected("agent_a")
    assert ("note.created", "none_other") in expected("sup_b")
    assert ("note.created", "none_pool") in expected("agent_b")
    assert expected("agent_a")[-2:] == [  # taken by the admin's reply, then nothing
        ("note.created", "moving"),
        ("conversation.assigned", "moving"),
    ]
    assert ("message.created", "a_pool") not in expected("agent_a")
    assert ("message.created", "a_pool") in expected("admin")
    assert expected("agent_b")[-2:] == [
        ("conversation.transferred", "moving"),
        ("note.created", "moving"),
    ]
    # A resume replays by the same rule (in SQL).
    await all_published(ctx)
    for viewer in ("sup_a", "agent_a", "other"):
        assert await replayed(server, who[viewer].token, start) == live[viewer], viewer


async def test_contact_events_reach_every_supervisor_and_admin(
    server, ctx, client: httpx.AsyncClient, actors: Actors
) -> None:
    """Supervisors and admins see every contact over HTTP, so every contact event reaches
    them; agents get it only with a conversation of the contact they may see."""
    divisions, who = await people(ctx, actors)
    admin = who["admin"].headers
    held = await factories.contact(ctx, name="Held in B")
    await factories.conversation(
        ctx, contact_id=held, division_id=divisions["b"], assigned_agent_id=who["other"].id
    )
    lonely = await factories.contact(ctx, name="No conversation")
    pooled = await factories.contact(ctx, name="In A's pool")
    await factories.conversation(ctx, contact_id=pooled, division_id=divisions["a"])
    sockets = {name: await connect(server, a.token) for name, a in who.items()}
    start = sockets["admin"].ready["seq"]
    try:
        for contact in (held, lonely, pooled):
            r = await client.patch(
                f"/api/v1/contacts/{contact}", json={"name": "Renamed"}, headers=admin
            )
            assert r.status_code == 200, r.text
        r = await client.post(
            f"/api/v1/contacts/{held}/merge",
            json={"other_contact_id": str(lonely)},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        assert (await client.delete(f"/api/v1/contacts/{pooled}", headers=admin)).status_code == 204
        await emit_one(ctx, "end")
        live = {name: await received(s) for name, s in sockets.items()}
    finally:
        for s in sockets.values():
            await s.close()
    staff = [
        ("contact.updated", str(held)),
        ("contact.updated", str(lonely)),
        ("contact.updated", str(pooled)),
        ("contact.merged", str(held)),
        ("contact.deleted", str(pooled)),
    ]
    for viewer in ("admin", "sup_a", "sup_b"):
        assert live[viewer] == staff, viewer
    # "other" holds the B conversation of `held`; agent_a may see A's pool (`pooled`).
    assert live["other"] == [
        ("contact.updated", str(held)),
        ("contact.updated", str(pooled)),  # other is in A too: the pool is theirs to see
        ("contact.merged", str(held)),
        ("contact.deleted", str(pooled)),
    ]
    assert live["agent_a"] == [("contact.updated", str(pooled)), ("contact.deleted", str(pooled))]
    assert live["agent_b"] == []
    await all_published(ctx)
    for viewer in ("sup_a", "agent_a", "agent_b"):
        assert await replayed(server, who[viewer].token, start) == live[viewer], viewer
