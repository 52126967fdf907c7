"""Messenger and Instagram webhooks end to end: messages and attachments, quick replies,
replies, echoes (ours never twice, other apps' as outbound), delivery / read watermarks and
reactions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from omnistream.inbound import service
from tests.inbound.test_inbound_support import (
    IG_SECRET,
    PAGE_ID,
    PAGE_SECRET,
    _fresh_secrets,  # noqa: F401 - autouse
    audits,
    conversation_for,
    deliver,
    drain,
    fixture,
    instagram,
    message,
    messenger,
    one,
    outbound,
    rows,
    value,
)

PSID = "2400000000000001"
IGSID = "5300000000000001"
CDN = "https://cdn.example.com"


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


async def test_messenger_messages_attachments_and_quick_replies(ctx, client) -> None:
    account = await messenger(ctx)
    conversation = await conversation_for(ctx, "messenger", account, identity=PSID)
    ours = await outbound(ctx, conversation, "m_OUT1", channel="messenger")
    await deliver(client, fixture("messenger_messages", MEDIA_BASE=CDN), PAGE_SECRET)
    assert await drain(ctx) == 1
    text = await message(ctx, "m_TEXT1")
    assert (text["type"], text["content"], text["channel"]) == (
        "text",
        {"text": "hello"},
        "messenger",
    )
    assert text["conversation_id"] == conversation
    assert text["created_at"] == ms(1700000600001)
    quick = await message(ctx, "m_QUICK1")
    assert (quick["type"], quick["content"]) == ("button", {"text": "Red", "payload": "COLOR_RED"})
    assert (await message(ctx, "m_REPLY1"))["reply_to_id"] == ours
    expected = {
        "m_ATT1": ("image", "image/jpeg", f"{CDN}/cdn/photo.jpg", ""),
        "m_ATT1#1": ("video", "video/mp4", f"{CDN}/cdn/clip.mp4", ""),
        "m_ATT2": ("audio", "audio/mpeg", f"{CDN}/cdn/voice.mp4", ""),
        "m_ATT3": (
            "document",
            "application/octet-stream",
            f"{CDN}/cdn/price%20list.pdf",
            "price list.pdf",
        ),
    }
    for mid, (kind, mime, url, filename) in expected.items():
        m = await message(ctx, mid)
        assert m["type"] == kind, mid
        media = await one(ctx, "SELECT * FROM media WHERE id = $1", m["media_id"])
        assert (media["status"], media["mime_type"], media["source_url"]) == ("pending", mime, url)
        assert media["filename"] == filename and media["channel_media_id"] is None
        assert media["conversation_id"] == conversation
    assert await value(ctx, "SELECT unread_count FROM conversations") == 7
    identity = await one(ctx, "SELECT * FROM contact_identities WHERE external_id = $1", PSID)
    assert identity["channel"] == "messenger"


async def test_standby_events_are_stored_too(ctx, client) -> None:
    await messenger(ctx)
    body: dict[str, Any] = {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": 1,
                "standby": [
                    {
                        "sender": {"id": PSID},
                        "recipient": {"id": PAGE_ID},
                        "timestamp": 1700000000000,
                        "message": {"mid": "m_STANDBY", "text": "while another app answers"},
                    }
                ],
            }
        ],
    }
    await deliver(client, body, PAGE_SECRET)
    await drain(ctx)
    assert (await message(ctx, "m_STANDBY"))["content"] == {"text": "while another app answers"}


async def test_echoes_of_our_sends_are_not_stored_twice_others_are_outbound(ctx, client) -> None:
    account = await messenger(ctx)
    conversation = await conversation_for(ctx, "messenger", account, identity=PSID)
    await outbound(ctx, conversation, "m_OUT1", channel="messenger", created_at=ms(1700000690000))
    await deliver(client, fixture("messenger_echo"), PAGE_SECRET)
    await drain(ctx)
    # The unknown mid may be our send not recorded yet: the payload waits a little.
    (audit,) = await audits(ctx)
    assert audit["status"] == "pending" and "echo m_OTHERAPP1" in audit["error"]
    assert await value(ctx, "SELECT count(*) FROM messages") == 1
    await value(
        ctx,
        "UPDATE webhook_audit SET attempts = $1, next_attempt_at = now()",
        service.ECHO_TRIES - 1,
    )
    await drain(ctx)
    (audit,) = await audits(ctx)
    assert audit["status"] == "processed"
    assert (
        await value(ctx, "SELECT count(*) FROM messages WHERE channel_message_id = 'm_OUT1'") == 1
    )
    other = await message(ctx, "m_OTHERAPP1")
    assert (other["direction"], other["status"], other["conversation_id"]) == (
        "outbound",
        "sent",
        conversation,
    )
    assert other["content"] == {
        "text": "Sent from Page Inbox",
        "sent_from": "another_app",
        "app_id": "263902037430900",
    }
    assert other["sent_at"] == other["created_at"] == ms(1700000700002)
    conv = await one(ctx, "SELECT * FROM conversations WHERE id = $1", conversation)
    assert conv["unread_count"] == 0 and conv["last_message_preview"] == "Sent from Page Inbox"
    created = await rows(ctx, "SELECT data FROM event_outbox WHERE type = 'message.created'")
    assert [e["data"]["message"]["channel_message_id"] for e in created] == ["m_OTHERAPP1"]
    # Delivered again: still once.
    await deliver(client, fixture("messenger_echo"), PAGE_SECRET)
    await drain(ctx)
    assert await value(ctx, "SELECT count(*) FROM messages") == 2


async def test_an_echo_tagged_by_our_sender_is_never_stored(ctx, client) -> None:
    await messenger(ctx)
    body = {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "messaging": [
                    {
                        "sender": {"id": PAGE_ID},
                        "recipient": {"id": PSID},
                        "timestamp": 1700000000000,
                        "message": {
                            "is_echo": True,
                            "mid": "m_OURS_NOT_RECORDED",
                            "metadata": "omnistream:9b2f",
                            "text": "hi",
                        },
                    }
                ],
            }
        ],
    }
    await deliver(client, body, PAGE_SECRET)
    await value(ctx, "UPDATE webhook_audit SET attempts = 50")
    await drain(ctx)
    (audit,) = await audits(ctx)
    assert audit["status"] == "processed"
    assert await value(ctx, "SELECT count(*) FROM messages") == 0


async def test_delivery_and_read_watermarks_move_our_messages_forward(ctx, client) -> None:
    account = await messenger(ctx)
    conversation = await conversation_for(ctx, "messenger", account, identity=PSID)
    before_read = await outbound(
        ctx, conversation, "m_OUT1", channel="messenger", created_at=ms(1700000730000)
    )
    between = await outbound(
        ctx, conversation, "m_B", channel="messenger", created_at=ms(1700000745000)
    )
    after = await outbound(
        ctx, conversation, "m_C", channel="messenger", created_at=ms(1700000760000)
    )
    unsent = await outbound(
        ctx,
        conversation,
        "m_D",
        channel="messenger",
        status="pending",
        created_at=ms(1700000700000),
    )
    already = await outbound(
        ctx, conversation, "m_E", channel="messenger", status="read", created_at=ms(1700000720000)
    )
    other = await conversation_for(ctx, "messenger", account, identity="2400000000000009")
    stranger = await outbound(ctx, other, "m_F", channel="messenger", created_at=ms(1700000700000))
    await deliver(client, fixture("messenger_receipts"), PAGE_SECRET)
    await drain(ctx)
    states = {r["id"]: r["status"] for r in await rows(ctx, "SELECT id, status FROM messages")}
    assert states == {
        before_read: "read",
        between: "delivered",
        after: "sent",
        unsent: "pending",
        already: "read",
        stranger: "sent",
    }
    read = await one(ctx, "SELECT * FROM messages WHERE id = $1", before_read)
    assert read["read_at"] == ms(1700000800002) and read["delivered_at"] == ms(1700000800001)
    updates = await rows(
        ctx, "SELECT data FROM event_outbox WHERE type = 'message.updated' ORDER BY pos"
    )
    assert [
        (u["data"]["message"]["channel_message_id"], u["data"]["message"]["status"])
        for u in updates
    ] == [
        ("m_OUT1", "delivered"),
        ("m_B", "delivered"),
        ("m_OUT1", "read"),
    ]
    # A repeat changes nothing and says nothing.
    await deliver(client, fixture("messenger_receipts"), PAGE_SECRET)
    await drain(ctx)
    assert await value(ctx, "SELECT count(*) FROM event_outbox WHERE type = 'message.updated'") == 3


async def test_reactions_react_and_unreact(ctx, client) -> None:
    account = await messenger(ctx)
    conversation = await conversation_for(ctx, "messenger", account, identity=PSID)
    target = await outbound(ctx, conversation, "m_OUT1", channel="messenger")
    await deliver(client, fixture("messenger_reaction"), PAGE_SECRET)
    await drain(ctx)
    shown = await one(ctx, "SELECT content FROM messages WHERE id = $1", target)
    assert shown["content"]["reactions"] == {"contact": "❤️"}
    reaction = await one(ctx, "SELECT * FROM messages WHERE type = 'reaction'")
    assert reaction["reply_to_id"] == target
    assert reaction["content"] == {
        "emoji": "❤️",
        "target_message_id": "m_OUT1",
        "reaction": "love",
        "action": "react",
    }
    await deliver(client, fixture("messenger_unreact"), PAGE_SECRET)
    await deliver(client, fixture("messenger_reaction"), PAGE_SECRET)  # a late redelivery
    await drain(ctx)
    shown = await one(ctx, "SELECT content FROM messages WHERE id = $1", target)
    assert shown["content"]["reactions"] == {}
    assert await value(ctx, "SELECT count(*) FROM messages WHERE type = 'reaction'") == 2


async def test_instagram_messages_and_a_read_by_mid(ctx, client) -> None:
    account = await instagram(ctx)
    conversation = await conversation_for(ctx, "instagram", account, identity=IGSID)
    earlier = await outbound(
        ctx, conversation, "ig_EARLIER", channel="instagram", created_at=ms(1699999990000)
    )
    last_read = await outbound(
        ctx, conversation, "ig_OUT1", channel="instagram", created_at=ms(1699999995000)
    )
    later = await outbound(
        ctx, conversation, "ig_LATER", channel="instagram", created_at=ms(1699999999000)
    )
    await deliver(client, fixture("instagram_messages", MEDIA_BASE=CDN), IG_SECRET)
    await drain(ctx)
    text = await message(ctx, "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3")
    assert (text["channel"], text["content"]) == ("instagram", {"text": "Is this still available?"})
    assert text["conversation_id"] == conversation
    image = await message(ctx, "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE4")
    assert image["type"] == "image"
    assert await value(ctx, "SELECT source_url FROM media WHERE id = $1", image["media_id"]) == (
        f"{CDN}/cdn/ig.jpg"
    )
    states = {r["id"]: r["status"] for r in await rows(ctx, "SELECT id, status FROM messages")}
    assert (states[earlier], states[last_read], states[later]) == ("read", "read", "sent")


async def test_a_page_payload_for_an_unknown_page_is_unroutable(ctx, client) -> None:
    await integration_with_other_page(ctx)
    await deliver(client, fixture("messenger_messages", MEDIA_BASE=CDN), PAGE_SECRET)
    await drain(ctx)
    (audit,) = await audits(ctx)
    assert audit["status"] == "unroutable"
    assert f"messenger account {PAGE_ID} is unknown" in audit["error"]
    assert await value(ctx, "SELECT count(*) FROM messages") == 0


async def integration_with_other_page(ctx) -> None:
    from tests.inbound.test_inbound_support import integration

    await integration(ctx, "messenger", ["999"], app_secret=PAGE_SECRET)
