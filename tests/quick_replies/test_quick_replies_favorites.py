"""Favourite (pinned) quick replies: per agent, listed first, only visible replies, and each
change of a pin an event for that agent and an activity entry."""

from __future__ import annotations

from uuid import UUID

from tests.conftest import fields, problem
from tests.quick_replies.test_quick_replies import URL, Org, create, listing, org, titles

__all__ = ["org"]  # the fixture


async def test_favourites_first_then_title(client, ctx, org: Org) -> None:
    for title in ["delta", "Bravo", "alpha", "Charlie", "echo"]:
        await create(client, org.admin, title=title)
    in_b = await create(client, org.admin, title="Billing", division_id=str(org.b))
    assert await titles(client, org.agent_a) == ["alpha", "Bravo", "Charlie", "delta", "echo"]
    ids = {i["title"]: i["id"] for i in await listing(client, org.agent_a)}
    for title in ("echo", "Charlie", "echo"):  # pinning twice is a no-op
        r = await client.put(f"{URL}/{ids[title]}/favorite", headers=org.agent_a.headers)
        assert r.status_code == 204
    items = await listing(client, org.agent_a)
    assert [i["title"] for i in items] == ["Charlie", "echo", "alpha", "Bravo", "delta"]
    assert [i["is_favorite"] for i in items] == [True, True, False, False, False]
    # Favourites are per agent.
    assert await titles(client, org.sup_a) == ["alpha", "Bravo", "Charlie", "delta", "echo"]
    got = await client.get(f"{URL}/{ids['echo']}", headers=org.agent_a.headers)
    assert got.json()["is_favorite"] is True
    got = await client.get(f"{URL}/{ids['echo']}", headers=org.sup_a.headers)
    assert got.json()["is_favorite"] is False
    for _ in range(2):  # unpinning twice is a no-op too
        r = await client.delete(f"{URL}/{ids['echo']}/favorite", headers=org.agent_a.headers)
        assert r.status_code == 204
    assert (await titles(client, org.agent_a))[:2] == ["Charlie", "alpha"]
    # Each change of a pin (not a repeat) is an event and an activity entry of that agent.
    pins = [("quick_reply.favorited", ids["echo"]), ("quick_reply.favorited", ids["Charlie"])]
    pins.append(("quick_reply.unfavorited", ids["echo"]))
    async with ctx.pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT type, data FROM event_outbox WHERE type LIKE '%favorited' ORDER BY pos"
        )
        logs = await conn.fetch(
            "SELECT agent_id, action, target_id FROM activity_logs "
            "WHERE action LIKE '%pin_quick_reply' ORDER BY created_at"
        )
    assert [(e["type"], e["data"]["quick_reply"]["id"]) for e in events] == pins
    assert [(g["action"], str(g["target_id"])) for g in logs] == [
        ("pin_quick_reply", ids["echo"]),
        ("pin_quick_reply", ids["Charlie"]),
        ("unpin_quick_reply", ids["echo"]),
    ]
    assert {g["agent_id"] for g in logs} == {org.agent_a.id}
    # Only replies one may see can be pinned.
    problem(await client.put(f"{URL}/{in_b['id']}/favorite", headers=org.agent_a.headers), 404)
    problem(await client.delete(f"{URL}/{in_b['id']}/favorite", headers=org.agent_a.headers), 404)
    problem(await client.put(f"{URL}/{UUID(int=3)}/favorite", headers=org.agent_a.headers), 404)
    # Pagination keeps the order across pages (favourites first, then titles).
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(URL, params=params, headers=org.agent_a.headers)).json()
        assert len(page["items"]) <= 2
        seen += [i["title"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["Charlie", "alpha", "Bravo", "delta", "echo"]
    r = await client.get(URL, params={"cursor": "bm9wZQ"}, headers=org.agent_a.headers)
    assert fields(problem(r, 400)) == {"cursor"}
