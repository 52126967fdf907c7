"""Receipts and echoes naming one of our sends the sender never recorded (the worker died
after Meta accepted it): the inbound loop records the channel id and the status on it, and
the sender's claim does not take it again (inbound/accepted.py, messages/accepted.py)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from omnistream.messages import outbound_queries
from tests.inbound.test_inbound_support import (
    PAGE_SECRET,
    _fresh_secrets,  # noqa: F401 - autouse
    conversation_for,
    deliver,
    drain,
    integration,
    messenger,
    payload,
    rows,
    value,
    whatsapp,
)


async def leased(ctx: Any, conversation_id: UUID, channel: str = "whatsapp") -> UUID:
    """An outbound message as a dead sender leaves it: pending, leased, no channel id."""
    return await value(  # type: ignore[no-any-return]
        ctx,
        "INSERT INTO messages (conversation_id, channel, direction, type, content, status, "
        "attempts, next_attempt_at) VALUES ($1, $2, 'outbound', 'text', "
        """'{"text": "our reply"}', 'pending', 1, now() + interval '5 minutes') RETURNING id""",
        conversation_id,
        channel,
    )


async def expire_leases_and_claim(ctx: Any) -> list[Any]:
    async with ctx.pool.acquire() as conn:
        await conn.execute("UPDATE messages SET next_attempt_at = now() WHERE status = 'pending'")
        return list(await outbound_queries.claim_due(conn, 50, 300.0))


def statuses(*items: tuple[str, str, str | None]) -> dict[str, Any]:
    """A WhatsApp statuses webhook: (wamid, status, biz_opaque_callback_data) each."""
    body = payload("wa_statuses")
    value_ = body["entry"][0]["changes"][0]["value"]
    template = {s["status"]: s for s in value_["statuses"]}
    value_["statuses"] = []
    for wamid, status, opaque in items:
        item = {**template[status], "id": wamid}
        if opaque is not None:
            item["biz_opaque_callback_data"] = opaque
        value_["statuses"].append(item)
    return body


async def test_whatsapp_statuses_record_an_unrecorded_send_which_is_not_sent_again(
    ctx, client
) -> None:
    account, _ = await whatsapp(ctx)
    conversation = await conversation_for(ctx, "whatsapp", account, phone="16505551234")
    delivered, failed, unnamed, silent = [await leased(ctx, conversation) for _ in range(4)]
    (other,) = await integration(ctx, "whatsapp", ["306540352242922"], app_secret="other")
    elsewhere = await leased(
        ctx, await conversation_for(ctx, "whatsapp", other, phone="16505550000")
    )
    await deliver(
        client,
        statuses(
            ("wamid.D", "sent", str(delivered)),
            ("wamid.D", "delivered", str(delivered)),
            ("wamid.F", "failed", str(failed)),
            ("wamid.U", "sent", None),  # no id of ours: waits for the sender's record
            ("wamid.X", "sent", str(elsewhere)),  # another account's message: untouched
            ("wamid.N", "sent", "not-a-uuid"),
        ),
    )
    await drain(ctx)
    found = {
        r["id"]: r
        for r in await rows(
            ctx,
            "SELECT id, status, channel_message_id, sent_at IS NOT NULL AS stamped, error_code "
            "FROM messages",
        )
    }
    assert (found[delivered]["status"], found[delivered]["channel_message_id"]) == (
        "delivered",
        "wamid.D",
    )
    assert found[delivered]["stamped"]
    assert (found[failed]["status"], found[failed]["channel_message_id"]) == ("failed", "wamid.F")
    assert found[failed]["error_code"] == "131047"
    for untouched in (unnamed, silent, elsewhere):
        assert (found[untouched]["status"], found[untouched]["channel_message_id"]) == (
            "pending",
            None,
        )
    events = await rows(
        ctx,
        "SELECT data->'message'->>'status' AS status FROM event_outbox "
        "WHERE type = 'message.updated' AND data->'message'->>'id' = $1 ORDER BY pos",
        str(delivered),
    )
    assert [e["status"] for e in events] == ["sent", "delivered"]
    # The payload waits for wamid.U / wamid.X / wamid.N: pending, to be tried again.
    assert await value(ctx, "SELECT status FROM webhook_audit") == "pending"
    claimed = {r["id"] for r in await expire_leases_and_claim(ctx)}
    # Recorded sends are not sent again (nor hold up the next one); `silent` waits behind
    # `unnamed`, the older pending message of its conversation.
    assert claimed == {unnamed, elsewhere}


async def test_a_messenger_echo_of_our_metadata_records_the_send(ctx, client) -> None:
    account = await messenger(ctx)
    conversation = await conversation_for(ctx, "messenger", account, identity="2400000000000001")
    ours = await leased(ctx, conversation, "messenger")
    body = payload("messenger_echo")
    body["entry"][0]["messaging"] = body["entry"][0]["messaging"][:1]
    body["entry"][0]["messaging"][0]["message"]["metadata"] = f"omnistream:{ours}"
    await deliver(client, body, PAGE_SECRET)
    await drain(ctx)
    row = (await rows(ctx, "SELECT status, channel_message_id FROM messages WHERE id = $1", ours))[
        0
    ]
    assert (row["status"], row["channel_message_id"]) == ("sent", "m_OUT1")
    assert await value(ctx, "SELECT status FROM webhook_audit") == "processed"
    assert await expire_leases_and_claim(ctx) == []
