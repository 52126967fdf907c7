"""The inbound loop's robustness: bad payloads fail alone, unknown accounts are unroutable,
transient database errors retry, concurrent ticks never apply a row twice, and the loop
wakes on the webhook's NOTIFY."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson

from omnistream.auth.worker import housekeeping_tick
from omnistream.inbound import worker
from omnistream.inbound.worker import inbound_loop, process_batch
from tests.inbound.test_inbound_support import (
    WA_SECRET,
    _fresh_secrets,  # noqa: F401 - autouse
    audits,
    deliver,
    drain,
    fixture,
    integration,
    payload,
    rows,
    value,
    whatsapp,
)


def text_payload(
    wamid: str, sender: str = "16505551234", phone_id: str = "106540352242922"
) -> dict[str, Any]:
    body = payload("wa_text")
    value_ = body["entry"][0]["changes"][0]["value"]
    value_["metadata"]["phone_number_id"] = phone_id
    value_["messages"][0].update({"id": wamid, "from": sender})
    return body


async def test_unreadable_payloads_fail_alone_with_their_reason(ctx, client) -> None:
    await whatsapp(ctx)
    missing_id = text_payload("wamid.X")
    del missing_id["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    bad_timestamp = text_payload("wamid.Y")
    bad_timestamp["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = "yesterday"
    bodies: list[bytes | dict[str, Any]] = [
        text_payload("wamid.GOOD1"),
        b"{not json",
        {"object": "user", "entry": [{"id": "1", "changes": []}]},
        b"[1, 2, 3]",
        missing_id,
        bad_timestamp,
        {"object": "whatsapp_business_account", "entry": "not a list"},
        text_payload("wamid.GOOD2"),
    ]
    for body in bodies:
        await deliver(client, body)
    assert await process_batch(ctx.pool, ctx.settings, ctx.box) == len(bodies)
    found = await audits(ctx)
    assert [a["status"] for a in found] == ["processed"] + ["failed"] * 6 + ["processed"]
    errors = [a["error"] for a in found[1:7]]
    assert errors[0].startswith("the body is not valid JSON")
    assert errors[1].startswith("object 'user' is not handled")
    assert errors[2] == "payload must be an object"
    assert (
        errors[3] == "payload.entry[0].changes[0].value.messages[0].id is missing or not a string"
    )
    assert (
        errors[4]
        == "payload.entry[0].changes[0].value.messages[0].timestamp is missing or not a Unix timestamp"
    )
    assert errors[5] == "payload.entry must be a list"
    assert await value(ctx, "SELECT count(*) FROM messages") == 2
    assert await process_batch(ctx.pool, ctx.settings, ctx.box) == 0  # failed rows stay failed


async def test_a_payload_refused_by_the_store_is_rolled_back_whole(ctx, client) -> None:
    await whatsapp(ctx)
    mixed = text_payload("wamid.OK_IN_BAD")
    second = dict(mixed["entry"][0]["changes"][0]["value"]["messages"][0])
    second.update({"id": "wamid.BAD_SENDER", "from": "not-a-phone"})
    mixed["entry"][0]["changes"][0]["value"]["messages"].append(second)
    await deliver(client, text_payload("wamid.BEFORE"))
    await deliver(client, mixed)
    await deliver(client, text_payload("wamid.AFTER"))
    await drain(ctx)
    found = await audits(ctx)
    assert [a["status"] for a in found] == ["processed", "failed", "processed"]
    assert "InboundError" in found[1]["error"] and "not-a-phone" in found[1]["error"]
    stored = await value(
        ctx, "SELECT array_agg(channel_message_id ORDER BY channel_message_id) FROM messages"
    )
    assert stored == ["wamid.AFTER", "wamid.BEFORE"]  # nothing of the failed payload


async def test_unknown_or_inactive_accounts_are_unroutable(ctx, client) -> None:
    await integration(ctx, "whatsapp", ["555"], app_secret=WA_SECRET)
    await integration(ctx, "whatsapp", ["777"], app_secret="other", active=False)
    await deliver(client, text_payload("wamid.NOWHERE", phone_id="106540352242922"))
    await deliver(client, text_payload("wamid.INACTIVE", phone_id="777"))
    await deliver(client, text_payload("wamid.ROUTED", phone_id="555"))
    await drain(ctx)
    found = await audits(ctx)
    assert [a["status"] for a in found] == ["unroutable", "unroutable", "processed"]
    assert found[0]["error"] == "whatsapp account 106540352242922 is unknown"
    assert found[1]["error"] == "whatsapp account 777 is inactive"
    assert await value(ctx, "SELECT array_agg(channel_message_id) FROM messages") == [
        "wamid.ROUTED"
    ]


async def test_a_payload_routed_in_part_is_processed_with_a_note(ctx, client) -> None:
    await whatsapp(ctx)
    body = text_payload("wamid.ROUTED")
    other = text_payload("wamid.LOST", phone_id="404")
    body["entry"].append(other["entry"][0])
    await deliver(client, body)
    await drain(ctx)
    (audit,) = await audits(ctx)
    assert audit["status"] == "processed"
    assert audit["error"] == "whatsapp account 404 is unknown"
    assert await value(ctx, "SELECT array_agg(channel_message_id) FROM messages") == [
        "wamid.ROUTED"
    ]


async def test_a_deadlock_retries_the_payload_later(ctx, client, monkeypatch) -> None:
    await whatsapp(ctx)
    await deliver(client, text_payload("wamid.RETRIED"))
    # The first try deadlocks in the batch path, then again on its own: retried later.
    failures = {"batch": 1, "alone": 1}

    def deadlocking(path: str, real: Any) -> Any:
        async def call(*args: Any) -> Any:
            if failures[path]:
                failures[path] -= 1
                raise asyncpg.DeadlockDetectedError("deadlock detected")
            return await real(*args)

        return call

    monkeypatch.setattr(worker, "ingest_many", deadlocking("batch", worker.ingest_many))
    monkeypatch.setattr(worker.service, "apply", deadlocking("alone", worker.service.apply))
    await drain(ctx)
    (audit,) = await audits(ctx)
    assert (audit["status"], audit["attempts"]) == ("pending", 1)
    assert "DeadlockDetectedError" in audit["error"]
    await value(ctx, "UPDATE webhook_audit SET next_attempt_at = now()")
    await drain(ctx)
    (audit,) = await audits(ctx)
    assert (audit["status"], audit["attempts"]) == ("processed", 2)
    assert await value(ctx, "SELECT count(*) FROM messages") == 1


async def test_an_unexpected_error_fails_only_its_payload(ctx, client, monkeypatch) -> None:
    await whatsapp(ctx)
    for wamid in ("wamid.A", "wamid.B", "wamid.C"):
        await deliver(client, text_payload(wamid))
    real = worker.service.apply

    async def buggy(tx: Any, parsed: Any, *rest: Any) -> Any:
        if parsed.items[0].channel_message_id == "wamid.B":
            await tx.conn.execute("INSERT INTO divisions (name) VALUES ('written then undone')")
            raise RuntimeError("a bug")
        return await real(tx, parsed, *rest)

    async def batch_fails(*_: Any) -> Any:
        raise RuntimeError("the batch path gives up: payloads go one by one")

    monkeypatch.setattr(worker.service, "apply", buggy)
    monkeypatch.setattr(worker, "ingest_many", batch_fails)
    await drain(ctx)
    assert [a["status"] for a in await audits(ctx)] == ["processed", "failed", "processed"]
    assert (await audits(ctx))[1]["error"] == "RuntimeError: a bug"
    assert await value(ctx, "SELECT count(*) FROM divisions") == 0
    assert await value(ctx, "SELECT count(*) FROM messages") == 2


async def test_concurrent_ticks_apply_every_row_exactly_once(ctx, client) -> None:
    await whatsapp(ctx)
    for n in range(24):
        await deliver(client, text_payload(f"wamid.C{n}", sender=f"6281200000{n:03d}"))
    handled = await asyncio.gather(
        *(process_batch(ctx.pool, ctx.settings, ctx.box, limit=5) for _ in range(4))
    )
    assert sum(handled) == 20  # four disjoint batches of five
    await drain(ctx)
    assert await value(ctx, "SELECT count(*) FROM messages") == 24
    assert await value(ctx, "SELECT array_agg(DISTINCT attempts) FROM webhook_audit") == [1]
    assert await value(ctx, "SELECT count(*) FROM webhook_audit WHERE status = 'processed'") == 24


async def test_the_loop_wakes_on_the_webhook_notify(ctx, client, monkeypatch) -> None:
    await whatsapp(ctx)
    monkeypatch.setattr(worker, "IDLE_SECONDS", 60.0)  # no polling: only the NOTIFY wakes it
    stop = asyncio.Event()
    loop = asyncio.create_task(inbound_loop(ctx.pool, ctx.settings, stop))
    try:
        await asyncio.sleep(0.3)  # listening, idle
        await deliver(client, fixture("wa_text"))
        for _ in range(100):
            if await value(ctx, "SELECT count(*) FROM messages"):
                break
            await asyncio.sleep(0.05)
        assert await value(ctx, "SELECT count(*) FROM messages") == 1
        (audit,) = await audits(ctx)
        assert audit["status"] == "processed"
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)


async def test_signed_garbage_never_crashes_the_endpoint_or_the_tick(ctx, client) -> None:
    await whatsapp(ctx)
    samples = [b"", b"null", b'"text"', b"{}", orjson.dumps({"object": None}), b"\xff\xfe"]
    for raw in samples:
        await deliver(client, raw)
    await drain(ctx)
    assert {a["status"] for a in await audits(ctx)} == {"failed"}


async def test_a_batch_of_plain_messages_follows_the_one_message_rules(ctx, client) -> None:
    await whatsapp(ctx)
    known, new = "6281200000001", "6281200000002"
    await deliver(client, text_payload("wamid.OLD", sender=known))
    await drain(ctx)
    await value(
        ctx, "UPDATE conversations SET status = 'resolved', resolved_at = now(), unread_count = 0"
    )
    await value(ctx, "UPDATE contacts SET name = ''")
    before = await value(ctx, "SELECT max(pos) FROM event_outbox")
    batch = [("wamid.N1", new), ("wamid.K1", known), ("wamid.N2", new)]
    batch += [("wamid.K1", known), ("wamid.OLD", known)]  # redeliveries: nothing changes
    for wamid, sender in batch:
        body = text_payload(wamid, sender=sender)
        body["entry"][0]["changes"][0]["value"]["contacts"][0].update(
            {"wa_id": sender, "profile": {"name": f"Name of {sender[-1]}"}}
        )
        await deliver(client, body)
    assert await drain(ctx) == 5
    assert [a["status"] for a in await audits(ctx)] == ["processed"] * 6
    found = await rows(
        ctx,
        "SELECT k.phone, k.name, c.status, c.resolved_at, c.unread_count, c.last_message_at,"
        " c.last_message_preview, (SELECT array_agg(m.channel_message_id ORDER BY m.created_at,"
        " m.channel_message_id) FROM messages m WHERE m.conversation_id = c.id) AS messages"
        " FROM conversations c JOIN contacts k ON k.id = c.contact_id ORDER BY k.phone",
    )
    assert [
        (r["phone"], r["name"], r["status"], r["resolved_at"], r["unread_count"]) for r in found
    ] == [
        (known, "Name of 1", "open", None, 1),
        (new, "Name of 2", "open", None, 2),
    ]
    assert sorted(found[0]["messages"]) == ["wamid.K1", "wamid.OLD"]
    assert sorted(found[1]["messages"]) == ["wamid.N1", "wamid.N2"]
    newest = await rows(
        ctx,
        "SELECT DISTINCT ON (conversation_id) conversation_id, created_at FROM messages"
        " ORDER BY conversation_id, created_at DESC",
    )
    assert {r["created_at"] for r in newest} == {r["last_message_at"] for r in found}
    events = await rows(
        ctx, "SELECT type, data, actor FROM event_outbox WHERE pos > $1 ORDER BY pos", before
    )
    assert [
        (e["type"], e["data"].get("message", {}).get("channel_message_id")) for e in events
    ] == [
        ("contact.updated", None),  # the known contact, nameless, takes its profile name
        ("contact.created", None),
        ("conversation.created", None),
        ("message.created", "wamid.N1"),
        ("conversation.reopened", None),
        ("message.created", "wamid.K1"),
        ("message.created", "wamid.N2"),
    ]
    assert events[0]["data"]["phone"] == known and events[0]["data"]["name"] == "Name of 1"
    assert events[1]["data"]["phone"] == new and events[1]["data"]["name"] == "Name of 2"
    assert {e["actor"]["type"] for e in events} == {"contact"}
    # Each event carries its conversation as the batch left it.
    assert events[3]["data"]["conversation"]["unread_count"] == 2
    assert events[4]["data"]["conversation"]["status"] == "open"


async def test_housekeeping_forgets_handled_webhook_calls_past_the_retention(ctx, client) -> None:
    await whatsapp(ctx)
    for wamid in ("wamid.OLD", "wamid.NEW"):
        await deliver(client, text_payload(wamid))
    await drain(ctx)
    await deliver(client, text_payload("wamid.WAITING"))  # pending: never removed
    days = ctx.settings.webhook_audit_retention_days
    await value(
        ctx,
        "UPDATE webhook_audit SET received_at = now() - make_interval(days => $1 + 1)"
        " WHERE convert_from(body, 'UTF8') ~ 'wamid.(OLD|WAITING)'",
        days,
    )
    removed = await housekeeping_tick(ctx.pool, ctx.settings)
    assert removed is not None and removed["webhook_audit"] == 1
    left = [(a["status"], bytes(a["body"])) for a in await audits(ctx)]
    assert [s for s, _ in left] == ["processed", "pending"]
    assert b"wamid.NEW" in left[0][1] and b"wamid.WAITING" in left[1][1]
    assert await value(ctx, "SELECT count(*) FROM messages") == 2  # messages stay
