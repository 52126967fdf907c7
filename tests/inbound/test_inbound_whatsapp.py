"""WhatsApp webhooks end to end: the real endpoint, then the inbound tick. Every inbound
type, reactions, reply context, statuses (out of order, before the send is recorded),
duplicate delivery and payloads with several entries, changes and messages."""

from __future__ import annotations

from datetime import UTC, datetime

from omnistream.inbound import service
from tests.inbound.test_inbound_support import (
    PHONE_ID_2,
    _fresh_secrets,  # noqa: F401 - autouse
    audits,
    conversation_for,
    deliver,
    drain,
    fixture,
    message,
    one,
    outbound,
    rows,
    value,
    whatsapp,
)

ANA = "16505551234"


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def test_text_creates_contact_conversation_and_message(ctx, client) -> None:
    (account, _) = await whatsapp(ctx)
    await deliver(client, fixture("wa_text"))
    assert await drain(ctx) == 1
    m = await message(ctx, "wamid.TEXT1")
    assert (m["direction"], m["type"], m["status"]) == ("inbound", "text", "received")
    assert m["content"] == {"text": "Does it come in blue?"}
    assert m["created_at"] == at(1700000000)
    contact = await one(ctx, "SELECT * FROM contacts WHERE phone = $1", ANA)
    assert contact["name"] == "Ana"  # the profile name
    conv = await one(ctx, "SELECT * FROM conversations WHERE id = $1", m["conversation_id"])
    assert conv["integration_account_id"] == account.account_id
    assert (conv["channel"], conv["contact_id"], conv["unread_count"]) == (
        "whatsapp",
        contact["id"],
        1,
    )
    (audit,) = await audits(ctx)
    assert (audit["status"], audit["error"], audit["attempts"]) == ("processed", None, 1)
    assert audit["channel"] == "whatsapp" and audit["processed_at"] is not None
    events = await rows(ctx, "SELECT type FROM event_outbox ORDER BY pos")
    assert [e["type"] for e in events] == [
        "contact.created",
        "conversation.created",
        "message.created",
    ]


async def test_the_same_payload_twice_is_one_message(ctx, client) -> None:
    await whatsapp(ctx)
    await deliver(client, fixture("wa_text"))
    await deliver(client, fixture("wa_text"))
    assert await drain(ctx) == 2
    assert await value(ctx, "SELECT count(*) FROM messages") == 1
    assert await value(ctx, "SELECT unread_count FROM conversations") == 1
    assert [a["status"] for a in await audits(ctx)] == ["processed", "processed"]
    # Again later, in another batch: still one.
    await deliver(client, fixture("wa_text"))
    await drain(ctx)
    assert await value(ctx, "SELECT count(*) FROM messages") == 1
    assert await value(ctx, "SELECT count(*) FROM event_outbox WHERE type = 'message.created'") == 1


async def test_media_messages_reference_pending_media_rows(ctx, client) -> None:
    await whatsapp(ctx)
    await deliver(client, fixture("wa_media"))
    await drain(ctx)
    expected = {
        "wamid.IMAGE1": ("image", "image/jpeg", "media-image-1", {"caption": "the box"}),
        "wamid.VIDEO1": ("video", "video/mp4", "media-video-1", {}),
        "wamid.AUDIO1": ("audio", "audio/ogg", "media-audio-1", {"voice": True}),
        "wamid.DOC1": (
            "document",
            "application/pdf",
            "media-doc-1",
            {"caption": "invoice", "filename": "inv.pdf"},
        ),
        "wamid.STICKER1": ("sticker", "image/webp", "media-sticker-1", {"animated": False}),
    }
    for wamid, (kind, mime, media_id, content) in expected.items():
        m = await message(ctx, wamid)
        assert m["type"] == kind
        assert m["content"] == {**content, "mime_type": mime}
        media = await one(ctx, "SELECT * FROM media WHERE id = $1", m["media_id"])
        assert (media["origin"], media["status"], media["mime_type"]) == (
            "inbound",
            "pending",
            mime,
        )
        assert media["channel_media_id"] == media_id
        assert media["conversation_id"] == m["conversation_id"]
        assert media["sha256"] == "SHA_" + kind.upper().replace("DOCUMENT", "DOC")
    doc = await one(ctx, "SELECT filename FROM media WHERE channel_media_id = 'media-doc-1'")
    assert doc["filename"] == "inv.pdf"
    created = await one(
        ctx,
        "SELECT data FROM event_outbox WHERE type = 'message.created' "
        "AND data->'message'->>'channel_message_id' = 'wamid.IMAGE1'",
    )
    assert created["data"]["message"]["media"]["status"] == "pending"
    # A redelivery leaves no second file row behind.
    await deliver(client, fixture("wa_media"))
    await drain(ctx)
    assert await value(ctx, "SELECT count(*) FROM media") == 5


async def test_location_and_contacts(ctx, client) -> None:
    await whatsapp(ctx)
    await deliver(client, fixture("wa_location_contacts"))
    await drain(ctx)
    location = await message(ctx, "wamid.LOC1")
    assert location["type"] == "location"
    assert location["content"] == {
        "latitude": -6.2,
        "longitude": 106.816666,
        "name": "Monas",
        "address": "Gambir, Jakarta",
    }
    cards = await message(ctx, "wamid.CONTACTS1")
    assert cards["type"] == "contacts"
    assert cards["content"]["contacts"][0]["phones"][0]["wa_id"] == "6281234567890"
    preview = await value(ctx, "SELECT last_message_preview FROM conversations")
    assert preview == "👤 Contact"


async def test_interactive_replies_and_buttons(ctx, client) -> None:
    await whatsapp(ctx)
    await deliver(client, fixture("wa_interactive"))
    await drain(ctx)
    assert (await message(ctx, "wamid.BTNREPLY1"))["content"] == {
        "type": "button_reply",
        "id": "btn_yes",
        "title": "Yes",
    }
    listed = await message(ctx, "wamid.LISTREPLY1")
    assert listed["type"] == "interactive"
    assert listed["content"] == {
        "type": "list_reply",
        "id": "row_1",
        "title": "Plan A",
        "description": "The cheap one",
    }
    flow = await message(ctx, "wamid.NFM1")
    assert flow["content"]["flow_token"] == "TOKEN-42"
    assert flow["content"]["response"] == {"flow_token": "TOKEN-42", "field": "v"}
    button = await message(ctx, "wamid.BUTTON1")
    assert (button["type"], button["content"]) == (
        "button",
        {"text": "Stop promos", "payload": "STOP"},
    )
    assert await value(ctx, "SELECT last_message_preview FROM conversations") == "Stop promos"


async def test_unsupported_types_are_kept_with_their_error(ctx, client) -> None:
    await whatsapp(ctx)
    await deliver(client, fixture("wa_unsupported"))
    await drain(ctx)
    unknown = await message(ctx, "wamid.UNKNOWN1")
    assert unknown["type"] == "unsupported"
    assert unknown["content"]["original_type"] == "unknown"
    assert unknown["content"]["error"] == (
        "131051: Unsupported message type: Message type is not currently supported"
    )
    order = await message(ctx, "wamid.ORDER1")
    assert order["type"] == "unsupported"
    assert order["content"]["order"]["catalog_id"] == "123"


async def test_a_reply_links_the_quoted_message(ctx, client) -> None:
    (account, _) = await whatsapp(ctx)
    conversation = await conversation_for(ctx, "whatsapp", account, phone=ANA)
    ours = await outbound(ctx, conversation, "wamid.OUT1")
    await deliver(client, fixture("wa_reply_context"))
    await drain(ctx)
    reply = await message(ctx, "wamid.REPLY1")
    assert reply["reply_to_id"] == ours
    assert reply["conversation_id"] == conversation


async def test_reactions_attach_to_their_target_and_can_be_removed(ctx, client) -> None:
    (account, _) = await whatsapp(ctx)
    conversation = await conversation_for(ctx, "whatsapp", account, phone=ANA)
    target = await outbound(ctx, conversation, "wamid.OUT1")
    await deliver(client, fixture("wa_reaction"))
    await drain(ctx)
    reaction = await message(ctx, "wamid.REACT1")
    assert reaction["type"] == "reaction" and reaction["reply_to_id"] == target
    assert reaction["content"] == {"emoji": "👍", "target_message_id": "wamid.OUT1"}
    shown = await one(ctx, "SELECT content FROM messages WHERE id = $1", target)
    assert shown["content"]["reactions"] == {"contact": "👍"}
    updated = await one(
        ctx, "SELECT data FROM event_outbox WHERE type = 'message.updated' ORDER BY pos DESC"
    )
    assert updated["data"]["message"]["id"] == str(target)
    assert updated["data"]["message"]["content"]["reactions"] == {"contact": "👍"}

    await deliver(client, fixture("wa_reaction_remove"))  # no emoji: removed
    await drain(ctx)
    shown = await one(ctx, "SELECT content FROM messages WHERE id = $1", target)
    assert shown["content"]["reactions"] == {}
    # A late redelivery of the first reaction does not bring it back.
    await deliver(client, fixture("wa_reaction"))
    await drain(ctx)
    shown = await one(ctx, "SELECT content FROM messages WHERE id = $1", target)
    assert shown["content"]["reactions"] == {}
    assert shown["content"]["text"] == "our reply"


async def test_a_reaction_neither_counts_as_unread_nor_reopens(ctx, client) -> None:
    (account, _) = await whatsapp(ctx)
    conversation = await conversation_for(ctx, "whatsapp", account, phone=ANA)
    await outbound(ctx, conversation, "wamid.OUT1")
    await value(
        ctx,
        "UPDATE conversations SET status = 'resolved', resolved_at = now(), unread_count = 0"
        " WHERE id = $1",
        conversation,
    )
    await deliver(client, fixture("wa_reaction"))  # 👍 to "solved"
    await drain(ctx)
    shown = await one(
        ctx, "SELECT status, unread_count FROM conversations WHERE id = $1", conversation
    )
    assert (shown["status"], shown["unread_count"]) == ("resolved", 0)
    assert await message(ctx, "wamid.REACT1")  # stored all the same
    await deliver(client, fixture("wa_text"))  # a real message does both
    await drain(ctx)
    shown = await one(
        ctx, "SELECT status, unread_count FROM conversations WHERE id = $1", conversation
    )
    assert (shown["status"], shown["unread_count"]) == ("open", 1)


async def test_a_reaction_arriving_after_a_later_one_does_not_win(ctx, client) -> None:
    (account, _) = await whatsapp(ctx)
    conversation = await conversation_for(ctx, "whatsapp", account, phone=ANA)
    target = await outbound(ctx, conversation, "wamid.OUT1")
    await deliver(client, fixture("wa_reaction_remove"))  # the removal (t=200) comes first
    await drain(ctx)
    await deliver(client, fixture("wa_reaction"))  # then the older 👍 (t=100)
    await drain(ctx)
    shown = await one(ctx, "SELECT content FROM messages WHERE id = $1", target)
    assert "contact" not in shown["content"].get("reactions", {})


async def test_statuses_move_forward_with_errors(ctx, client) -> None:
    (account, _) = await whatsapp(ctx)
    conversation = await conversation_for(ctx, "whatsapp", account, phone=ANA)
    first = await outbound(ctx, conversation, "wamid.OUT1")
    second = await outbound(ctx, conversation, "wamid.OUT2")
    await deliver(client, fixture("wa_statuses"))
    await drain(ctx)
    m1 = await one(ctx, "SELECT * FROM messages WHERE id = $1", first)
    assert m1["status"] == "delivered" and m1["delivered_at"] == at(1700000301)
    m2 = await one(ctx, "SELECT * FROM messages WHERE id = $1", second)
    assert (m2["status"], m2["error_code"]) == ("failed", "131047")
    assert m2["error_reason"].startswith("Re-engagement message: Message failed to send")
    assert m2["failed_at"] == at(1700000302)
    (audit,) = await audits(ctx)
    assert audit["status"] == "processed"


async def test_read_before_delivered_stays_read(ctx, client) -> None:
    (account, _) = await whatsapp(ctx)
    conversation = await conversation_for(ctx, "whatsapp", account, phone=ANA)
    first = await outbound(ctx, conversation, "wamid.OUT1")
    await outbound(ctx, conversation, "wamid.OUT2")
    await deliver(client, fixture("wa_status_read"))
    await deliver(client, fixture("wa_statuses"))  # sent + delivered arrive after read
    await drain(ctx)
    m1 = await one(ctx, "SELECT * FROM messages WHERE id = $1", first)
    assert m1["status"] == "read"
    assert m1["read_at"] == at(1700000400)
    assert m1["delivered_at"] == at(1700000400)  # implied by the read


async def test_a_status_before_the_send_is_recorded_waits_then_applies(ctx, client) -> None:
    (account, _) = await whatsapp(ctx)
    await deliver(client, fixture("wa_status_read"))
    assert await drain(ctx) == 1
    (audit,) = await audits(ctx)
    assert (audit["status"], audit["attempts"]) == ("pending", 1)
    assert "wamid.OUT1" in audit["error"]
    assert await value(ctx, "SELECT next_attempt_at > now() FROM webhook_audit")
    assert await drain(ctx) == 0  # not due yet
    # The sender records its send; the retry comes due.
    conversation = await conversation_for(ctx, "whatsapp", account, phone=ANA)
    ours = await outbound(ctx, conversation, "wamid.OUT1")
    await value(ctx, "UPDATE webhook_audit SET next_attempt_at = now()")
    assert await drain(ctx) == 1
    (audit,) = await audits(ctx)
    assert (audit["status"], audit["attempts"], audit["error"]) == ("processed", 2, None)
    assert await value(ctx, "SELECT status FROM messages WHERE id = $1", ours) == "read"


async def test_a_status_for_a_message_never_recorded_is_given_up(ctx, client) -> None:
    await whatsapp(ctx)
    await deliver(client, fixture("wa_status_read"))
    await value(ctx, "UPDATE webhook_audit SET attempts = $1", service.STATUS_TRIES - 1)
    await drain(ctx)
    (audit,) = await audits(ctx)
    assert audit["status"] == "failed" and audit["attempts"] == service.STATUS_TRIES
    assert "gave up on the read receipt of wamid.OUT1" in audit["error"]


async def test_several_entries_changes_and_messages_with_unknown_fields(ctx, client) -> None:
    (first, second) = await whatsapp(ctx)
    await deliver(client, fixture("wa_multi"))
    await drain(ctx)
    found = await rows(
        ctx,
        "SELECT m.channel_message_id, m.content->>'text' AS text, k.phone, k.name, "
        "c.integration_account_id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "JOIN contacts k ON k.id = c.contact_id ORDER BY m.channel_message_id",
    )
    assert [tuple(r) for r in found] == [
        ("wamid.MULTI1", "first", ANA, "Ana", first.account_id),
        ("wamid.MULTI2", "second", "6281234567890", "Budi", first.account_id),
        ("wamid.MULTI3", "third", ANA, "Ana", first.account_id),
        ("wamid.MULTI4", "to the second number", "6289876543210", "Citra", second.account_id),
    ]
    assert second.external_id == PHONE_ID_2
    assert await value(ctx, "SELECT count(*) FROM conversations") == 3
    (audit,) = await audits(ctx)
    assert audit["status"] == "processed"
    # The template status change is routed on the WABA (templates: tests/templates/test_templates.py).
    assert "template order_update (en_US) is not synced yet" in audit["error"]
