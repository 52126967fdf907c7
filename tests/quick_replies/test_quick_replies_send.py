"""Using quick replies: placeholder rendering and sending by quick_reply_id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from omnistream.context import AppContext
from tests import factories
from tests.conftest import Agent, fields, problem
from tests.quick_replies.test_quick_replies import URL, Org, create, org, raw_reply, scalar

__all__ = ["org"]  # the fixture, shared with the management tests

BODY = "Halo {{contact.name}} ({{ contact.phone }}), saya {{agent.name}}. #{{\tconversation.id  }}"


async def agent_name(ctx: AppContext, agent: Agent) -> str:
    name: str = await scalar(ctx, "SELECT name FROM agents WHERE id = $1", agent.id)
    return name


async def test_render(client, ctx, org: Org) -> None:
    contact = await factories.contact(ctx, name="Budi Santoso", phone="628123456789")
    conversation = await factories.conversation(ctx, contact_id=contact, division_id=org.a)
    reply = await create(
        client,
        org.sup_a,
        title="Greet",
        body=BODY,
        media_url="https://cdn.example/menu.jpg",
        division_id=str(org.a),
    )
    url = f"{URL}/{reply['id']}/render"
    r = await client.post(
        url, json={"conversation_id": str(conversation)}, headers=org.agent_a.headers
    )
    assert r.status_code == 200, r.text
    name = await agent_name(ctx, org.agent_a)
    assert r.json() == {
        "quick_reply_id": reply["id"],
        "conversation_id": str(conversation),
        "text": f"Halo Budi Santoso (+628123456789), saya {name}. #{conversation}",
        "media_url": "https://cdn.example/menu.jpg",
        "media_type": "image",
    }
    # A missing value renders empty; values are not rendered again.
    await scalar(
        ctx, "UPDATE contacts SET phone = NULL, name = '{{agent.name}}' WHERE id = $1", contact
    )
    r = await client.post(
        url, json={"conversation_id": str(conversation)}, headers=org.agent_a.headers
    )
    assert r.json()["text"].startswith("Halo {{agent.name}} (), saya ")
    # The conversation and the reply must both be visible to the caller.
    elsewhere = await factories.conversation(ctx, division_id=org.b)
    r = await client.post(
        url, json={"conversation_id": str(elsewhere)}, headers=org.agent_a.headers
    )
    problem(r, 404)
    r = await client.post(
        url, json={"conversation_id": str(conversation)}, headers=org.agent_b.headers
    )
    problem(r, 404)
    assert fields(problem(await client.post(url, json={}, headers=org.agent_a.headers), 422)) == {
        "conversation_id"
    }
    # An unknown placeholder (stored before the API checked, or by hand) answers 422 naming it.
    legacy = await raw_reply(ctx, "Legacy", "Order {{ order.id }} for {{contact.name}}")
    r = await client.post(
        f"{URL}/{legacy}/render",
        json={"conversation_id": str(conversation)},
        headers=org.agent_a.headers,
    )
    body = problem(r, 422)
    assert fields(body) == {"body"} and body["unknown_placeholders"] == ["order.id"]
    assert "{{order.id}}" in body["detail"]


async def messages_of(ctx: AppContext, conversation: UUID) -> list[Any]:
    async with ctx.pool.acquire() as conn:
        return await conn.fetch(
            "SELECT * FROM messages WHERE conversation_id = $1 ORDER BY created_at, id",
            conversation,
        )


async def test_send_by_quick_reply_id(client, ctx, org: Org) -> None:
    contact = await factories.contact(ctx, name="Ana", phone="6281111111111")
    conversation = await factories.conversation(ctx, contact_id=contact, division_id=org.a)
    text = await create(client, org.admin, title="Thanks", body="Terima kasih {{ contact.name }}!")
    photo = await create(
        client,
        org.admin,
        title="Menu",
        body="Menu for {{contact.name}}",
        media_url="https://cdn.example/menu.png",
    )
    pdf = await create(
        client,
        org.admin,
        title="Terms",
        body="Our terms",
        media_url="https://cdn.example/t%20c.pdf",
    )
    url = f"/api/v1/conversations/{conversation}/messages"
    agent = org.agent_a

    r = await client.post(url, json={"quick_reply_id": text["id"]}, headers=agent.headers)
    assert r.status_code == 201, r.text
    assert (r.json()["type"], r.json()["content"]) == ("text", {"text": "Terima kasih Ana!"})
    r = await client.post(
        url, json={"type": "quick_reply", "quick_reply_id": photo["id"]}, headers=agent.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["type"] == "image"
    r = await client.post(url, json={"quick_reply_id": pdf["id"]}, headers=agent.headers)
    assert r.status_code == 201, r.text
    rows = await messages_of(ctx, conversation)
    assert [(m["type"], m["direction"], m["status"]) for m in rows] == [
        ("text", "outbound", "pending"),
        ("image", "outbound", "pending"),
        ("document", "outbound", "pending"),
    ]
    assert rows[0]["content"] == {"text": "Terima kasih Ana!"}
    assert rows[1]["content"] == {"link": "https://cdn.example/menu.png", "caption": "Menu for Ana"}
    assert rows[2]["content"] == {
        "link": "https://cdn.example/t%20c.pdf",
        "caption": "Our terms",
        "filename": "t c.pdf",
    }
    assert {m["sender_agent_id"] for m in rows} == {agent.id}
    preview = await scalar(
        ctx, "SELECT last_message_preview FROM conversations WHERE id = $1", conversation
    )
    assert preview == "📄 Our terms"
    created = await scalar(ctx, "SELECT count(*) FROM event_outbox WHERE type = 'message.created'")
    assert created == 3

    # Refused, with nothing written: a reply of another division, an unknown placeholder,
    # a quick reply mixed with content or another type, an empty rendering.
    in_b = await create(client, org.admin, title="B only", division_id=str(org.b))
    legacy = await raw_reply(ctx, "Legacy", "Order {{order.id}}")
    empty = await raw_reply(ctx, "Phone", "{{contact.phone}}")
    await scalar(ctx, "UPDATE contacts SET phone = NULL WHERE id = $1", contact)
    for body, field in [
        ({"quick_reply_id": in_b["id"]}, "quick_reply_id"),
        ({"quick_reply_id": str(UUID(int=9))}, "quick_reply_id"),
        ({"quick_reply_id": legacy}, "quick_reply_id"),
        ({"quick_reply_id": empty}, "quick_reply_id"),
        ({"quick_reply_id": text["id"], "text": "hi"}, "text"),
        ({"quick_reply_id": text["id"], "caption": "hi"}, "caption"),
        ({"type": "text", "text": "hi", "quick_reply_id": text["id"]}, "quick_reply_id"),
        ({"type": "quick_reply"}, "quick_reply_id"),
        ({"quick_reply_id": "nope"}, "quick_reply_id"),
    ]:
        r = await client.post(url, json=body, headers=agent.headers)
        assert fields(problem(r, 422)) == {field}, (body, r.text)
    r = await client.post(url, json={"quick_reply_id": legacy}, headers=agent.headers)
    assert problem(r, 422)["unknown_placeholders"] == ["order.id"]
    assert len(await messages_of(ctx, conversation)) == 3
    # The conversation's visibility still rules first.
    r = await client.post(url, json={"quick_reply_id": text["id"]}, headers=org.agent_b.headers)
    problem(r, 404)


async def test_send_checks_the_window_and_signs_as_the_sender(client, ctx, org: Org) -> None:
    old = datetime.now(UTC) - timedelta(days=2)
    closed = await factories.conversation(ctx, division_id=org.a, last_inbound_at=old)
    reply = await create(client, org.admin, title="Sign", body="-- {{agent.name}}")
    url = f"/api/v1/conversations/{closed}/messages"
    r = await client.post(url, json={"quick_reply_id": reply["id"]}, headers=org.agent_a.headers)
    assert problem(r, 422)["type"].endswith("window-closed")
    assert await messages_of(ctx, closed) == []
    open_one = await factories.conversation(ctx, division_id=org.a)
    url = f"/api/v1/conversations/{open_one}/messages"
    r = await client.post(url, json={"quick_reply_id": reply["id"]}, headers=org.sup_a.headers)
    assert r.json()["content"]["text"] == f"-- {await agent_name(ctx, org.sup_a)}"
