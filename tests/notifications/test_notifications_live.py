"""A notification reaches its recipient alone over the live socket, live and on resume
(after a reconnect), whatever the others' roles."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from uuid import UUID, uuid4

from omnistream.conversations.visibility import (
    Scope,
    Viewer,
    parse_audience,
    recipient,
    state,
)
from omnistream.kit.enums import Role
from tests import factories
from tests.conftest import Actors, Agent
from tests.events.test_websocket import (  # noqa: F401 (fixtures)
    Live,
    all_published,
    connect,
    dispatcher,
    server,
)


async def mention(client, author: Agent, cid: UUID, *mentioned: Agent, body: str) -> None:
    r = await client.post(
        f"/api/v1/conversations/{cid}/notes",
        headers=author.headers,
        json={"body": body, "mentions": [str(a.id) for a in mentioned]},
    )
    assert r.status_code == 201, r.text


# What these tests watch; other events (e.g. colleagues' presence) may interleave.
WATCHED = {"note.created", "notification.created", "notification.read"}


async def types_until(live: Live, last_type: str) -> list[dict[str, Any]]:
    """Watched events up to and including the first of `last_type`."""
    got: list[dict[str, Any]] = []
    while not got or got[-1]["type"] != last_type:
        frame = await live.frame(3.0)
        if frame["type"] == "event" and frame["event"]["type"] in WATCHED:
            got.append(frame["event"])
        elif frame["type"] != "event":
            got.append({"type": frame["type"], "frame": frame})
    return got


async def no_notification(live: Live, seconds: float) -> None:
    """No notification event arrives for this long (other events may)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                frame = await live.frame(seconds)
                if frame["type"] == "event":
                    assert not frame["event"]["type"].startswith("notification."), frame


async def test_a_mention_arrives_live_for_the_recipient_only(
    server,  # noqa: F811
    client,
    ctx,
    actors: Actors,
) -> None:
    division = await factories.division(ctx)
    author = await actors.make("agent", divisions=[division])
    mentioned = await actors.make("supervisor", divisions=[division])
    bystander = await actors.make("agent", divisions=[division])
    admin = await actors.make("admin")
    cid = await factories.conversation(ctx, division_id=division)
    sockets = {a.id: await connect(server, a.token) for a in (mentioned, bystander, admin)}
    try:
        await mention(client, author, cid, mentioned, body="@Sup can you approve?")
        got = await types_until(sockets[mentioned.id], "notification.created")
        assert [e["type"] for e in got] == ["note.created", "notification.created"]
        notification = got[-1]["data"]["notification"]
        assert notification["kind"] == "mention" and notification["conversation_id"] == str(cid)
        assert notification["data"]["excerpt"] == "@Sup can you approve?"
        assert notification["actor"]["id"] == str(author.id)
        assert got[-1]["actor"]["id"] == str(author.id)
        # The others see the note, never someone else's notification (not even an admin).
        for other in (bystander, admin):
            (note,) = await types_until(sockets[other.id], "note.created")
            assert note["data"]["note"]["mentions"][0]["id"] == str(mentioned.id)
            await no_notification(sockets[other.id], 0.3)
        # Marking it read tells the recipient's other tabs.
        r = await client.post(
            f"/api/v1/notifications/{notification['id']}/read", headers=mentioned.headers
        )
        assert r.status_code == 200, r.text
        (read,) = await types_until(sockets[mentioned.id], "notification.read")
        assert read["data"] == {"all": False, "ids": [notification["id"]]}
        await no_notification(sockets[admin.id], 0.2)
    finally:
        for live in sockets.values():
            await live.close()


async def test_a_mention_while_away_is_replayed_on_resume(
    server,  # noqa: F811
    client,
    ctx,
    actors: Actors,
) -> None:
    author = await actors.make("agent")
    me = await actors.make("agent")
    admin = await actors.make("admin")
    cid = await factories.conversation(ctx)
    mine, admins = await connect(server, me.token), await connect(server, admin.token)
    await mention(client, author, cid, me, body="first")
    seen = (await types_until(mine, "notification.created"))[-1]
    admin_seen = (await types_until(admins, "note.created"))[-1]
    await mine.close()
    await admins.close()
    await mention(client, author, cid, me, body="while you were away")
    await all_published(ctx)
    again = await connect(server, me.token, after_seq=seen["seq"])
    admin_again = await connect(server, admin.token, after_seq=admin_seen["seq"])
    try:
        replayed = await types_until(again, "notification.created")
        assert [e["type"] for e in replayed] == ["note.created", "notification.created"]
        assert replayed[-1]["data"]["notification"]["data"]["excerpt"] == "while you were away"
        assert (await types_until(again, "resumed"))[-1]["type"] == "resumed"
        admin_replayed = await types_until(admin_again, "resumed")
        # The note, not my notification.
        assert [e["type"] for e in admin_replayed] == ["note.created", "resumed"]
    finally:
        await again.close()
        await admin_again.close()
    # And the unread list after the reconnect has both.
    r = await client.get("/api/v1/notifications", headers=me.headers, params={"unread": "true"})
    assert [n["data"]["excerpt"] for n in r.json()["items"]] == ["while you were away", "first"]


def test_a_recipient_audience_reaches_that_agent_alone() -> None:
    """Scope.can_see_any (the reference) and Viewer.sees (the fan-out) agree: only the
    named agent, whatever their role; other audiences are unchanged."""
    me, other, division = uuid4(), uuid4(), uuid4()
    audiences = [[recipient(me)], [recipient(other)], [state(division, None)], []]
    for role in Role:
        for agent_id in (me, other):
            scope = Scope(role, agent_id, frozenset({division}))
            viewer = Viewer.of(scope)
            for audience in audiences:
                assert viewer.sees(parse_audience(audience)) == scope.can_see_any(audience)
            assert scope.can_see_any([recipient(agent_id)])
            assert not scope.can_see_any([recipient(me if agent_id == other else other)])
