"""A reply to an unassigned conversation assigns it to the replying agent
(OMNISTREAM_ASSIGN_ON_REPLY, on by default), announced and audited as a Take; every reply
and upload writes its activity entry (never the message text)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from omnistream.context import AppContext
from tests import factories
from tests.conftest import Actors, Agent, fields, problem
from tests.quick_replies.test_quick_replies import create as create_quick_reply

SECRET_TEXT = "Kode OTP Anda 493021"


async def fetch(ctx: AppContext, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with ctx.pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def activity(ctx: AppContext) -> list[dict[str, Any]]:
    return await fetch(
        ctx,
        "SELECT agent_id, action, target_type, target_id, metadata_json AS metadata "
        "FROM activity_logs WHERE action NOT IN ('login', 'create_agent') ORDER BY created_at, action",
    )


async def assignee(ctx: AppContext, conversation: UUID) -> UUID | None:
    rows = await fetch(
        ctx, "SELECT assigned_agent_id FROM conversations WHERE id = $1", conversation
    )
    value: UUID | None = rows[0]["assigned_agent_id"]
    return value


async def reply(client: Any, who: Agent, conversation: UUID, **body: Any) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/conversations/{conversation}/messages", json=body, headers=who.headers
    )
    assert r.status_code == 201, r.text
    sent: dict[str, Any] = r.json()
    return sent


@pytest.fixture
def reply_assigns_off(ctx: AppContext) -> Iterator[None]:
    settings = ctx.settings
    ctx.settings = settings.model_copy(update={"assign_on_reply": False})
    try:
        yield
    finally:
        ctx.settings = settings


async def test_a_reply_to_an_unassigned_conversation_assigns_it(
    client, ctx, actors: Actors
) -> None:
    division = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[division])
    conversation = await factories.conversation(ctx, division_id=division)

    sent = await reply(client, agent, conversation, type="text", text=SECRET_TEXT)

    assert await assignee(ctx, conversation) == agent.id
    events = await fetch(ctx, "SELECT type, data, actor, audience FROM event_outbox ORDER BY pos")
    assert [e["type"] for e in events] == ["conversation.assigned", "message.created"]
    assigned, created = events
    assert assigned["actor"]["id"] == str(agent.id)
    assert {k: assigned["data"][k] for k in ("previous_agent_id", "agent_id", "on_reply")} == {
        "previous_agent_id": None,
        "agent_id": str(agent.id),
        "on_reply": True,
    }
    # The message event carries the conversation as it now is, to its new audience.
    assert created["data"]["conversation"]["assigned_agent_id"] == str(agent.id)
    assert created["audience"] == [
        {"division_id": str(division), "assigned_agent_id": str(agent.id)}
    ]
    assert await activity(ctx) == [  # one transaction: one time, by action
        {
            "agent_id": agent.id,
            "action": "send_message",
            "target_type": "conversation",
            "target_id": conversation,
            "metadata": {"message_id": sent["id"], "type": "text"},
        },
        {
            "agent_id": agent.id,
            "action": "take_conversation",
            "target_type": "conversation",
            "target_id": conversation,
            "metadata": {"previous_agent_id": None, "agent_id": str(agent.id), "on_reply": True},
        },
    ]
    assert SECRET_TEXT not in str(await activity(ctx))

    # The next reply changes nothing about the assignment.
    await reply(client, agent, conversation, type="text", text="Ada lagi?")
    assert [a["action"] for a in await activity(ctx)][2:] == ["send_message"]


async def test_an_assigned_conversation_stays_with_its_agent(client, ctx, actors, admin) -> None:
    holder = await actors.make("agent")
    conversation = await factories.conversation(ctx, assigned_agent_id=holder.id)
    await reply(client, admin, conversation, type="text", text="Saya bantu")
    assert await assignee(ctx, conversation) == holder.id
    assert [a["action"] for a in await activity(ctx)] == ["send_message"]
    types = await fetch(ctx, "SELECT type FROM event_outbox")
    assert [t["type"] for t in types] == ["message.created"]


async def test_quick_reply_and_media_replies_assign_and_are_recorded(
    client, ctx, admin: Agent
) -> None:
    quick = await create_quick_reply(client, admin, title="Menu", body="Menu kami")
    first = await factories.conversation(ctx)
    sent = await reply(client, admin, first, quick_reply_id=quick["id"])
    assert await assignee(ctx, first) == admin.id
    second = await factories.conversation(ctx)
    link = "https://cdn.example.com/menu.pdf"
    media = await reply(client, admin, second, type="document", link=link)
    assert await assignee(ctx, second) == admin.id
    sends = [a for a in await activity(ctx) if a["action"] == "send_message"]
    assert [a["metadata"] for a in sends] == [
        {"message_id": sent["id"], "type": "text", "quick_reply_id": quick["id"]},
        {"message_id": media["id"], "type": "document"},
    ]


async def test_a_refused_reply_neither_assigns_nor_records(client, ctx, admin: Agent) -> None:
    conversation = await factories.conversation(ctx)
    r = await client.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"type": "text", "text": "  "},
        headers=admin.headers,
    )
    assert fields(problem(r, 422)) == {"text"}
    assert await assignee(ctx, conversation) is None
    assert await activity(ctx) == []
    assert await fetch(ctx, "SELECT 1 FROM event_outbox") == []


@pytest.mark.usefixtures("reply_assigns_off")
async def test_with_the_setting_off_a_reply_assigns_nothing(client, ctx, admin: Agent) -> None:
    conversation = await factories.conversation(ctx)
    await reply(client, admin, conversation, type="text", text="Halo")
    assert await assignee(ctx, conversation) is None
    assert [a["action"] for a in await activity(ctx)] == ["send_message"]
    types = await fetch(ctx, "SELECT type FROM event_outbox")
    assert [t["type"] for t in types] == ["message.created"]


async def test_an_upload_is_recorded(client, ctx, admin: Agent) -> None:
    conversation = await factories.conversation(ctx)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))
    r = await client.post(
        f"/api/v1/conversations/{conversation}/uploads",
        files={"file": ("menu.png", png, "image/png")},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    assert await activity(ctx) == [
        {
            "agent_id": admin.id,
            "action": "upload_media",
            "target_type": "conversation",
            "target_id": conversation,
            "metadata": {
                "media_id": r.json()["id"],
                "mime_type": "image/png",
                "size_bytes": len(png),
            },
        }
    ]
    assert await assignee(ctx, conversation) is None  # uploading is not answering yet


async def test_a_reaction_does_not_assign(client, ctx, admin: Agent) -> None:
    conversation = await factories.conversation(ctx)
    async with ctx.pool.acquire() as conn:
        inbound = await conn.fetchval(
            "INSERT INTO messages (conversation_id, channel, channel_message_id, direction, type, "
            "content, status) VALUES ($1, 'whatsapp', 'wamid.react-me', 'inbound', 'text', "
            "'{\"text\": \"Terima kasih\"}', 'received') RETURNING id",
            conversation,
        )
    sent = await reply(
        client, admin, conversation, type="reaction", emoji="👍", reply_to_message_id=str(inbound)
    )
    assert await assignee(ctx, conversation) is None
    assert [a["metadata"] for a in await activity(ctx)] == [
        {"message_id": sent["id"], "type": "reaction"}
    ]
