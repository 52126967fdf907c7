"""My notifications: only mine, newest first in keyset pages, read / unread / counts, and
only while I may still see their conversation."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from omnistream.context import AppContext
from omnistream.db.pool import transaction
from omnistream.notifications.kinds import NotificationKind
from omnistream.notifications.service import notify
from tests import factories
from tests.conftest import Actors, Agent, problem

URL = "/api/v1/notifications"


async def mention(client, author: Agent, cid: UUID, *mentioned: Agent, body: str = "hi") -> None:
    r = await client.post(
        f"/api/v1/conversations/{cid}/notes",
        headers=author.headers,
        json={"body": body, "mentions": [str(a.id) for a in mentioned]},
    )
    assert r.status_code == 201, r.text


async def unread(client, agent: Agent) -> int:
    r = await client.get(f"{URL}/unread-count", headers=agent.headers)
    assert r.status_code == 200, r.text
    value: int = r.json()["unread_count"]
    return value


async def listed(client, agent: Agent, **params: Any) -> dict[str, Any]:
    r = await client.get(URL, headers=agent.headers, params=params)
    assert r.status_code == 200, r.text
    value: dict[str, Any] = r.json()
    return value


async def test_pages_read_unread_and_counts(client, ctx, actors: Actors) -> None:
    author = await actors.make("agent")
    me = await actors.make("agent")
    someone = await actors.make("agent")
    cid = await factories.conversation(ctx)
    for i in range(5):
        await mention(client, author, cid, me, body=f"note {i}")
    await mention(client, author, cid, someone, body="not mine")
    assert await unread(client, me) == 5 and await unread(client, someone) == 1
    first = await listed(client, me, limit=2)
    assert [n["data"]["excerpt"] for n in first["items"]] == ["note 4", "note 3"]
    assert first["unread_count"] == 5 and first["next_cursor"]
    second = await listed(client, me, limit=2, cursor=first["next_cursor"])
    third = await listed(client, me, limit=2, cursor=second["next_cursor"])
    assert [n["data"]["excerpt"] for n in second["items"] + third["items"]] == [
        "note 2",
        "note 1",
        "note 0",
    ]
    assert third["next_cursor"] is None
    # Mark one read: twice is the same; another agent's answers 404 like a missing one.
    target = first["items"][1]["id"]
    for _ in range(2):
        r = await client.post(f"{URL}/{target}/read", headers=me.headers)
        assert r.status_code == 200 and r.json()["unread_count"] == 4
    problem(await client.post(f"{URL}/{target}/read", headers=someone.headers), 404)
    problem(await client.post(f"{URL}/{UUID(int=1)}/read", headers=me.headers), 404)
    only_unread = await listed(client, me, unread="true")
    assert len(only_unread["items"]) == 4 and target not in {n["id"] for n in only_unread["items"]}
    read_one = next(n for n in (await listed(client, me))["items"] if n["id"] == target)
    assert read_one["read_at"] is not None
    # Mark all read: only mine.
    r = await client.post(f"{URL}/read-all", headers=me.headers)
    assert r.json() == {"marked": 4, "unread_count": 0}
    assert (await client.post(f"{URL}/read-all", headers=me.headers)).json()["marked"] == 0
    assert await unread(client, me) == 0 and await unread(client, someone) == 1
    async with ctx.pool.acquire() as conn:
        reads = await conn.fetch(
            "SELECT data, audience FROM event_outbox WHERE type = 'notification.read' ORDER BY seq"
        )
    assert [r["data"]["all"] for r in reads] == [False, True]  # the repeated marks: none
    assert reads[0]["data"]["ids"] == [target]
    assert all(r["audience"] == [{"recipient": str(me.id)}] for r in reads)


async def test_kind_filter_is_the_mentions_view(client, ctx, actors: Actors) -> None:
    author = await actors.make("agent")
    me = await actors.make("agent")
    cid = await factories.conversation(ctx, assigned_agent_id=me.id)
    await mention(client, author, await factories.conversation(ctx), me, body="look")
    async with transaction(ctx.pool) as tx:
        await notify(
            tx,
            me.id,
            NotificationKind.SNOOZE_ENDED,
            conversation_id=cid,
            actor_id=None,
            data={"reason": "time"},
        )
    everything = await listed(client, me)
    assert [n["kind"] for n in everything["items"]] == ["snooze_ended", "mention"]
    assert everything["items"][0]["actor"] is None
    mentions = await listed(client, me, kind="mention")
    assert [n["data"]["excerpt"] for n in mentions["items"]] == ["look"]
    bad = problem(await client.get(URL, headers=me.headers, params={"kind": "nope"}), 422)
    assert bad["errors"][0]["field"].endswith("kind")
    problem(await client.get(URL, headers=me.headers, params={"cursor": "x!"}), 400)


async def test_a_conversation_out_of_sight_hides_its_notifications(
    client, ctx: AppContext, actors: Actors
) -> None:
    mine, other = await factories.division(ctx), await factories.division(ctx)
    author = await actors.make("agent", divisions=[mine])
    me = await actors.make("agent", divisions=[mine])
    admin = await actors.make("admin")
    moving = await factories.conversation(ctx, division_id=mine)
    staying = await factories.conversation(ctx, division_id=mine)
    await mention(client, author, moving, me, body="secret plan")
    await mention(client, author, staying, me, body="still here")
    assert await unread(client, me) == 2
    r = await client.post(
        f"/api/v1/conversations/{moving}/transfer",
        headers=admin.headers,
        json={"division_id": str(other), "reason": "billing"},
    )
    assert r.status_code == 200, r.text
    page = await listed(client, me)
    assert [n["data"]["excerpt"] for n in page["items"]] == ["still here"]
    assert page["unread_count"] == 1 and await unread(client, me) == 1
    assert "secret plan" not in str(page)


async def test_notifications_need_a_signed_in_agent(client) -> None:
    problem(await client.get(URL), 401)
    problem(await client.get(f"{URL}/unread-count"), 401)
    problem(await client.post(f"{URL}/read-all"), 401)
