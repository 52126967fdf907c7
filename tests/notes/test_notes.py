"""Internal notes: add, list, delete own (admins any); never a message."""

from __future__ import annotations

from tests import factories
from tests.conftest import Actors, fields, problem


async def test_notes_lifecycle(client, ctx, actors: Actors) -> None:
    author = await actors.make("agent")
    colleague = await actors.make("agent")
    admin = await actors.make("admin")
    cid = await factories.conversation(ctx)
    url = f"/api/v1/conversations/{cid}/notes"
    created = []
    for i in range(3):
        r = await client.post(url, headers=author.headers, json={"body": f"  note {i}  "})
        assert r.status_code == 201, r.text
        created.append(r.json())
    assert created[0]["body"] == "note 0" and created[0]["agent_name"]
    page = (await client.get(url, headers=colleague.headers, params={"limit": 2})).json()
    assert [n["body"] for n in page["items"]] == ["note 2", "note 1"] and page["next_cursor"]
    rest = (
        await client.get(url, headers=colleague.headers, params={"cursor": page["next_cursor"]})
    ).json()
    assert [n["body"] for n in rest["items"]] == ["note 0"] and rest["next_cursor"] is None
    # Only the author or an admin deletes.
    problem(await client.delete(f"{url}/{created[0]['id']}", headers=colleague.headers), 403)
    assert (
        await client.delete(f"{url}/{created[0]['id']}", headers=author.headers)
    ).status_code == 204
    assert (
        await client.delete(f"{url}/{created[1]['id']}", headers=admin.headers)
    ).status_code == 204
    problem(await client.delete(f"{url}/{created[1]['id']}", headers=admin.headers), 404)
    remaining = (await client.get(url, headers=author.headers)).json()["items"]
    assert [n["body"] for n in remaining] == ["note 2"]
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 0  # never a message
        assert (
            await conn.fetchval("SELECT count(*) FROM event_outbox WHERE type='note.created'") == 3
        )
        assert (
            await conn.fetchval("SELECT count(*) FROM event_outbox WHERE type='note.deleted'") == 2
        )
        assert (
            await conn.fetchval("SELECT count(*) FROM activity_logs WHERE action='add_note'") == 3
        )
        assert (
            await conn.fetchval("SELECT count(*) FROM activity_logs WHERE action='delete_note'")
            == 2
        )
        preview = await conn.fetchval(
            "SELECT last_message_preview FROM conversations WHERE id=$1", cid
        )
    assert "note" not in preview  # a note does not touch the conversation's preview


async def test_note_bad_input(client, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    cid = await factories.conversation(ctx)
    url = f"/api/v1/conversations/{cid}/notes"
    assert fields(
        problem(await client.post(url, headers=agent.headers, json={"body": "   "}), 422)
    ) == {"body"}
    assert fields(
        problem(await client.post(url, headers=agent.headers, json={"body": "x" * 20001}), 422)
    ) == {"body"}
    assert fields(problem(await client.post(url, headers=agent.headers, json={}), 422)) == {"body"}
    problem(await client.get(url, headers=agent.headers, params={"cursor": "bad"}), 400)
    problem(
        await client.post(
            "/api/v1/conversations/00000000-0000-0000-0000-000000000000/notes",
            headers=agent.headers,
            json={"body": "x"},
        ),
        404,
    )
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM conversation_notes") == 0
