"""An item of a webhook is applied only to an account of an integration whose app secret
signed the call (webhook_audit.signed_by): one integration's secret cannot write into
another's conversations. Old rows without signed_by are applied as before."""

from __future__ import annotations

from typing import Any

import orjson

from omnistream.inbound.service import CROSS_SIGNED
from tests.inbound.test_inbound_support import (
    PAGE_ID,
    PAGE_SECRET,
    PHONE_ID,
    PHONE_ID_2,
    WA_SECRET,
    _fresh_secrets,  # noqa: F401 - autouse
    audits,
    deliver,
    drain,
    fixture,
    integration,
    messenger,
    payload,
    value,
    whatsapp,
)

ATTACKER = "attacker-app-secret"


def wa_text(wamid: str, phone_id: str = PHONE_ID, sender: str = "16505551234") -> dict[str, Any]:
    body = payload("wa_text")
    value_ = body["entry"][0]["changes"][0]["value"]
    value_["metadata"]["phone_number_id"] = phone_id
    value_["messages"][0].update({"id": wamid, "from": sender})
    return body


def entries(*bodies: dict[str, Any]) -> dict[str, Any]:
    """One payload holding the entries of several."""
    return {**bodies[0], "entry": [e for b in bodies for e in b["entry"]]}


async def stored(ctx) -> list[str]:
    found = await value(
        ctx, "SELECT array_agg(channel_message_id ORDER BY channel_message_id) FROM messages"
    )
    return found or []


async def test_a_payload_signed_with_another_integrations_secret_is_not_applied(
    ctx, client
) -> None:
    """The audit's proof: a Messenger integration's app secret signing a WhatsApp payload for
    the WhatsApp integration's number. Accepted at the edge (it is a valid signature), not
    applied: nothing of it reaches the WhatsApp integration's conversations."""
    (wa, _) = await whatsapp(ctx)
    await integration(ctx, "messenger", ["999"], app_secret=ATTACKER)
    # Both the batch path (plain text) and the one-item path (a status receipt) refuse it.
    await deliver(client, wa_text("wamid.FORGED"), ATTACKER)
    await deliver(client, fixture("wa_statuses"), ATTACKER)
    await drain(ctx)
    found = await audits(ctx)
    assert [a["status"] for a in found] == ["unroutable", "unroutable"]
    assert found[0]["error"] == f"whatsapp account {PHONE_ID} not applied: {CROSS_SIGNED}"
    assert CROSS_SIGNED in found[1]["error"]
    assert await stored(ctx) == []
    for table in ("contacts", "conversations", "event_outbox"):
        assert await value(ctx, f"SELECT count(*) FROM {table}") == 0, table

    await deliver(client, wa_text("wamid.GENUINE"), WA_SECRET)  # the owner's own secret
    await drain(ctx)
    assert (await audits(ctx))[-1]["status"] == "processed"
    assert await stored(ctx) == ["wamid.GENUINE"]
    assert await value(ctx, "SELECT integration_account_id FROM conversations") == wa.account_id


async def test_only_the_signers_items_of_a_mixed_payload_are_applied(ctx, client) -> None:
    await whatsapp(ctx)  # PHONE_ID, PHONE_ID_2 under WA_SECRET
    await integration(ctx, "whatsapp", ["555"], app_secret="other-app")
    body = entries(
        wa_text("wamid.MINE", PHONE_ID),
        wa_text("wamid.THEIRS", "555"),
        wa_text("wamid.MINE_TOO", PHONE_ID_2, sender="16505550000"),
    )
    await deliver(client, body, WA_SECRET)
    await drain(ctx)
    (audit,) = await audits(ctx)
    assert audit["status"] == "processed"
    assert audit["error"] == f"whatsapp account 555 not applied: {CROSS_SIGNED}"
    assert await stored(ctx) == ["wamid.MINE", "wamid.MINE_TOO"]


async def test_integrations_sharing_one_secret_all_receive(ctx, client) -> None:
    """One Meta app for several numbers / pages: one secret, several integrations."""
    shared = "one-meta-app-secret"
    (first,) = await integration(ctx, "whatsapp", ["41"], app_secret=shared)
    (second,) = await integration(ctx, "whatsapp", ["42"], app_secret=shared)
    (page,) = await integration(ctx, "messenger", [PAGE_ID], app_secret=shared)
    await deliver(client, entries(wa_text("wamid.A", "41"), wa_text("wamid.B", "42")), shared)
    await deliver(client, fixture("messenger_messages", MEDIA_BASE="http://127.0.0.1:9"), shared)
    await drain(ctx)
    assert [a["status"] for a in await audits(ctx)] == ["processed", "processed"]
    assert sorted(await stored(ctx)) == sorted(["wamid.A", "wamid.B", *await page_mids(ctx)])
    accounts = await value(
        ctx, "SELECT array_agg(DISTINCT integration_account_id) FROM conversations"
    )
    assert sorted(accounts) == sorted([first.account_id, second.account_id, page.account_id])


async def page_mids(ctx) -> list[str]:
    found = await value(
        ctx,
        "SELECT array_agg(channel_message_id ORDER BY channel_message_id) FROM messages "
        "WHERE channel = 'messenger'",
    )
    assert found, "the shared secret's Messenger payload was applied"
    return list(found)


async def test_template_status_needs_every_integration_of_its_waba(ctx, client) -> None:
    await whatsapp(ctx)  # WABA 102290129340398 (tests.inbound.test_inbound_support.integration)
    await messenger(ctx)
    update = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "time": 1700000000,
                "changes": [
                    {
                        "field": "message_template_status_update",
                        "value": {
                            "event": "PAUSED",
                            "message_template_id": 7,
                            "message_template_name": "hello_world",
                            "message_template_language": "en_US",
                            "reason": None,
                        },
                    }
                ],
            }
        ],
    }
    raw = orjson.dumps(update)
    await deliver(client, raw, PAGE_SECRET)  # the Messenger integration's
    await deliver(client, raw, WA_SECRET)
    await drain(ctx)
    forged, genuine = await audits(ctx)
    assert forged["status"] == "unroutable"
    assert forged["error"] == f"template status of WABA 102290129340398 not applied: {CROSS_SIGNED}"
    assert genuine["status"] == "processed"  # reached the templates (none synced yet)
    assert "not synced yet" in genuine["error"]


async def test_rows_stored_before_signed_by_are_applied_as_before(ctx) -> None:
    await whatsapp(ctx)
    async with ctx.pool.acquire() as conn:  # as the acknowledgement wrote them until now
        await conn.execute(
            "INSERT INTO webhook_audit (channel, headers, body, signature_valid) "
            "VALUES ('meta', '{}', $1, true)",
            orjson.dumps(wa_text("wamid.OLD_ROW")),
        )
    assert await drain(ctx) == 1
    (audit,) = await audits(ctx)
    assert (audit["signed_by"], audit["status"]) == (None, "processed")
    assert await stored(ctx) == ["wamid.OLD_ROW"]
