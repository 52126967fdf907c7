"""Scheduled messages, the API's rules: validation, list / edit / cancel, visibility, quick
replies. The worker is tested in test_scheduled_worker.py, with the helpers below."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from omnistream.context import AppContext
from tests import factories
from tests.conftest import Actors, Agent, fields, problem
from tests.quick_replies.test_quick_replies import create as create_quick_reply

Schedule = Callable[..., Awaitable[httpx.Response]]


def later(seconds: float = 3600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def schedule(client: httpx.AsyncClient, admin: Agent) -> Schedule:
    async def post(conversation_id: UUID, agent: Agent = admin, **body: Any) -> httpx.Response:
        body.setdefault("type", "text")
        body.setdefault("scheduled_at", later())
        if body["type"] == "text":
            body.setdefault("text", "Your parcel ships today")
        return await client.post(
            f"/api/v1/conversations/{conversation_id}/scheduled-messages",
            json=body,
            headers=agent.headers,
        )

    return post


async def scheduled(schedule: Schedule, conversation_id: UUID, **body: Any) -> str:
    r = await schedule(conversation_id, **body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def due(ctx: AppContext, *ids: str, ago: float = 1.0) -> None:
    """As if time passed: the rows' times move `ago` seconds into the past."""
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE scheduled_messages SET scheduled_at = now() - make_interval(secs => $2) "
            "WHERE id = ANY($1::uuid[])",
            [UUID(i) for i in ids],
            ago,
        )


async def fetch(ctx: AppContext, sql: str, *args: Any) -> list[Any]:
    async with ctx.pool.acquire() as conn:
        return list(await conn.fetch(sql, *args))


async def row(ctx: AppContext, scheduled_id: str) -> Any:
    (found,) = await fetch(
        ctx, "SELECT * FROM scheduled_messages WHERE id = $1", UUID(scheduled_id)
    )
    return found


async def event_types(ctx: AppContext) -> list[str]:
    rows = await fetch(
        ctx, "SELECT type FROM event_outbox WHERE type LIKE 'scheduled%' ORDER BY pos"
    )
    return [r["type"] for r in rows]


# The API ------------------------------------------------------------------------------------


async def test_validation(ctx, client, admin, schedule: Schedule) -> None:
    conversation_id = await factories.conversation(ctx)
    naive = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert fields(problem(await schedule(conversation_id, scheduled_at=naive), 422)) == {
        "scheduled_at"
    }
    past = problem(await schedule(conversation_id, scheduled_at=later(-60)), 422)
    assert fields(past) == {"scheduled_at"} and "in the past" in past["detail"]
    # The instants too, for the web app to show in the agent's time zone (the API's is UTC).
    (error,) = past["errors"]
    assert error["type"] == "in_the_past" and error["message"].startswith("Is in the past (")
    assert error["message"].endswith(" UTC)")
    assert datetime.fromisoformat(error["at"]) < datetime.fromisoformat(error["now"])
    ahead = problem(await schedule(conversation_id, scheduled_at=later(400 * 86400)), 422)
    assert ahead["errors"][0]["type"] == "too_far_ahead"
    assert fields(problem(await schedule(conversation_id, text="  "), 422)) == {"text"}
    assert fields(problem(await schedule(conversation_id, type="image"), 422)) == {"media_id"}
    r = await schedule(conversation_id, type="image", link="ftp://example.com/a.png")
    assert fields(problem(r, 422)) == {"link"}
    r = await schedule(conversation_id, type="reaction", emoji="👍")
    assert fields(problem(r, 422)) == {"type"}
    assert fields(problem(await schedule(conversation_id, colour="red"), 422)) == {"colour"}
    assert not await fetch(ctx, "SELECT 1 FROM scheduled_messages")
    # A moment ago is within the clock-skew allowance: due at once.
    assert (await schedule(conversation_id, scheduled_at=later(-2))).status_code == 201
    r = await schedule(conversation_id, type="image", link="https://cdn.example.com/box.png")
    assert r.status_code == 201, r.text
    assert r.json()["message"] == {"type": "image", "link": "https://cdn.example.com/box.png"}


async def test_list_edit_cancel(ctx, client, admin, schedule: Schedule) -> None:
    conversation_id = await factories.conversation(ctx)
    ids = [
        await scheduled(schedule, conversation_id, scheduled_at=later(60 * (3 - i)))
        for i in range(3)
    ]
    base = f"/api/v1/conversations/{conversation_id}/scheduled-messages"
    first = await client.get(base, params={"limit": 2}, headers=admin.headers)
    assert [i["id"] for i in first.json()["items"]] == [ids[2], ids[1]]  # soonest first
    rest = await client.get(
        base, params={"cursor": first.json()["next_cursor"]}, headers=admin.headers
    )
    assert [i["id"] for i in rest.json()["items"]] == [ids[0]] and not rest.json()["next_cursor"]

    one = f"/api/v1/scheduled-messages/{ids[0]}"
    new_time = later(7200)
    r = await client.patch(one, json={"scheduled_at": new_time}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["scheduled_at"] == new_time.replace("+00:00", "Z")
    r = await client.patch(one, json={"message": {"type": "text"}}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"message.text"}
    r = await client.patch(
        one, json={"message": {"type": "text", "text": "v2"}}, headers=admin.headers
    )
    assert r.json()["message"] == {"type": "text", "text": "v2"}
    problem(await client.patch(one, json={}, headers=admin.headers), 422)
    for null in ("scheduled_at", "message"):  # named, not the whole body
        r = await client.patch(one, json={null: None}, headers=admin.headers)
        assert fields(problem(r, 422)) == {null}
    problem(await client.patch(one, json={"scheduled_at": later(-60)}, headers=admin.headers), 422)

    r = await client.post(one + "/cancel", headers=admin.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert (
        await client.delete(f"/api/v1/scheduled-messages/{ids[1]}", headers=admin.headers)
    ).status_code == 204
    problem(await client.post(one + "/cancel", headers=admin.headers), 409)
    problem(await client.delete(one, headers=admin.headers), 409)
    body = problem(
        await client.patch(one, json={"scheduled_at": later()}, headers=admin.headers), 409
    )
    assert "cancelled" in body["detail"]

    r = await client.get(
        "/api/v1/scheduled-messages", params={"status": "pending"}, headers=admin.headers
    )
    assert [i["id"] for i in r.json()["items"]] == [ids[2]]
    r = await client.get(
        "/api/v1/scheduled-messages",
        params={"status": "cancelled", "conversation_id": str(conversation_id), "order": "desc"},
        headers=admin.headers,
    )
    assert [i["id"] for i in r.json()["items"]] == [ids[0], ids[1]]
    assert await event_types(ctx) == [
        *["scheduled_message.created"] * 3,
        *["scheduled_message.updated"] * 2,
        *["scheduled_message.cancelled"] * 2,
    ]
    actions = await fetch(
        ctx,
        "SELECT action, count(*) AS n FROM activity_logs WHERE target_type = "
        "'scheduled_message' GROUP BY action ORDER BY action",
    )
    assert {r["action"]: r["n"] for r in actions} == {
        "cancel_scheduled_message": 2,
        "edit_scheduled_message": 2,
        "schedule_message": 3,
    }


async def test_visibility(ctx, client, actors: Actors, schedule: Schedule) -> None:
    mine, theirs = await factories.division(ctx), await factories.division(ctx)
    agent = await actors.make("agent", divisions=[mine])
    visible = await factories.conversation(ctx, division_id=mine)
    hidden = await factories.conversation(ctx, division_id=theirs)
    await scheduled(schedule, visible, agent=agent)
    other = await scheduled(schedule, hidden)  # by the admin
    problem(await schedule(hidden, agent=agent), 404)
    one = f"/api/v1/scheduled-messages/{other}"
    problem(await client.get(one, headers=agent.headers), 404)
    problem(await client.patch(one, json={"scheduled_at": later()}, headers=agent.headers), 404)
    problem(await client.post(one + "/cancel", headers=agent.headers), 404)
    listed = await client.get("/api/v1/scheduled-messages", headers=agent.headers)
    assert [i["conversation_id"] for i in listed.json()["items"]] == [str(visible)]
    r = await client.get(
        "/api/v1/scheduled-messages", params={"conversation_id": str(hidden)}, headers=agent.headers
    )
    problem(r, 404)
    assert (await row(ctx, other))["status"] == "pending"


async def test_a_quick_reply_is_rendered_when_scheduled(ctx, client, admin, schedule) -> None:
    contact = await factories.contact(ctx, name="Budi Santoso")
    conversation_id = await factories.conversation(ctx, contact_id=contact)
    reply = await create_quick_reply(client, admin, title="Remind", body="Hi {{contact.name}}!")
    r = await schedule(conversation_id, type="quick_reply", quick_reply_id=reply["id"])
    assert r.status_code == 201, r.text
    assert r.json()["message"] == {"type": "text", "text": "Hi Budi Santoso!"}
    r = await schedule(conversation_id, type="quick_reply", quick_reply_id=str(contact))
    assert fields(problem(r, 422)) == {"quick_reply_id"}
