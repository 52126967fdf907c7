"""Messenger and Instagram: an agent's uploaded file (Attachment Upload API, then a send by
attachment_id) and reactions (sender actions react / unreact), from the reply API through
the real sender tick to the Graph API sandbox over real HTTP; and the sandbox's own checks
of those calls."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest

from omnistream.channels.registry import ChannelRegistry
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.messages import worker
from tests.channels.test_channel_outbound import (
    PSID,
    bodies,
    connect,
    conversation,
    make_due,
    reply,
    row,
    sent_id,
    tick,
)
from tests.conftest import Agent, fields, problem
from tests.inbound.test_inbound_support import outbound
from tests.messages.test_messages import PDF, PNG
from tests.sandbox_fixture import Sandbox, SandboxAccount, sandbox_fixture  # noqa: F401

IGSID = "17840000000000099"


@pytest.fixture
def private(settings: Settings) -> Settings:
    """OMNISTREAM_ALLOW_PRIVATE_URLS=true: the sandbox listens on loopback."""
    return settings.model_copy(update={"allow_private_urls": True})


@pytest.fixture
async def registry(ctx: AppContext, private: Settings) -> AsyncIterator[ChannelRegistry]:
    async with worker.meta_registry(ctx.pool, private) as channels:
        yield channels


async def upload(
    client: httpx.AsyncClient,
    agent: Agent,
    conversation_id: UUID,
    name: str = "box.png",
    data: bytes = PNG,
    mime: str = "image/png",
) -> str:
    r = await client.post(
        f"/api/v1/conversations/{conversation_id}/uploads",
        files={"file": (name, data, mime)},
        headers=agent.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def uploads(sandbox: Sandbox, account: SandboxAccount) -> list[dict[str, Any]]:
    return await sandbox.requests(path=f"/{account.external_id}/message_attachments")


def reusable(kind: str) -> dict[str, Any]:
    return {"attachment": {"type": kind, "payload": {"is_reusable": True}}}


# Uploaded files ---------------------------------------------------------------------------


async def test_an_upload_is_sent_on_messenger_by_attachment_id(
    ctx, client, admin, sandbox, private, registry
) -> None:
    page, account = await connect(ctx, sandbox, "messenger")
    conversation_id = await conversation(ctx, account, "messenger")
    quoted = await outbound(ctx, conversation_id, "m_quoted", channel="messenger")
    image = await sent_id(
        client,
        admin,
        conversation_id,
        type="image",
        media_id=await upload(client, admin, conversation_id),
    )
    document = await sent_id(
        client,
        admin,
        conversation_id,
        type="document",
        media_id=await upload(
            client, admin, conversation_id, "Invoice 42.pdf", PDF, "application/pdf"
        ),
        reply_to_message_id=str(quoted),
    )
    assert await tick(ctx, private, registry) == 2
    first, second = await uploads(sandbox, page)
    assert first["path"] == f"/v21.0/{page.external_id}/message_attachments"
    assert first["headers"]["authorization"] == f"Bearer {page.access_token}"
    assert first["body"] == {
        "message": reusable("image"),
        "filedata": {"filename": "box.png", "content_type": "image/png", "size": len(PNG)},
    }
    assert second["body"] == {
        "message": reusable("file"),
        "filedata": {
            "filename": "Invoice 42.pdf",
            "content_type": "application/pdf",
            "size": len(PDF),
        },
    }
    assert first["attachment_id"] != second["attachment_id"]
    assert await bodies(sandbox, page) == [
        {
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {
                "attachment": {
                    "type": "image",
                    "payload": {"attachment_id": first["attachment_id"]},
                },
                "metadata": f"omnistream:{image}",
            },
        },
        {
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {
                "attachment": {
                    "type": "file",
                    "payload": {"attachment_id": second["attachment_id"]},
                },
                "reply_to": {"mid": "m_quoted"},
                "metadata": f"omnistream:{document}",
            },
        },
    ]
    accepted = {m["body"]["message"]["metadata"]: m["id"] for m in await sandbox.messages()}
    for message_id in (image, document):
        stored = await row(ctx, message_id)
        assert stored["status"] == "sent"
        assert stored["channel_message_id"] == accepted[f"omnistream:{message_id}"]


async def test_an_upload_is_sent_on_instagram_with_platform_instagram(
    ctx, client, admin, sandbox, private, registry
) -> None:
    ig, account = await connect(ctx, sandbox, "instagram")
    conversation_id = await conversation(ctx, account, "instagram", who=IGSID)
    media_id = await upload(client, admin, conversation_id)
    image = await sent_id(client, admin, conversation_id, type="image", media_id=media_id)
    assert await tick(ctx, private, registry) == 1
    (up,) = await uploads(sandbox, ig)
    assert up["body"] == {
        "message": reusable("image"),
        "platform": "instagram",
        "filedata": {"filename": "box.png", "content_type": "image/png", "size": len(PNG)},
    }
    assert await bodies(sandbox, ig) == [
        {
            "recipient": {"id": IGSID},
            "messaging_type": "RESPONSE",
            "message": {
                "attachment": {"type": "image", "payload": {"attachment_id": up["attachment_id"]}}
            },
        }
    ]
    (accepted,) = await sandbox.messages(account=ig.external_id)
    assert (await row(ctx, image))["channel_message_id"] == accepted["id"]


async def test_a_failed_upload_is_retried_and_the_file_sent_once(
    ctx, client, admin, sandbox, private, registry
) -> None:
    page, account = await connect(ctx, sandbox, "messenger")
    conversation_id = await conversation(ctx, account, "messenger")
    await sandbox.add_fault("http_500", path_contains="message_attachments", times=1)
    media_id = await upload(client, admin, conversation_id)
    image = await sent_id(client, admin, conversation_id, type="image", media_id=media_id)
    await tick(ctx, private, registry)
    waiting = await row(ctx, image)
    assert (waiting["status"], waiting["attempts"]) == ("pending", 1)
    assert waiting["error_code"] == "2" and not await bodies(sandbox, page)
    await make_due(ctx, image)
    await tick(ctx, private, registry)
    assert (await row(ctx, image))["status"] == "sent"
    refused, accepted = await uploads(sandbox, page)
    assert (refused["status"], accepted["status"]) == (500, 200)
    (sent,) = await bodies(sandbox, page)
    assert sent["message"]["attachment"]["payload"] == {"attachment_id": accepted["attachment_id"]}


async def test_a_link_is_still_sent_as_a_url(
    ctx, client, admin, sandbox, private, registry
) -> None:
    page, account = await connect(ctx, sandbox, "messenger")
    conversation_id = await conversation(ctx, account, "messenger")
    await sent_id(
        client, admin, conversation_id, type="video", link="https://cdn.example.com/v.mp4"
    )
    await tick(ctx, private, registry)
    assert not await uploads(sandbox, page)
    (sent,) = await bodies(sandbox, page)
    assert sent["message"]["attachment"] == {
        "type": "video",
        "payload": {"url": "https://cdn.example.com/v.mp4"},
    }


# Reactions --------------------------------------------------------------------------------


async def test_messenger_reactions_are_react_and_unreact_sender_actions(
    ctx, client, admin, sandbox, private, registry
) -> None:
    page, account = await connect(ctx, sandbox, "messenger")
    conversation_id = await conversation(ctx, account, "messenger")
    target = await outbound(ctx, conversation_id, "m_customer_said", channel="messenger")
    react = await sent_id(
        client, admin, conversation_id, type="reaction", emoji="👍", reply_to_message_id=str(target)
    )
    await tick(ctx, private, registry)
    unreact = await sent_id(
        client, admin, conversation_id, type="reaction", emoji="", reply_to_message_id=str(target)
    )
    await tick(ctx, private, registry)
    assert await bodies(sandbox, page) == [
        {
            "recipient": {"id": PSID},
            "sender_action": "react",
            "payload": {"message_id": "m_customer_said", "reaction": "👍"},
        },
        {
            "recipient": {"id": PSID},
            "sender_action": "unreact",
            "payload": {"message_id": "m_customer_said"},
        },
    ]
    for message_id, emoji in ((react, "👍"), (unreact, "")):
        stored = await row(ctx, message_id)
        assert stored["status"] == "sent" and stored["reply_to_id"] == target
        # A sender action has no mid of its own: the stored id is ours, one per message.
        assert stored["channel_message_id"] == f"reaction:{message_id}"
        assert stored["content"] == {"emoji": emoji, "target_message_id": "m_customer_said"}


async def test_instagram_reacts_with_love_only(
    ctx, client, admin, sandbox, private, registry
) -> None:
    ig, account = await connect(ctx, sandbox, "instagram")
    conversation_id = await conversation(ctx, account, "instagram", who=IGSID)
    target = await outbound(ctx, conversation_id, "aWdfZAG06MTpJR01lc3NhZA", channel="instagram")
    r = await reply(
        client, admin, conversation_id, type="reaction", emoji="👍", reply_to_message_id=str(target)
    )
    assert fields(problem(r, 422)) == {"emoji"}
    heart = await sent_id(
        client, admin, conversation_id, type="reaction", emoji="❤", reply_to_message_id=str(target)
    )
    await tick(ctx, private, registry)
    unreact = await sent_id(
        client, admin, conversation_id, type="reaction", emoji="", reply_to_message_id=str(target)
    )
    await tick(ctx, private, registry)
    assert await bodies(sandbox, ig) == [
        {
            "recipient": {"id": IGSID},
            "sender_action": "react",
            "payload": {"message_id": "aWdfZAG06MTpJR01lc3NhZA", "reaction": "love"},
        },
        {
            "recipient": {"id": IGSID},
            "sender_action": "unreact",
            "payload": {"message_id": "aWdfZAG06MTpJR01lc3NhZA"},
        },
    ]
    assert (await row(ctx, heart))["content"]["emoji"] == "❤️"  # stored in its full form
    assert {(await row(ctx, m))["status"] for m in (heart, unreact)} == {"sent"}


async def test_reaction_checks_on_page_channels(ctx, client, admin, sandbox) -> None:
    _, account = await connect(ctx, sandbox, "messenger")
    conversation_id = await conversation(ctx, account, "messenger")
    pending = await sent_id(client, admin, conversation_id, type="text", text="not sent yet")
    r = await reply(
        client, admin, conversation_id, type="reaction", emoji="👍", reply_to_message_id=pending
    )
    assert fields(problem(r, 422)) == {"reply_to_message_id"}
    assert "not reached Messenger" in r.json()["detail"]
    r = await reply(client, admin, conversation_id, type="reaction", emoji="👍")
    assert fields(problem(r, 422)) == {"reply_to_message_id"}
    pdf = await upload(client, admin, conversation_id, "a.pdf", PDF, "application/pdf")
    r = await reply(client, admin, conversation_id, type="image", media_id=pdf)
    assert fields(problem(r, 422)) == {"media_id"}  # a PDF is no image, on any channel


# The sandbox's checks ---------------------------------------------------------------------


async def _upload(
    sandbox: Sandbox,
    account: SandboxAccount,
    message: Any,
    *,
    node: str | None = None,
    platform: str | None = None,
    file: tuple[str, bytes, str] | None = ("a.png", PNG, "image/png"),
) -> httpx.Response:
    data = {"message": message if isinstance(message, str) else json.dumps(message)}
    if platform is not None:
        data["platform"] = platform
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{sandbox.graph()}/{node or account.external_id}/message_attachments",
            data=data,
            files={"filedata": file} if file else {"other": ("x", b"x", "text/plain")},
            headers=account.headers,
        )


async def _send(sandbox: Sandbox, account: SandboxAccount, body: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{sandbox.graph()}/{account.external_id}/messages", json=body, headers=account.headers
        )


def refused(r: httpx.Response, text: str) -> None:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    said = f"{error['message']} {error.get('error_data', {}).get('details', '')}"
    assert error["code"] == 100 and text in said, error


async def test_the_sandbox_checks_uploads_and_sends_by_attachment_id(sandbox) -> None:
    page = await sandbox.register_account("messenger", enforce_window=False)
    other = await sandbox.register_account("messenger", enforce_window=False)
    ig = await sandbox.register_account("instagram", enforce_window=False)
    ok = await _upload(sandbox, page, reusable("image"))
    assert ok.status_code == 200, ok.text
    attachment_id = ok.json()["attachment_id"]
    assert attachment_id.isdigit()
    refused(await _upload(sandbox, page, reusable("sticker")), "attachment][type]")
    refused(await _upload(sandbox, page, "{not json"), "param message")
    refused(await _upload(sandbox, page, reusable("video")), "cannot be uploaded as video")
    refused(await _upload(sandbox, page, reusable("image"), file=None), "filedata is required")
    refused(await _upload(sandbox, ig, reusable("image")), "platform")
    assert (await _upload(sandbox, ig, reusable("image"), platform="instagram")).status_code == 200
    by_url = {"attachment": {"type": "image", "payload": {"url": "https://a.example/x.png"}}}
    refused(await _upload(sandbox, page, by_url), "not from a url")

    def message(payload: dict[str, Any], kind: str = "image") -> dict[str, Any]:
        attachment = {"type": kind, "payload": payload}
        return {"recipient": {"id": "7001"}, "message": {"attachment": attachment}}

    sent = await _send(sandbox, page, message({"attachment_id": attachment_id}))
    assert sent.status_code == 200 and sent.json()["message_id"].startswith("m_"), sent.text
    refused(
        await _send(sandbox, other, message({"attachment_id": attachment_id})), "cannot be used"
    )
    refused(await _send(sandbox, page, message({"attachment_id": "404"})), "does not exist")
    refused(
        await _send(sandbox, page, message({"attachment_id": attachment_id}, "audio")), "not audio"
    )
    both = {"attachment_id": attachment_id, "url": "https://a.example/x.png"}
    refused(await _send(sandbox, page, message(both)), "exactly one of url or attachment_id")
    refused(await _send(sandbox, page, message({})), "exactly one of url or attachment_id")
    assert len(await sandbox.messages(account=page.external_id)) == 1


async def test_the_sandbox_checks_reactions(sandbox) -> None:
    page = await sandbox.register_account("messenger")
    ig = await sandbox.register_account("instagram")
    to = {"recipient": {"id": "7001"}}
    react = {**to, "sender_action": "react", "payload": {"message_id": "m_1", "reaction": "😊"}}
    answer = await _send(sandbox, page, react)
    assert answer.status_code == 200 and answer.json() == {"recipient_id": "7001"}
    unreact = {**to, "sender_action": "unreact", "payload": {"message_id": "m_1"}}
    assert (await _send(sandbox, page, unreact)).status_code == 200
    refused(await _send(sandbox, page, {**unreact, "payload": react["payload"]}), "exactly")
    refused(await _send(sandbox, page, {**react, "payload": {"message_id": "m_1"}}), "exactly")
    refused(await _send(sandbox, page, {**react, "payload": None}), "payload is required")
    no_target = {**react, "payload": {"message_id": "", "reaction": "😊"}}
    refused(await _send(sandbox, page, no_target), "payload[message_id]")
    refused(await _send(sandbox, ig, react), "'love'")
    love = {**react, "payload": {"message_id": "m_1", "reaction": "love"}}
    assert (await _send(sandbox, ig, love)).status_code == 200
    refused(await _send(sandbox, page, {**to, "sender_action": "wave"}), "react, unreact")
