"""WhatsApp, Messenger and Instagram sends end to end: the reply API -> the real sender tick
-> the Meta adapters -> the Graph API sandbox over real HTTP. Bodies are compared with what
the sandbox recorded; errors are injected as sandbox faults; windows and read receipts are
driven through the API."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from omnistream.channels.errors import AuthSendError, classify
from omnistream.channels.graph import GraphClient, call_graph
from omnistream.channels.registry import (
    ChannelRegistry,
    PermanentSendError,
    SendResult,
    TransientSendError,
)
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.inbound.signature import app_secrets_of
from omnistream.integrations.accounts import AccountConfig
from omnistream.kit.enums import Channel
from omnistream.messages import worker
from omnistream.messages.worker import send_due
from tests import factories
from tests.conftest import Agent, fields, problem
from tests.inbound.test_inbound_support import (
    Account,
    conversation_for,
    deliver,
    drain,
    integration,
    outbound,
)
from tests.messages.test_messages import PNG
from tests.sandbox_fixture import Sandbox, SandboxAccount, sandbox_fixture  # noqa: F401

ANA = "16505551234"
PSID = "2400000000000001"


# Helpers ----------------------------------------------------------------------------------


@pytest.fixture
def private(settings: Settings) -> Settings:
    """OMNISTREAM_ALLOW_PRIVATE_URLS=true: the sandbox listens on loopback."""
    return settings.model_copy(update={"allow_private_urls": True})


@pytest.fixture
async def registry(ctx: AppContext, private: Settings) -> AsyncIterator[ChannelRegistry]:
    async with worker.meta_registry(ctx.pool, private) as channels:
        yield channels


async def connect(
    ctx: AppContext,
    sandbox: Sandbox,
    channel: str = "whatsapp",
    *,
    rate: int | None = None,
    token: str | None = None,
) -> tuple[SandboxAccount, Account]:
    """A sandbox account and the OmniStream integration (sealed credentials) pointing at it."""
    remote = await sandbox.register_account(channel)
    (local,) = await integration(
        ctx,
        channel,
        [remote.external_id],
        app_secret=remote.app_secret,
        access_token=token or remote.access_token,
        base_url=sandbox.url,
    )
    if rate is not None:
        async with ctx.pool.acquire() as conn:
            await conn.execute(
                "UPDATE integration_accounts SET send_rate_per_second = $2 WHERE id = $1",
                local.account_id,
                rate,
            )
    return remote, local


async def conversation(
    ctx: AppContext,
    account: Account,
    channel: str = "whatsapp",
    *,
    who: str | None = None,
    last_inbound: timedelta | None = timedelta(minutes=5),
) -> UUID:
    """An open conversation whose customer last wrote `last_inbound` ago (None: never)."""
    if channel == "whatsapp":
        conversation_id = await conversation_for(ctx, channel, account, phone=who or ANA)
    else:
        conversation_id = await conversation_for(ctx, channel, account, identity=who or PSID)
    at = None if last_inbound is None else datetime.now(UTC) - last_inbound
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE conversations SET last_inbound_at = $2 WHERE id = $1", conversation_id, at
        )
    return conversation_id


async def reply(
    client: httpx.AsyncClient, agent: Agent, conversation_id: UUID, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json=body, headers=agent.headers
    )


async def sent_id(
    client: httpx.AsyncClient, agent: Agent, conversation_id: UUID, **body: Any
) -> str:
    r = await reply(client, agent, conversation_id, **body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def tick(ctx: AppContext, settings: Settings, registry: ChannelRegistry) -> int:
    """The real sender tick, until nothing is due."""
    total = 0
    while handled := await send_due(ctx.pool, settings, registry):
        total += handled
    return total


async def row(ctx: AppContext, message_id: str | UUID) -> Any:
    async with ctx.pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM messages WHERE id = $1", UUID(str(message_id)))


async def make_due(ctx: AppContext, message_id: str | UUID) -> None:
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE messages SET next_attempt_at = now() WHERE id = $1", UUID(str(message_id))
        )


async def bodies(sandbox: Sandbox, account: SandboxAccount) -> list[dict[str, Any]]:
    sends = await sandbox.requests(path=f"/{account.external_id}/messages", method="POST")
    return [r["body"] for r in sends]


# Request bodies -----------------------------------------------------------------------------


async def test_whatsapp_text_reply_is_the_documented_body(
    ctx, client, admin, sandbox, private, registry
) -> None:
    wa, account = await connect(ctx, sandbox)
    conversation_id = await conversation(ctx, account)
    quoted = await outbound(ctx, conversation_id, "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI=")
    message_id = await sent_id(
        client, admin, conversation_id, type="text", text="Hello!", reply_to_message_id=str(quoted)
    )
    assert await tick(ctx, private, registry) == 1
    (body,) = await bodies(sandbox, wa)
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": ANA,
        "context": {"message_id": "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI="},
        "biz_opaque_callback_data": message_id,
        "type": "text",
        "text": {"body": "Hello!", "preview_url": False},
    }
    (accepted,) = await sandbox.messages(account=wa.external_id)
    stored = await row(ctx, message_id)
    assert (stored["status"], stored["channel_message_id"]) == ("sent", accepted["id"])
    assert stored["channel_message_id"].startswith("wamid.") and stored["attempts"] == 1
    (record,) = await sandbox.requests(path="/messages")
    assert record["headers"]["authorization"] == f"Bearer {wa.access_token}"


async def test_whatsapp_media_upload_then_send_and_links(
    ctx, client, admin, sandbox, private, registry
) -> None:
    wa, account = await connect(ctx, sandbox)
    conversation_id = await conversation(ctx, account)
    up = await client.post(
        f"/api/v1/conversations/{conversation_id}/uploads",
        files={"file": ("box.png", PNG, "image/png")},
        headers=admin.headers,
    )
    assert up.status_code == 201, up.text
    image = await sent_id(
        client, admin, conversation_id, type="image", media_id=up.json()["id"], caption="the box"
    )
    assert await tick(ctx, private, registry) == 1
    document = await sent_id(
        client,
        admin,
        conversation_id,
        type="document",
        link="https://files.example.com/docs/Invoice%2042.pdf",
        caption="your invoice",
    )
    audio = await sent_id(
        client, admin, conversation_id, type="audio", link="https://files.example.com/a.ogg"
    )
    await tick(ctx, private, registry)
    upload, *sends = await sandbox.requests(path=f"/{wa.external_id}/")
    assert (upload["method"], upload["path"]) == ("POST", f"/v21.0/{wa.external_id}/media")
    assert upload["body"] == {
        "messaging_product": "whatsapp",
        "type": "image/png",
        "file": {"filename": "box.png", "content_type": "image/png", "size": len(PNG)},
    }
    base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": ANA}
    assert [s["body"] for s in sends] == [
        {
            **base,
            "biz_opaque_callback_data": image,
            "type": "image",
            "image": {"id": upload["media_id"], "caption": "the box"},
        },
        {
            **base,
            "biz_opaque_callback_data": document,
            "type": "document",
            "document": {
                "link": "https://files.example.com/docs/Invoice%2042.pdf",
                "caption": "your invoice",
                "filename": "Invoice 42.pdf",
            },
        },
        {
            **base,
            "biz_opaque_callback_data": audio,
            "type": "audio",
            "audio": {"link": "https://files.example.com/a.ogg"},
        },
    ]
    assert {(await row(ctx, m))["status"] for m in (image, document, audio)} == {"sent"}
    async with httpx.AsyncClient() as http:  # the sandbox holds exactly the bytes we uploaded
        media = await http.get(f"{sandbox.graph()}/{upload['media_id']}", headers=wa.headers)
    assert media.status_code == 200 and media.json()["file_size"] == str(len(PNG))


BUTTONS = {
    "type": "button",
    "body": "Is the parcel in blue?",
    "footer": "Tap an answer",
    "buttons": [{"id": "yes", "title": "Yes, blue"}, {"id": "no", "title": "No"}],
}
LIST = {
    "type": "list",
    "header": "Plans",
    "body": "Choose a plan",
    "button": "See plans",
    "sections": [
        {"title": "Basic", "rows": [{"id": "a", "title": "Plan A", "description": "cheap"}]},
        {"title": "Pro", "rows": [{"id": "b", "title": "Plan B"}]},
    ],
}


async def test_whatsapp_interactive_and_reaction_bodies(
    ctx, client, admin, sandbox, private, registry
) -> None:
    wa, account = await connect(ctx, sandbox)
    conversation_id = await conversation(ctx, account)
    buttons = await sent_id(client, admin, conversation_id, type="interactive", interactive=BUTTONS)
    await tick(ctx, private, registry)
    listed = await sent_id(client, admin, conversation_id, type="interactive", interactive=LIST)
    await tick(ctx, private, registry)
    target = await outbound(ctx, conversation_id, "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJ=")
    reaction = await sent_id(
        client, admin, conversation_id, type="reaction", emoji="👍", reply_to_message_id=str(target)
    )
    await tick(ctx, private, registry)
    base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": ANA}
    assert await bodies(sandbox, wa) == [
        {
            **base,
            "biz_opaque_callback_data": buttons,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Is the parcel in blue?"},
                "footer": {"text": "Tap an answer"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "yes", "title": "Yes, blue"}},
                        {"type": "reply", "reply": {"id": "no", "title": "No"}},
                    ]
                },
            },
        },
        {
            **base,
            "biz_opaque_callback_data": listed,
            "type": "interactive",
            "interactive": {
                "type": "list",
                "header": {"type": "text", "text": "Plans"},
                "body": {"text": "Choose a plan"},
                "action": {
                    "button": "See plans",
                    "sections": [
                        {
                            "title": "Basic",
                            "rows": [{"id": "a", "title": "Plan A", "description": "cheap"}],
                        },
                        {"title": "Pro", "rows": [{"id": "b", "title": "Plan B"}]},
                    ],
                },
            },
        },
        {
            **base,
            "biz_opaque_callback_data": reaction,
            "type": "reaction",
            "reaction": {"message_id": "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJ=", "emoji": "👍"},
        },
    ]
    stored = await row(ctx, reaction)
    assert stored["status"] == "sent" and stored["reply_to_id"] == target
    assert stored["content"] == {
        "emoji": "👍",
        "target_message_id": "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJ=",
    }


async def test_reply_validation_of_interactive_and_reactions(ctx, client, admin, sandbox) -> None:
    _, account = await connect(ctx, sandbox)
    conversation_id = await conversation(ctx, account)

    async def invalid(body: dict[str, Any], conv: UUID = conversation_id) -> set[str]:
        return fields(problem(await reply(client, admin, conv, **body), 422))

    four = [{"id": str(i), "title": f"B{i}"} for i in range(4)]
    assert await invalid({"type": "interactive", "interactive": {**BUTTONS, "buttons": four}}) == {
        "interactive.buttons"
    }
    long_title = [{"id": "x", "title": "t" * 21}]
    assert await invalid(
        {"type": "interactive", "interactive": {**BUTTONS, "buttons": long_title}}
    ) == {"interactive.buttons.0.title"}
    eleven = [
        {"title": f"S{s}", "rows": [{"id": f"{s}{r}", "title": "r"} for r in range(s + 1)]}
        for s in range(4)
    ]  # 1 + 2 + 3 + 4 = 10 rows: fine; one more is too many
    ok = await reply(
        client, admin, conversation_id, type="interactive", interactive={**LIST, "sections": eleven}
    )
    assert ok.status_code == 201, ok.text
    eleven[0]["rows"].append({"id": "extra", "title": "r"})
    assert await invalid({"type": "interactive", "interactive": {**LIST, "sections": eleven}}) == {
        "interactive.sections"
    }
    no_buttons = {k: v for k, v in BUTTONS.items() if k != "buttons"}
    assert await invalid({"type": "interactive", "interactive": no_buttons}) == {
        "interactive.buttons"
    }
    assert await invalid({"type": "interactive"}) == {"interactive"}
    assert await invalid({"type": "interactive", "interactive": BUTTONS, "text": "x"}) == {"text"}
    assert await invalid({"type": "reaction", "emoji": "👍"}) == {"reply_to_message_id"}
    pending = await sent_id(client, admin, conversation_id, type="text", text="not sent yet")
    assert await invalid({"type": "reaction", "emoji": "👍", "reply_to_message_id": pending}) == {
        "reply_to_message_id"
    }
    assert await invalid({"type": "image", "link": "ftp://files.example.com/a.png"}) == {"link"}
    _, page = await connect(ctx, sandbox, "messenger")
    on_messenger = await conversation(ctx, page, "messenger")
    assert await invalid({"type": "interactive", "interactive": BUTTONS}, on_messenger) == {"type"}
    assert await invalid({"type": "image", "media_id": pending}, on_messenger) == {"media_id"}


async def test_messenger_and_instagram_bodies(
    ctx, client, admin, sandbox, private, registry
) -> None:
    page, account = await connect(ctx, sandbox, "messenger")
    conversation_id = await conversation(ctx, account, "messenger")
    quoted = await outbound(ctx, conversation_id, "m_quoted", channel="messenger")
    text = await sent_id(
        client, admin, conversation_id, type="text", text="Hi Ana", reply_to_message_id=str(quoted)
    )
    await tick(ctx, private, registry)
    ig, ig_account = await connect(ctx, sandbox, "instagram")
    ig_conversation = await conversation(ctx, ig_account, "instagram", who="17840000000000099")
    image = await sent_id(
        client, admin, ig_conversation, type="image", link="https://cdn.example.com/a.png"
    )
    await tick(ctx, private, registry)
    assert await bodies(sandbox, page) == [
        {
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {
                "text": "Hi Ana",
                "reply_to": {"mid": "m_quoted"},
                "metadata": f"omnistream:{text}",
            },
        }
    ]
    assert await bodies(sandbox, ig) == [
        {
            "recipient": {"id": "17840000000000099"},
            "messaging_type": "RESPONSE",
            "message": {
                "attachment": {"type": "image", "payload": {"url": "https://cdn.example.com/a.png"}}
            },
        }
    ]
    accepted = {m["to"]: m["id"] for m in await sandbox.messages()}
    assert (await row(ctx, text))["channel_message_id"] == accepted[PSID]
    assert (await row(ctx, image))["channel_message_id"] == accepted["17840000000000099"]


# The customer-service window ----------------------------------------------------------------


async def test_whatsapp_free_text_after_24_hours_is_refused(ctx, client, admin, sandbox) -> None:
    _, account = await connect(ctx, sandbox)
    late = await conversation(ctx, account, last_inbound=timedelta(hours=24, minutes=1))
    never = await conversation(ctx, account, who="16505550000", last_inbound=None)
    for conversation_id in (late, never):
        body = problem(await reply(client, admin, conversation_id, type="text", text="hi"), 422)
        assert body["type"] == "urn:omnistream:problem:window-closed"
        assert "template" in body["detail"] and "24 hours" in body["detail"]
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 0
    inside = await conversation(
        ctx, account, who="16505550001", last_inbound=timedelta(hours=23, minutes=59)
    )
    assert (await reply(client, admin, inside, type="text", text="hi")).status_code == 201


async def test_retrying_a_failed_reply_after_the_window_closed_is_refused(
    ctx, client, admin, sandbox
) -> None:
    _, account = await connect(ctx, sandbox)
    conversation_id = await conversation(ctx, account, last_inbound=timedelta(hours=30))
    failed = await outbound(ctx, conversation_id, "wamid.failed", status="failed")
    r = await client.post(f"/api/v1/messages/{failed}/retry", headers=admin.headers)
    assert problem(r, 422)["type"] == "urn:omnistream:problem:window-closed"
    assert (await row(ctx, failed))["status"] == "failed"
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE conversations SET last_inbound_at = now() WHERE id = $1", conversation_id
        )
    r = await client.post(f"/api/v1/messages/{failed}/retry", headers=admin.headers)
    assert r.status_code == 200 and r.json()["status"] == "pending"


async def test_messenger_human_agent_tag_between_24_hours_and_7_days(
    ctx, client, admin, sandbox, private, registry
) -> None:
    page, account = await connect(ctx, sandbox, "messenger")
    tagged = await conversation(ctx, account, "messenger", last_inbound=timedelta(days=6))
    message_id = await sent_id(client, admin, tagged, type="text", text="Still there?")
    await tick(ctx, private, registry)
    (body,) = await bodies(sandbox, page)
    assert body == {
        "recipient": {"id": PSID},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"text": "Still there?", "metadata": f"omnistream:{message_id}"},
    }
    assert (await row(ctx, message_id))["status"] == "sent"
    closed = await conversation(
        ctx, account, "messenger", who="2400000000000002", last_inbound=timedelta(days=7, hours=1)
    )
    body = problem(await reply(client, admin, closed, type="text", text="hello?"), 422)
    assert body["type"] == "urn:omnistream:problem:window-closed" and "7 days" in body["detail"]


async def test_a_page_reply_waiting_past_7_days_fails_at_send_time(
    ctx, client, admin, sandbox, private, registry
) -> None:
    page, account = await connect(ctx, sandbox, "messenger")
    conversation_id = await conversation(ctx, account, "messenger", last_inbound=timedelta(days=6))
    message_id = await sent_id(client, admin, conversation_id, type="text", text="late")
    async with ctx.pool.acquire() as conn:  # the reply waited (retries) past the window
        await conn.execute(
            "UPDATE conversations SET last_inbound_at = now() - interval '8 days' WHERE id = $1",
            conversation_id,
        )
    await tick(ctx, private, registry)
    stored = await row(ctx, message_id)
    assert (stored["status"], stored["error_code"]) == ("failed", "window_closed")
    assert await bodies(sandbox, page) == []


# Errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (131047, "template"),
        (131026, "could not be delivered"),
        (132001, "template does not exist"),
        (100, "parameter"),
    ],
)
async def test_permanent_errors_fail_at_once(
    ctx, client, admin, sandbox, private, registry, code: int, words: str
) -> None:
    wa, account = await connect(ctx, sandbox)
    message_id = await sent_id(
        client, admin, await conversation(ctx, account), type="text", text="x"
    )
    await sandbox.add_fault("error", account=wa.external_id, code=code, details="said by Meta")
    await tick(ctx, private, registry)
    stored = await row(ctx, message_id)
    assert (stored["status"], stored["error_code"], stored["attempts"]) == ("failed", str(code), 1)
    assert words in stored["error_reason"] and "said by Meta" in stored["error_reason"]
    await make_due(ctx, message_id)
    assert await tick(ctx, private, registry) == 0
    assert len(await bodies(sandbox, wa)) == 1


@pytest.mark.parametrize("code", [130429, 131056, 4, 80007, 131000, 131016, 2])
async def test_transient_errors_retry_with_backoff_then_send(
    ctx, client, admin, sandbox, private, registry, code: int
) -> None:
    wa, account = await connect(ctx, sandbox)
    message_id = await sent_id(
        client, admin, await conversation(ctx, account), type="text", text="x"
    )
    await sandbox.add_fault("error", account=wa.external_id, code=code, times=1)
    started = datetime.now(UTC)
    await tick(ctx, private, registry)
    stored = await row(ctx, message_id)
    assert (stored["status"], stored["error_code"], stored["attempts"]) == ("pending", str(code), 1)
    assert 4.0 <= (stored["next_attempt_at"] - started).total_seconds() <= 7.0
    assert await tick(ctx, private, registry) == 0  # not due before the backoff
    await make_due(ctx, message_id)
    await tick(ctx, private, registry)
    stored = await row(ctx, message_id)
    assert (stored["status"], stored["attempts"], stored["error_code"]) == ("sent", 2, None)
    first, second = (r["status"] for r in await sandbox.requests(path="/messages"))
    assert first >= 400 and second == 200


async def test_http_500_is_retried_then_sent(
    ctx, client, admin, sandbox, private, registry
) -> None:
    wa, account = await connect(ctx, sandbox)
    message_id = await sent_id(
        client, admin, await conversation(ctx, account), type="text", text="x"
    )
    await sandbox.add_fault("http_500", account=wa.external_id, times=2)
    for expected in (1, 2):
        await tick(ctx, private, registry)
        stored = await row(ctx, message_id)
        assert (stored["status"], stored["attempts"]) == ("pending", expected)
        assert stored["error_code"] == "2" and "temporarily unavailable" in stored["error_reason"]
        await make_due(ctx, message_id)
    await tick(ctx, private, registry)
    assert (await row(ctx, message_id))["status"] == "sent"
    assert [r["status"] for r in await sandbox.requests(path="/messages")] == [500, 500, 200]


async def test_a_slow_answer_times_out_and_is_retried(
    ctx, client, admin, sandbox, private, registry, monkeypatch
) -> None:
    monkeypatch.setattr(worker, "SEND_TIMEOUT_SECONDS", 0.3)
    wa, account = await connect(ctx, sandbox)
    message_id = await sent_id(
        client, admin, await conversation(ctx, account), type="text", text="x"
    )
    await sandbox.add_fault("slow", account=wa.external_id, delay_ms=1200, times=1)
    await tick(ctx, private, registry)
    stored = await row(ctx, message_id)
    assert (stored["status"], stored["error_code"], stored["attempts"]) == ("pending", "timeout", 1)
    await make_due(ctx, message_id)
    await tick(ctx, private, registry)
    stored = await row(ctx, message_id)
    assert (stored["status"], stored["attempts"]) == ("sent", 2)
    await asyncio.sleep(1.2)  # the slow first attempt completes at the sandbox meanwhile
    (count,) = await sandbox.sends(account=wa.external_id)
    # The documented at-least-once case: the timed-out send was accepted after all. Both
    # copies carry our message id, so they are recognisable as one message of ours.
    assert (count["kind"], count["attempts"], count["accepted"]) == ("opaque", 2, 2)
    assert count["key"].endswith(message_id)
    assert stored["channel_message_id"] in count["message_ids"]


async def test_an_expired_token_marks_the_integration_auth_failed(
    ctx, client, admin, sandbox, private, registry
) -> None:
    _, account = await connect(ctx, sandbox, token="EAAG-expired-token")
    message_id = await sent_id(
        client, admin, await conversation(ctx, account), type="text", text="x"
    )
    await tick(ctx, private, registry)
    stored = await row(ctx, message_id)
    assert (stored["status"], stored["error_code"]) == ("failed", "190")
    assert "access token was refused" in stored["error_reason"]
    assert "EAAG-expired-token" not in stored["error_reason"]
    async with ctx.pool.acquire() as conn:
        health = await conn.fetchrow(
            "SELECT health, health_error FROM integrations WHERE id = $1", account.integration_id
        )
    assert health["health"] == "auth_failed" and "refused" in health["health_error"]
    (record,) = await sandbox.requests(path="/messages")
    assert record["status"] == 401


def test_the_error_table() -> None:
    def error(status: int, code: int | None, **extra: Any) -> Any:
        body = {"error": {"code": code, "message": "m", **extra}} if code is not None else None
        return classify(status, body)

    for code in (130429, 131056, 4, 80007, 131000, 131016, 2, 131057):
        assert isinstance(error(400, code), TransientSendError), code
    for code in (131047, 131026, 132000, 132015, 132999, 100, 131051, 10, 200, 3, 368):
        found = error(400, code)
        assert type(found) is PermanentSendError and found.code == str(code), code
    assert isinstance(error(401, None), AuthSendError) and isinstance(
        error(400, 190), AuthSendError
    )
    assert isinstance(error(503, None), TransientSendError)
    assert isinstance(error(429, None), TransientSendError)
    assert type(error(404, None)) is PermanentSendError
    assert "window" in error(400, 10, error_subcode=2018278).reason
    said = classify(400, {"error": {"code": 100, "error_data": {"details": "bad to"}}})
    assert said.reason == "Meta refused a parameter of the message (Meta error 100: bad to)"


# Read receipts ----------------------------------------------------------------------------


async def customer_writes(
    ctx: AppContext, app: FastAPI, client: httpx.AsyncClient, sandbox: Sandbox, wa: SandboxAccount
) -> tuple[UUID, str]:
    """A customer message through the real webhook and inbound tick: (conversation, wamid)."""
    app_secrets_of(app).invalidate()
    sent = await sandbox.send_customer(wa, ANA, "text", text="Halo, paket saya?")
    await deliver(client, sent["payload"], wa.app_secret)
    await drain(ctx)
    async with ctx.pool.acquire() as conn:
        conversation_id = await conn.fetchval(
            "SELECT conversation_id FROM messages WHERE channel_message_id = $1",
            sent["message_id"],
        )
    return conversation_id, sent["message_id"]


async def test_marking_read_sends_the_whatsapp_read_receipt(
    ctx, app, client, admin, sandbox, private, registry
) -> None:
    wa, _ = await connect(ctx, sandbox)
    conversation_id, wamid = await customer_writes(ctx, app, client, sandbox, wa)
    r = await client.post(f"/api/v1/conversations/{conversation_id}/read", headers=admin.headers)
    assert r.status_code == 200 and r.json()["unread_count"] == 0
    assert await sandbox.requests(path="/messages") == []  # nothing inside the request
    assert await tick(ctx, private, registry) == 1
    (record,) = await sandbox.requests(path="/messages")
    assert record["body"] == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
    }
    assert record["status"] == 200 and record["read"] == wamid
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM read_receipts") == 0
    # Nothing unread any more: reading again sends nothing.
    await client.post(f"/api/v1/conversations/{conversation_id}/read", headers=admin.headers)
    assert await tick(ctx, private, registry) == 0


async def test_read_receipts_are_best_effort_and_can_be_turned_off(
    ctx, app, client, admin, sandbox, private, registry
) -> None:
    wa, _ = await connect(ctx, sandbox)
    conversation_id, _ = await customer_writes(ctx, app, client, sandbox, wa)
    await sandbox.add_fault("error", account=wa.external_id, code=100)  # always refused
    r = await client.post(f"/api/v1/conversations/{conversation_id}/read", headers=admin.headers)
    assert r.status_code == 200  # the request never waits for Meta
    assert await tick(ctx, private, registry) == 1
    assert [x["status"] for x in await sandbox.requests(path="/messages")] == [400]
    async with ctx.pool.acquire() as conn:  # given up, logged, not retried forever
        assert await conn.fetchval("SELECT count(*) FROM read_receipts") == 0
    await sandbox.clear_faults()
    await customer_writes(ctx, app, client, sandbox, wa)
    await client.post(f"/api/v1/conversations/{conversation_id}/read", headers=admin.headers)
    off = private.model_copy(update={"whatsapp_mark_read": False})
    assert await tick(ctx, off, registry) == 1  # dropped, not sent
    assert len(await sandbox.requests(path="/messages")) == 1
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM read_receipts") == 0


# The Graph HTTP client --------------------------------------------------------------------


class Peer:
    """A bare HTTP/1.1 server on loopback that answers from a script, per request."""

    def __init__(self, answers: list[bytes | None]) -> None:
        self.answers = answers  # None: read the request, then close without answering
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers.pop(0)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"X-Then-Close" in answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def answer(body: bytes, *extra: bytes, status: bytes = b"200 OK") -> bytes:
    head = b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
    return head + b"".join(extra) + b"Content-Length: %d\r\n\r\n" % len(body) + body


async def serve(peer: Peer) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v21.0/1/messages"


async def test_graph_client_keeps_connections_alive_and_reconnects() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'6\r\n{"id":\r\n5\r\n"c3"}\r\n0\r\n\r\n'
    )
    peer = Peer([answer(b'{"id":"a1"}'), answer(b'{"id":"b2"}', b"X-Then-Close: 1\r\n"), chunked])
    server, url = await serve(peer)
    http = GraphClient(allow_private=True, timeout=2)
    try:
        got = [await http.post(url, "tok", json={"n": n}) for n in range(3)]
    finally:
        await http.aclose()
        server.close()
    assert [(status, body) for status, _, body in got] == [
        (200, b'{"id":"a1"}'),
        (200, b'{"id":"b2"}'),
        (200, b'{"id":"c3"}'),
    ]
    # Two requests on the first connection; the server dropped it while idle, so the third
    # went out (once) on a new one.
    assert peer.connections == 2 and len(peer.requests) == 3
    first = peer.requests[0]
    assert first.startswith(b"POST /v21.0/1/messages HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nAuthorization: Bearer tok\r\n" in first and first.endswith(b'{"n":0}')


async def test_graph_client_failures_map_to_send_errors() -> None:
    peer = Peer([None])  # reads the request, closes without an answer
    server, url = await serve(peer)
    account = AccountConfig(
        account_id=uuid4(),
        integration_id=uuid4(),
        channel=Channel.WHATSAPP,
        external_id="1",
        is_active=True,
        access_token="tok",
        app_secret="s",
        verify_token="v",
        base_url=url.removesuffix("/v21.0/1/messages"),
        api_version="v21.0",
        waba_id=None,
    )
    http = GraphClient(allow_private=True, timeout=0.5)
    try:
        with pytest.raises(TransientSendError) as lost:
            await call_graph(http, account, "1/messages", json={})
        assert lost.value.code == "connection_error" and len(peer.requests) == 1  # not resent
        silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        slow = replace(account, base_url=f"http://127.0.0.1:{port}")
        started = time.monotonic()
        with pytest.raises(TransientSendError) as timed_out:
            await call_graph(http, slow, "1/messages", json={})
        assert timed_out.value.code == "timeout" and time.monotonic() - started < 1.5
        silent.close()
        guarded = GraphClient(allow_private=False)
        with pytest.raises(PermanentSendError) as blocked:
            await call_graph(guarded, account, "1/messages", json={})
        assert blocked.value.code == "blocked_address" and "127.0.0.1" in blocked.value.reason
    finally:
        await http.aclose()
        server.close()


class SameIdChannel:
    """A channel that answers every send with the same id (a broken peer)."""

    async def send(self, message: Any) -> SendResult:
        return SendResult(channel_message_id="wamid.always-the-same")


async def test_a_channel_id_used_twice_fails_only_the_later_message(ctx, client, admin) -> None:
    first = await sent_id(client, admin, await factories.conversation(ctx), type="text", text="1")
    second = await sent_id(client, admin, await factories.conversation(ctx), type="text", text="2")
    registry = ChannelRegistry({"whatsapp": SameIdChannel()})
    await send_due(ctx.pool, ctx.settings, registry)
    rows = {m: await row(ctx, m) for m in (first, second)}
    assert sorted(r["status"] for r in rows.values()) == ["failed", "sent"]
    (failed,) = [r for r in rows.values() if r["status"] == "failed"]
    assert failed["error_code"] == "duplicate_channel_id"
    assert "wamid.always-the-same" in failed["error_reason"]


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for a certificate of localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_graph_client_speaks_tls(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    peer = Peer([answer(b'{"id":"t1"}'), answer(b'{"id":"t2"}')])
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0, ssl=server_tls)
    url = f"https://localhost:{server.sockets[0].getsockname()[1]}/v21.0/1/messages"
    http = GraphClient(allow_private=True, timeout=2, tls=client_tls)
    untrusting = GraphClient(allow_private=True, timeout=2)  # the system's CAs only
    try:
        got = [await http.post(url, "tok", json={}) for _ in range(2)]
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusting.post(url, "tok", json={})
    finally:
        await http.aclose()
        await untrusting.aclose()
        server.close()
    assert [body for _, _, body in got] == [b'{"id":"t1"}', b'{"id":"t2"}']
    assert peer.connections <= 2 and len(peer.requests) == 2  # one TLS connection reused
