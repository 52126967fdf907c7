"""Scheduled WhatsApp template messages against the Graph API sandbox over real HTTP: a
template may be scheduled (and sent) while the 24-hour window is closed, and goes out as
exactly Meta's template body; free text whose window closed by its time fails, in words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from omnistream.channels.registry import ChannelRegistry
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.messages import worker as outbound
from omnistream.scheduled.worker import send_due
from tests.conftest import fields, problem
from tests.inbound.test_inbound_support import value
from tests.sandbox_fixture import Sandbox, sandbox_fixture  # noqa: F401
from tests.scheduled.test_scheduled import (
    Schedule,
    due,
    event_types,
    fetch,
    row,
    schedule,
    scheduled,
)
from tests.templates.test_templates import ANA, connect, private_fixture, synced  # noqa: F401
from tests.templates.test_templates_send import order, outside_window

__all__ = ["schedule"]  # the fixture

ORDER_UPDATE_BODY = {
    "messaging_product": "whatsapp", "recipient_type": "individual", "to": ANA,
    "type": "template",
    "template": {"name": "order_update", "language": {"code": "en_US", "policy": "deterministic"},
                 "components": [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/box.jpg"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-1001"}]},
        {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "TRACK"}]},
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "abc123"}]}]},
}  # fmt: skip


@pytest.fixture
async def registry(ctx: AppContext, private: Settings) -> AsyncIterator[ChannelRegistry]:
    async with outbound.meta_registry(ctx.pool, private) as channels:
        yield channels


async def test_a_template_scheduled_outside_the_window_is_sent_as_meta_expects(
    ctx, client, admin, sandbox: Sandbox, private, registry, schedule: Schedule
) -> None:
    _, account = await connect(ctx, sandbox)
    await synced(client, admin, account)
    conversation_id = await outside_window(ctx, account)
    # Scheduling checks the template's parameters now, but not the (closed) window.
    bad = await schedule(conversation_id, **order(body=["Ana"]))
    assert bad.status_code == 422, bad.text
    assert {e["field"] for e in bad.json()["errors"]} == {"template.parameters.body.1"}
    for link in ("http://[::1/x.jpg", "https://a.b:99999/x.png"):  # once a 500
        bad = await schedule(conversation_id, **order(header={"type": "image", "link": link}))
        assert fields(problem(bad, 422)) == {"template.parameters.header.link"}, link
    assert await fetch(ctx, "SELECT 1 FROM scheduled_messages") == []
    template_id = await scheduled(schedule, conversation_id, **order())
    # An edit names the fields as given (message.<field>), in the errors and the detail.
    edit = f"/api/v1/scheduled-messages/{template_id}"
    for link in ("http://[::1/x.jpg", "https://a.b:99999/x.png"):
        message = order(header={"type": "image", "link": link})
        body = problem(
            await client.patch(edit, json={"message": message}, headers=admin.headers), 422
        )
        assert fields(body) == {"message.template.parameters.header.link"}, link
        assert "message.template.parameters.header.link: must be" in body["detail"]
        assert not body["detail"].startswith("message.the")
    body = problem(
        await client.patch(edit, json={"message": order(body=5)}, headers=admin.headers), 422
    )
    assert fields(body) == {"message.template.parameters.body"}
    text_id = await scheduled(schedule, conversation_id, text="Your parcel ships today")
    created = await row(ctx, template_id)
    assert (created["status"], created["msg_type"]) == ("pending", "template")
    await due(ctx, template_id, text_id)
    assert await send_due(ctx.pool, private) == 2
    sent, refused = await row(ctx, template_id), await row(ctx, text_id)
    assert (sent["status"], sent["error"]) == ("sent", None)
    (message,) = await fetch(ctx, "SELECT * FROM messages")
    assert message["id"] == sent["message_id"] and message["type"] == "template"
    assert message["content"]["text"] == "Hi Ana, your order A-1001 has shipped."
    assert message["sender_agent_id"] == admin.id
    assert (refused["status"], refused["message_id"]) == ("failed", None)
    assert refused["error"].startswith("the customer-service window is closed")
    assert "a template is needed" in refused["error"]
    outcomes = sorted((await event_types(ctx))[-2:])
    assert outcomes == ["scheduled_message.failed", "scheduled_message.sent"]
    # The outbound sender delivers it: exactly the Graph template body, once.
    assert [await outbound.send_due(ctx.pool, private, registry) for _ in range(2)] == [1, 0]
    bodies = [c["body"] for c in await sandbox.requests(path="/messages", method="POST")]
    assert bodies == [{**ORDER_UPDATE_BODY, "biz_opaque_callback_data": str(message["id"])}]
    status = await value(ctx, "SELECT status FROM messages WHERE id = $1", message["id"])
    assert status == "sent"


async def test_free_text_whose_window_closes_before_its_time_fails_in_words(
    ctx, client, admin, sandbox: Sandbox, private, schedule: Schedule
) -> None:
    _, account = await connect(ctx, sandbox)
    conversation_id = await outside_window(ctx, account)
    await value(  # the customer wrote an hour ago: the window is open when scheduling
        ctx,
        "UPDATE conversations SET last_inbound_at = now() - interval '1 hour' WHERE id = $1",
        conversation_id,
    )
    scheduled_id = await scheduled(schedule, conversation_id, text="See you at 9")
    last: datetime = datetime.now(UTC) - timedelta(hours=25)
    await value(  # by the time it is due, 25 hours have passed since
        ctx, "UPDATE conversations SET last_inbound_at = $2 WHERE id = $1", conversation_id, last
    )
    await due(ctx, scheduled_id)
    assert await send_due(ctx.pool, private) == 1
    failed = await row(ctx, scheduled_id)
    assert (failed["status"], failed["message_id"]) == ("failed", None)
    assert failed["error"] == (
        "the customer-service window is closed: more than 24 hours since the customer's last "
        f"message (they wrote last at {last.isoformat()}); WhatsApp allows only an approved "
        "template message now: a template is needed"
    )
    (event,) = await fetch(
        ctx, "SELECT data FROM event_outbox WHERE type = 'scheduled_message.failed'"
    )
    assert event["data"]["scheduled_message"]["error"] == failed["error"]
    logged: Any = await fetch(
        ctx,
        "SELECT metadata_json FROM activity_logs WHERE action = 'scheduled_message_failed' "
        "AND target_id = $1",
        UUID(scheduled_id),
    )
    assert logged[0]["metadata_json"]["error"] == failed["error"]
    assert await fetch(ctx, "SELECT 1 FROM messages") == []
    assert await sandbox.requests(path="/messages") == []
