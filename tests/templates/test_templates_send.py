"""WhatsApp template sends against the Graph API sandbox over real HTTP: every parameter
check (422 naming the parameter, before Meta is called), only approved templates of the
conversation's integration, allowed outside the 24-hour window, and the exact body Meta
receives from the sender."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from omnistream.channels.registry import ChannelRegistry
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.messages import worker
from omnistream.messages.worker import send_due
from tests.conftest import fields, problem
from tests.inbound.test_inbound_support import Account, conversation_for, rows, value
from tests.sandbox_fixture import Sandbox, sandbox_fixture  # noqa: F401
from tests.templates.test_templates import ANA, connect, private_fixture, synced, template  # noqa: F401

SEND = "template.parameters."


@pytest.fixture
async def registry(ctx: AppContext, private: Settings) -> AsyncIterator[ChannelRegistry]:
    async with worker.meta_registry(ctx.pool, private) as channels:
        yield channels


# Sending ----------------------------------------------------------------------------------


async def outside_window(ctx: AppContext, account: Account) -> UUID:
    conversation_id = await conversation_for(ctx, "whatsapp", account, phone=ANA)
    await value(
        ctx,
        "UPDATE conversations SET last_inbound_at = $2 WHERE id = $1",
        conversation_id,
        datetime.now(UTC) - timedelta(days=2),
    )
    return conversation_id


def order(**parameters: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "header": {"type": "image", "link": "https://cdn.example.com/box.jpg"},
        "body": ["Ana", "A-1001"],
        "buttons": [
            {"index": 0, "sub_type": "quick_reply", "parameter": "TRACK"},
            {"index": 1, "sub_type": "url", "parameter": "abc123"},
        ],
    }
    return {"type": "template", "template": {"name": "order_update", "language": "en_US",
                                             "parameters": {**base, **parameters}}}  # fmt: skip


async def test_template_send_outside_the_window_reaches_meta_exactly(
    ctx, client, admin, sandbox, private, registry
) -> None:
    remote, account = await connect(ctx, sandbox)
    await synced(client, admin, account)
    conversation_id = await outside_window(ctx, account)
    url = f"/api/v1/conversations/{conversation_id}/messages"
    refused = problem(
        await client.post(url, json={"type": "text", "text": "Hi"}, headers=admin.headers), 422
    )
    assert refused["type"] == "urn:omnistream:problem:window-closed"
    r = await client.post(url, json=order(), headers=admin.headers)
    assert r.status_code == 201, r.text
    sent = r.json()
    assert (
        sent["type"] == "template"
        and sent["content"]["text"] == "Hi Ana, your order A-1001 has shipped."
    )
    preview = await value(
        ctx, "SELECT last_message_preview FROM conversations WHERE id = $1", conversation_id
    )
    assert preview == "Hi Ana, your order A-1001 has shipped."
    offer_id = (await template(ctx, "welcome_offer"))["id"]
    named = {"type": "template", "template": {"template_id": str(offer_id), "parameters": {
        "body": {"discount": "20%", "name": "Ana"},
        "buttons": [{"index": 1, "sub_type": "quick_reply", "parameter": "STOP"}]}}}  # fmt: skip
    r = await client.post(url, json=named, headers=admin.headers)
    assert r.status_code == 201, r.text
    assert r.json()["content"]["text"] == "Hi Ana, enjoy 20% off your next order!"
    # A conversation's replies go out in order: one per tick.
    assert [await send_due(ctx.pool, private, registry) for _ in range(3)] == [1, 1, 0]
    bodies = [c["body"] for c in await sandbox.requests(path="/messages", method="POST")]
    assert bodies == [
        {"messaging_product": "whatsapp", "recipient_type": "individual", "to": ANA,
         "biz_opaque_callback_data": sent["id"], "type": "template",
         "template": {"name": "order_update", "language": {"code": "en_US", "policy": "deterministic"},
                      "components": [
            {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/box.jpg"}}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-1001"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "TRACK"}]},
            {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "abc123"}]}]}},
        {"messaging_product": "whatsapp", "recipient_type": "individual", "to": ANA,
         "biz_opaque_callback_data": r.json()["id"], "type": "template",
         "template": {"name": "welcome_offer", "language": {"code": "en_US", "policy": "deterministic"},
                      "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ana", "parameter_name": "name"},
                                            {"type": "text", "text": "20%", "parameter_name": "discount"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [{"type": "payload", "payload": "STOP"}]}]}},
    ]  # fmt: skip
    statuses = await rows(ctx, "SELECT status, error_reason FROM messages ORDER BY created_at")
    assert [(s["status"], s["error_reason"]) for s in statuses] == [("sent", None), ("sent", None)]
    assert remote.external_id in (await sandbox.requests(path="/messages"))[0]["path"]


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        ({"body": ["Ana"]}, {SEND + "body.1"}),
        ({"body": ["Ana", "A-1", "extra"]}, {SEND + "body.2"}),
        ({"body": {"1": "Ana", "2": "A-1"}}, {SEND + "body"}),
        ({"body": ["Ana", "line\nbreak"]}, {SEND + "body.1"}),
        ({"header": None}, {SEND + "header"}),
        ({"header": {"type": "video", "link": "https://cdn.example.com/a.mp4"}}, {SEND + "header.type"}),
        ({"header": {"type": "image", "link": "ftp://cdn.example.com/a.jpg"}}, {SEND + "header.link"}),
        ({"header": {"type": "image", "link": "http://[::1/x.jpg"}}, {SEND + "header.link"}),
        ({"header": {"type": "image", "link": "https://a.b:99999/x.png"}}, {SEND + "header.link"}),
        ({"header": {"type": "image", "link": "http://cdn.example.com/a.jpg"}}, {SEND + "header.link"}),
        ({"header": {"type": "image", "link": "https://cdn.example.com/a.EXE"}}, {SEND + "header.link"}),
        ({"body": 5}, {SEND + "body"}),
        ({"body": ["", "A-1"]}, {SEND + "body.0"}),
        ({"buttons": [{"index": 5, "sub_type": "url", "parameter": "x"}]},
         {SEND + "buttons.0.index", SEND + "buttons"}),
        ({"buttons": [{"index": 1, "sub_type": "quick_reply", "parameter": "x"}]},
         {SEND + "buttons.0.sub_type"}),
        ({"buttons": [{"index": 0, "sub_type": "quick_reply", "parameter": "x"}]}, {SEND + "buttons"}),
    ],
)  # fmt: skip
async def test_positional_parameter_mismatches_answer_422(
    ctx, client, admin, sandbox, private, send, expected
) -> None:
    _, account = await connect(ctx, sandbox)
    await synced(client, admin, account)
    conversation_id = await outside_window(ctx, account)
    url = f"/api/v1/conversations/{conversation_id}/messages"
    body = problem(await client.post(url, json=order(**send), headers=admin.headers), 422)
    assert fields(body) == expected, body
    assert await value(ctx, "SELECT count(*) FROM messages") == 0
    assert await sandbox.requests(path="/messages") == []


async def test_named_header_status_and_ownership_checks(
    ctx, client, admin, sandbox, private
) -> None:
    _, account = await connect(ctx, sandbox)
    _, other = await connect(ctx, sandbox)
    await synced(client, admin, account)
    await synced(client, admin, other)
    conversation_id = await outside_window(ctx, account)
    url = f"/api/v1/conversations/{conversation_id}/messages"

    async def refused(name: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
        spec = {"name": name, "language": "en_US", "parameters": parameters, **extra}
        r = await client.post(
            url, json={"type": "template", "template": spec}, headers=admin.headers
        )
        return problem(r, 422)

    body = await refused("welcome_offer", {"body": {"name": "Ana", "coupon": "X"}})
    assert fields(body) == {SEND + "body.discount", SEND + "body.coupon"}
    assert (
        "missing: {{discount}}" in body["detail"]
        and "extra: the body has no {{coupon}}" in body["detail"]
    )
    assert fields(await refused("welcome_offer", {"body": ["Ana", "20%"]})) == {SEND + "body"}
    extra_header = {
        "header": {"type": "text", "text": "Hi"},
        "body": {"name": "A", "discount": "1"},
    }
    assert fields(await refused("welcome_offer", extra_header)) == {SEND + "header"}
    static = {"buttons": [{"index": 0, "sub_type": "url", "parameter": "x"}]}
    assert fields(await refused("hello_world", static)) == {SEND + "buttons.0.index"}
    assert fields(await refused("summer_sale", {})) == {"template.name"}  # PAUSED
    assert (
        "only APPROVED" in (await refused("appointment_reminder", {"body": ["a", "b"]}))["detail"]
    )
    other_id = await value(
        ctx, "SELECT id FROM wa_templates WHERE integration_id = $1 AND name = 'hello_world'",
        other.integration_id,
    )  # fmt: skip
    r = await client.post(
        url,
        json={"type": "template", "template": {"template_id": str(other_id)}},
        headers=admin.headers,
    )
    assert fields(problem(r, 422)) == {"template.template_id"}
    await value(ctx, "UPDATE wa_templates SET removed_at_meta = now() WHERE name = 'hello_world'")
    assert "no longer exists at Meta" in (await refused("hello_world", {}))["detail"]
    r = await client.post(
        url, json={"type": "text", "template": {"name": "x"}}, headers=admin.headers
    )
    assert fields(problem(r, 422)) == {"template"}
    assert await value(ctx, "SELECT count(*) FROM messages") == 0
