"""@mentions in notes: only agents who may see the conversation; each notified once."""

from __future__ import annotations

from uuid import UUID

from omnistream.context import AppContext
from tests import factories
from tests.conftest import Actors, Agent, problem


async def counts(ctx: AppContext) -> dict[str, int]:
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM conversation_notes) AS notes, "
            "(SELECT count(*) FROM notifications) AS notifications, "
            "(SELECT count(*) FROM event_outbox WHERE type = 'notification.created') AS events, "
            "(SELECT count(*) FROM activity_logs WHERE action = 'add_note') AS activity"
        )
    return dict(row)


async def notified(ctx: AppContext) -> dict[UUID, int]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT recipient_id, count(*) AS n FROM notifications GROUP BY recipient_id"
        )
    return {r["recipient_id"]: r["n"] for r in rows}


async def test_mentions_notify_each_visible_agent_but_the_author(
    client, ctx, actors: Actors
) -> None:
    division = await factories.division(ctx)
    author = await actors.make("agent", divisions=[division])
    colleague = await actors.make("agent", divisions=[division])
    supervisor = await actors.make("supervisor", divisions=[division])
    admin = await actors.make("admin")
    cid = await factories.conversation(ctx, division_id=division)
    body = {
        "body": "@Colleague @Supervisor @Admin please look",
        # The author too, and the colleague twice: notified once, never the author.
        "mentions": [str(a.id) for a in (colleague, supervisor, admin, author, colleague)],
    }
    r = await client.post(f"/api/v1/conversations/{cid}/notes", headers=author.headers, json=body)
    assert r.status_code == 201, r.text
    note = r.json()
    assert [m["id"] for m in note["mentions"]] == [
        str(a.id) for a in (colleague, supervisor, admin, author)
    ]
    assert all(m["name"] for m in note["mentions"])
    assert await notified(ctx) == {colleague.id: 1, supervisor.id: 1, admin.id: 1}
    async with ctx.pool.acquire() as conn:
        event = await conn.fetchrow(
            "SELECT data, audience FROM event_outbox WHERE type = 'note.created'"
        )
        audiences = await conn.fetch(
            "SELECT audience FROM event_outbox WHERE type = 'notification.created'"
        )
        logged = await conn.fetchval(
            "SELECT metadata_json FROM activity_logs WHERE action = 'add_note'"
        )
    assert event["data"]["note"]["mentions"] == note["mentions"]
    assert sorted(a["audience"][0]["recipient"] for a in audiences) == sorted(
        str(a.id) for a in (colleague, supervisor, admin)
    )
    assert logged["mentions"] == [m["id"] for m in note["mentions"]]
    # The listed note carries its mentions too.
    listed = (
        await client.get(f"/api/v1/conversations/{cid}/notes", headers=colleague.headers)
    ).json()["items"]
    assert listed[0]["mentions"] == note["mentions"]
    # The colleague's notification shows who, where and what.
    (item,) = (await client.get("/api/v1/notifications", headers=colleague.headers)).json()["items"]
    assert item["kind"] == "mention" and item["conversation_id"] == str(cid)
    assert item["note_id"] == note["id"] and item["actor"]["id"] == str(author.id)
    assert item["contact_name"] == "Budi Santoso"
    assert item["data"]["excerpt"] == body["body"] and item["read_at"] is None


async def test_mentioning_someone_who_cannot_see_is_refused(client, ctx, actors: Actors) -> None:
    mine, other = await factories.division(ctx), await factories.division(ctx)
    author = await actors.make("agent", divisions=[mine])
    visible = await actors.make("agent", divisions=[mine])
    outsider = await actors.make("agent", divisions=[other])
    other_supervisor = await actors.make("supervisor", divisions=[other])
    busy = await actors.make("agent", divisions=[mine])
    cid = await factories.conversation(ctx, division_id=mine)
    assigned = await factories.conversation(ctx, division_id=mine, assigned_agent_id=author.id)
    before = await counts(ctx)

    async def post(conversation: UUID, *agents: Agent | UUID) -> dict[str, object]:
        ids = [str(a.id if isinstance(a, Agent) else a) for a in agents]
        r = await client.post(
            f"/api/v1/conversations/{conversation}/notes",
            headers=author.headers,
            json={"body": "hello", "mentions": ids},
        )
        return problem(r, 422)

    body = await post(cid, visible, outsider, other_supervisor)
    names = {e["agent_id"]: e for e in body["errors"]}  # type: ignore[attr-defined]
    assert set(names) == {str(outsider.id), str(other_supervisor.id)}
    assert all(e["field"] == "mentions" and e["type"] == "cannot_see" for e in names.values())
    assert names[str(outsider.id)]["message"].endswith("cannot see this conversation")
    async with ctx.pool.acquire() as conn:
        outsider_name = await conn.fetchval("SELECT name FROM agents WHERE id=$1", outsider.id)
    assert outsider_name in body["detail"]  # type: ignore[operator]
    assert names[str(outsider.id)]["name"] == outsider_name  # the web app words it itself
    # Assigned to the author: a plain agent of the division no longer sees it.
    body = await post(assigned, busy)
    assert body["errors"][0]["agent_id"] == str(busy.id)  # type: ignore[index]
    # Unknown and deactivated agents are refused as well.
    body = await post(cid, UUID(int=7))
    assert body["errors"][0]["type"] == "unknown_agent"  # type: ignore[index]
    async with ctx.pool.acquire() as conn:
        await conn.execute("UPDATE agents SET is_active = false WHERE id = $1", visible.id)
    body = await post(cid, visible)
    assert body["errors"][0]["type"] == "cannot_see"  # type: ignore[index]
    assert await counts(ctx) == before  # nothing written: no note, notification, event, entry


async def test_mentionable_lists_who_may_see_the_conversation(client, ctx, actors: Actors) -> None:
    mine, other = await factories.division(ctx), await factories.division(ctx)
    author = await actors.make("agent", divisions=[mine])
    member = await actors.make("agent", divisions=[mine])
    outsider = await actors.make("agent", divisions=[other])
    supervisor = await actors.make("supervisor", divisions=[mine])
    other_supervisor = await actors.make("supervisor", divisions=[other])
    admin = await actors.make("admin")
    retired = await actors.make("admin")
    async with ctx.pool.acquire() as conn:
        await conn.execute("UPDATE agents SET is_active = false WHERE id = $1", retired.id)
        await conn.execute("UPDATE agents SET name = 'Zed 100%_x' WHERE id = $1", member.id)
    cid = await factories.conversation(ctx, division_id=mine)
    url = f"/api/v1/conversations/{cid}/notes/mentionable"
    r = await client.get(url, headers=author.headers)
    assert r.status_code == 200, r.text
    ids = {a["id"] for a in r.json()}
    expected = {str(a.id) for a in (author, member, supervisor, admin)}
    assert expected <= ids  # (admins of other tests may be listed too)
    assert not ids & {str(a.id) for a in (outsider, other_supervisor, retired)}
    # q matches part of the name, literally (% and _ are no wildcards).
    found = (await client.get(url, headers=author.headers, params={"q": "100%_"})).json()
    assert [a["id"] for a in found] == [str(member.id)]
    assert (await client.get(url, headers=author.headers, params={"q": "0%x"})).json() == []
    # Someone who cannot see the conversation learns nothing about it.
    problem(await client.get(url, headers=outsider.headers), 404)
