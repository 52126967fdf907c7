"""Live updates driven by real API actions: what a transfer does to two agents' sockets."""

from __future__ import annotations

from typing import Any

from tests import factories
from tests.conftest import Actors
from tests.events.test_websocket import Live, connect, dispatcher, server  # noqa: F401 (fixtures)


async def events_until(client: Live, predicate: Any, within: float = 3.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while not got or not predicate(got[-1]):
        got.append(await client.event(within))
    return got


async def test_transfer_moves_the_live_stream(server, client, ctx, actors: Actors) -> None:  # noqa: F811
    d1, d2 = await factories.division(ctx), await factories.division(ctx)
    first = await actors.make("agent", divisions=[d1])
    second = await actors.make("agent", divisions=[d2])
    admin = await actors.make("admin")
    moving = await factories.conversation(ctx, division_id=d1)
    staying = await factories.conversation(ctx, division_id=d1)
    live_first, live_second = (
        await connect(server, first.token),
        await connect(server, second.token),
    )
    try:
        r = await client.post(
            f"/api/v1/conversations/{moving}/transfer",
            headers=admin.headers,
            json={"division_id": str(d2), "reason": "billing"},
        )
        assert r.status_code == 200, r.text
        # Both learn of the transfer: the first so the conversation leaves their inbox live.
        for live in (live_first, live_second):
            (event,) = await events_until(live, lambda e: True)
            assert event["type"] == "conversation.transferred"
            assert event["data"]["conversation"]["division_id"] == str(d2)
            assert event["actor"]["id"] == str(admin.id)
        # Afterwards the moved conversation's events reach only the new division.
        note = await client.post(
            f"/api/v1/conversations/{moving}/notes",
            headers=admin.headers,
            json={"body": "for billing"},
        )
        assert note.status_code == 201
        marker = await client.post(
            f"/api/v1/conversations/{staying}/notes", headers=admin.headers, json={"body": "marker"}
        )
        assert marker.status_code == 201
        got_first = await events_until(live_first, lambda e: e["data"]["note"]["body"] == "marker")
        assert [e["data"]["note"]["body"] for e in got_first] == ["marker"]
        (got_second,) = await events_until(live_second, lambda e: True)
        assert (
            got_second["type"] == "note.created"
            and got_second["data"]["note"]["body"] == "for billing"
        )
        await live_second.silent(0.3)  # the marker (division 1) never reaches the second agent
    finally:
        await live_first.close()
        await live_second.close()
