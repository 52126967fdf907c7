"""U+0000 in a Meta webhook: PostgreSQL text and jsonb cannot hold it, so the readers drop it
instead of failing the whole payload (every message in it would be lost)."""

from __future__ import annotations

from typing import Any

import orjson

from omnistream.inbound.reading import without_nul
from tests.inbound.test_inbound_support import (
    PAGE_SECRET,
    PHONE_ID,
    _fresh_secrets,  # noqa: F401 - autouse
    audits,
    deliver,
    drain,
    message,
    messenger,
    one,
    whatsapp,
)

ANA = "16505551234"
BUDI = "6281234567890"


def wa_payload() -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "contacts": [
            {"profile": {"name": "A\u0000na"}, "wa_id": ANA},
            {"profile": {"name": "Budi"}, "wa_id": BUDI},
        ],
        "messages": [
            {
                "from": ANA,
                "id": "wamid.NUL\u00001",
                "timestamp": "1700000500",
                "type": "text",
                "text": {"body": "blue\u0000 please\u0000"},
            },
            {
                "from": BUDI,
                "id": "wamid.NUL2",
                "timestamp": "1700000501",
                "type": "text",
                "text": {"body": "second"},
            },
        ],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


async def test_nul_in_whatsapp_text_name_and_id_is_dropped(ctx, client) -> None:
    await whatsapp(ctx)
    raw = orjson.dumps(wa_payload())
    assert b"\\u0000" in raw  # JSON carries it escaped
    await deliver(client, raw)
    (audit,) = await audits(ctx)  # acknowledged: the raw body is kept as it came (bytea)
    assert bytes(audit["body"]) == raw
    assert await drain(ctx) == 1
    first = await message(ctx, "wamid.NUL1")
    assert first["content"] == {"text": "blue please"}
    second = await message(ctx, "wamid.NUL2")
    assert second["content"] == {"text": "second"}
    ana = await one(ctx, "SELECT name FROM contacts WHERE phone = $1", ANA)
    assert ana["name"] == "Ana"
    (audit,) = await audits(ctx)
    assert (audit["status"], audit["error"]) == ("processed", None)


async def test_nul_in_messenger_text_is_dropped(ctx, client) -> None:
    account = await messenger(ctx)
    event = {
        "sender": {"id": "2400000000000001"},
        "recipient": {"id": account.external_id},
        "timestamp": 1700000600001,
        "message": {"mid": "m_NUL\u00001", "text": "\u0000hello\u0000"},
    }
    payload = {"object": "page", "entry": [{"id": account.external_id, "messaging": [event]}]}
    await deliver(client, orjson.dumps(payload), PAGE_SECRET)
    assert await drain(ctx) == 1
    m = await message(ctx, "m_NUL1")
    assert m["content"]["text"] == "hello"
    (audit,) = await audits(ctx)
    assert audit["status"] == "processed"


def test_without_nul_cleans_keys_values_and_nesting() -> None:
    dirty = {"a\u0000": ["x\u0000y", {"k": "\u0000"}, 1, None, True, 2.5], "n": "plain"}
    assert without_nul(dirty) == {"a": ["xy", {"k": ""}, 1, None, True, 2.5], "n": "plain"}
    clean = {"a": ["x"]}
    assert without_nul(clean) == clean


async def test_nul_in_parts_copied_as_they_are_is_dropped_too(ctx, client) -> None:
    """A contact card and an ad referral are stored as Meta sent them (no reader of ours
    walks them): the whole payload is cleaned when it is read."""
    await whatsapp(ctx)
    payload = wa_payload()
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] = [
        {
            "from": ANA,
            "id": "wamid.NUL3",
            "timestamp": "1700000700",
            "type": "contacts",
            "contacts": [{"name": {"formatted_name": "Jo\u0000hn"}, "phones": []}],
        },
        {
            "from": BUDI,
            "id": "wamid.NUL4",
            "timestamp": "1700000701",
            "type": "text",
            "text": {"body": "from an ad"},
            "referral": {"source_url": "https://x.example/\u0000ad", "headline": "Sa\u0000le"},
        },
    ]
    await deliver(client, orjson.dumps(payload))
    assert await drain(ctx) == 1
    card = await message(ctx, "wamid.NUL3")
    assert "Jo\u0000hn" not in orjson.dumps(card["content"]).decode()
    assert "John" in orjson.dumps(card["content"]).decode()
    referred = await message(ctx, "wamid.NUL4")
    assert "Sale" in orjson.dumps(referred["content"]).decode()
    (audit,) = await audits(ctx)
    assert (audit["status"], audit["error"]) == ("processed", None)
