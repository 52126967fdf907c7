"""Crash safety of the inbound loop: an `omnistream worker` SIGKILLed in the middle of
applying webhook batches loses nothing and applies nothing twice once restarted. Every
batch is one transaction: an audit row is processed exactly when its messages, counters and
events are committed with it."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import orjson
import pytest

from omnistream.config import Settings
from omnistream.context import AppContext
from tests.channels.test_ratelimit import start_worker
from tests.inbound.test_inbound_support import PHONE_ID, whatsapp
from tests.inbound.test_inbound_worker import text_payload

MESSAGES = 3000
SENDERS = 400


def reaction(wamid: str, target: str, sender: str) -> dict[str, object]:
    """A reaction: not a plain message, so it takes the one-payload-at-a-time path."""
    body = text_payload(wamid, sender=sender, phone_id=PHONE_ID)
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]  # type: ignore[index]
    message.pop("text")
    message.update({"type": "reaction", "reaction": {"message_id": target, "emoji": "👍"}})
    return body


async def fill(ctx: AppContext) -> int:
    """MESSAGES text webhooks from SENDERS customers, every 10th delivered twice, and a
    reaction to every 50th: straight into webhook_audit as the acknowledging POST leaves
    them (the worker never re-checks signatures)."""
    bodies: list[bytes] = []
    for n in range(MESSAGES):
        sender = f"6281300{n % SENDERS:05d}"
        body = orjson.dumps(text_payload(f"wamid.CRASH{n}", sender=sender))
        bodies.append(body)
        if n % 10 == 0:
            bodies.append(body)
        if n % 50 == 0:
            bodies.append(orjson.dumps(reaction(f"wamid.REACT{n}", f"wamid.CRASH{n}", sender)))
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO webhook_audit (channel, body, signature_valid) "
            "SELECT 'meta', b, true FROM unnest($1::bytea[]) AS b",
            bodies,
        )
    return len(bodies)


async def state(ctx: AppContext) -> dict[str, int]:
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM webhook_audit WHERE status = 'processed') AS processed,
                   (SELECT count(*) FROM webhook_audit WHERE status = 'pending') AS pending,
                   (SELECT count(*) FROM messages) AS messages,
                   (SELECT count(DISTINCT channel_message_id) FROM messages) AS distinct_ids,
                   (SELECT coalesce(sum(unread_count), 0) FROM conversations) AS unread,
                   (SELECT count(*) FROM conversations) AS conversations,
                   (SELECT count(*) FROM event_outbox WHERE type = 'message.created')
                       AS created_events,
                   (SELECT count(DISTINCT data -> 'message' ->> 'id') FROM event_outbox
                     WHERE type = 'message.created') AS distinct_events
            """
        )
    assert row is not None
    return dict(row)


@pytest.mark.timeout(180)
async def test_sigkill_mid_batch_loses_nothing_and_applies_nothing_twice(
    ctx: AppContext, settings: Settings, test_dsn: str, tmp_path: Path
) -> None:
    await whatsapp(ctx)
    rows = await fill(ctx)
    reactions = len(range(0, MESSAGES, 50))
    log = tmp_path / "worker.log"
    first = start_worker(settings, test_dsn, log)
    try:
        deadline = time.monotonic() + 60
        while (await state(ctx))["processed"] < rows // 4:
            assert first.poll() is None and time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    halfway = await state(ctx)
    assert 0 < halfway["pending"] < rows, halfway  # it died with work left
    # What committed is whole: one message per distinct id, one event per message, and the
    # unread counters match the messages (reactions are messages but never unread).
    assert halfway["messages"] == halfway["distinct_ids"] == halfway["created_events"]
    assert halfway["distinct_events"] == halfway["messages"]
    assert halfway["unread"] <= halfway["messages"]

    second = start_worker(settings, test_dsn, log)
    try:
        deadline = time.monotonic() + 90
        while (done := await state(ctx))["pending"]:
            assert second.poll() is None and time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(15)
        except Exception:
            second.kill()
    assert done["processed"] == rows, done
    assert done["messages"] == done["distinct_ids"] == MESSAGES + reactions
    assert done["created_events"] == done["distinct_events"] == MESSAGES + reactions
    assert done["unread"] == MESSAGES
    assert done["conversations"] == SENDERS
    async with ctx.pool.acquire() as conn:
        reacted = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE content -> 'reactions' ->> 'contact' = '👍'"
        )
    assert reacted == reactions  # each reaction found its target exactly once
