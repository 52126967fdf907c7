"""The outbound sender end to end: API reply -> pending -> the real tick -> a real in-process
adapter -> sent / retried / failed, with leases, backoff, concurrency and the retry route."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from omnistream.channels.registry import ChannelRegistry
from omnistream.context import AppContext
from omnistream.db.pool import transaction
from omnistream.messages import outbound_queries, worker
from omnistream.messages import service as message_service
from omnistream.messages.worker import send_due
from tests import factories
from tests.conftest import Actors, Agent, problem
from tests.fake_channel import FakeChannel
from tests.messages.test_messages import PNG


@pytest.fixture
def fake() -> FakeChannel:
    return FakeChannel()


@pytest.fixture
def registry(fake: FakeChannel) -> ChannelRegistry:
    return ChannelRegistry({"whatsapp": fake})


async def reply(client, agent: Agent, conversation_id: UUID, text: str = "Halo") -> str:
    r = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"type": "text", "text": text},
        headers=agent.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def message(ctx: AppContext, message_id: str | UUID) -> asyncpg.Record:
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM messages WHERE id = $1", UUID(str(message_id)))
    assert row is not None
    return row


async def make_due(ctx: AppContext, message_id: str | UUID) -> None:
    """Let the backoff (or a lease) run out without waiting for it."""
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE messages SET next_attempt_at = now() - interval '1 second' WHERE id = $1",
            UUID(str(message_id)),
        )


async def updates(ctx: AppContext, message_id: str) -> list[dict[str, Any]]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT data, audience FROM event_outbox WHERE type = 'message.updated' "
            "AND data->'message'->>'id' = $1 ORDER BY pos",
            message_id,
        )
    return [r["data"]["message"] for r in rows]


async def test_a_reply_is_sent_with_the_channel_id(ctx, client, admin, registry, fake) -> None:
    contact_id = await factories.contact(ctx, phone="6281000000001")
    conversation_id = await factories.conversation(ctx, contact_id=contact_id)
    message_id = await reply(client, admin, conversation_id, "Paket sudah dikirim")
    assert await send_due(ctx.pool, ctx.settings, registry) == 1
    row = await message(ctx, message_id)
    assert row["status"] == "sent" and row["sent_at"] is not None
    assert row["channel_message_id"] == fake.ids[UUID(message_id)]
    assert row["attempts"] == 1 and row["next_attempt_at"] is None
    (sent,) = fake.sent
    assert (sent.recipient, sent.channel, sent.type) == ("6281000000001", "whatsapp", "text")
    assert sent.content == {"text": "Paket sudah dikirim"} and sent.attempt == 1
    assert [u["status"] for u in await updates(ctx, message_id)] == ["sent"]
    assert await send_due(ctx.pool, ctx.settings, registry) == 0
    assert fake.count(message_id) == 1
    # The channel's receipts find the message by the id the sender recorded.
    async with transaction(ctx.pool) as tx:
        change = await message_service.apply_status(
            tx, "whatsapp", row["channel_message_id"], "delivered", datetime.now(UTC)
        )
    assert change.changed and change.message is not None
    assert change.message["status"] == "delivered"


async def test_a_transient_error_retries_with_backoff(ctx, client, admin, registry, fake) -> None:
    conversation_id = await factories.conversation(ctx)
    message_id = await reply(client, admin, conversation_id)
    fake.transient(times=2, code="130429", reason="throughput limit reached")
    started = datetime.now(UTC)
    await send_due(ctx.pool, ctx.settings, registry)
    row = await message(ctx, message_id)
    assert (row["status"], row["attempts"], row["error_code"]) == ("pending", 1, "130429")
    assert row["error_reason"] == "throughput limit reached"
    first_delay = (row["next_attempt_at"] - started).total_seconds()
    assert 4.5 <= first_delay <= 6.5  # 5 s, ±10% jitter (plus the tick itself)
    assert await send_due(ctx.pool, ctx.settings, registry) == 0  # not due yet
    assert fake.count(message_id) == 1

    await make_due(ctx, message_id)
    started = datetime.now(UTC)
    await send_due(ctx.pool, ctx.settings, registry)
    row = await message(ctx, message_id)
    assert (row["status"], row["attempts"]) == ("pending", 2)
    assert 9.0 <= (row["next_attempt_at"] - started).total_seconds() <= 12.0  # doubled

    await make_due(ctx, message_id)
    await send_due(ctx.pool, ctx.settings, registry)
    row = await message(ctx, message_id)
    assert (row["status"], row["attempts"], row["error_code"]) == ("sent", 3, None)
    assert fake.count(message_id) == 3 and len(fake.sent) == 1
    assert [u["status"] for u in await updates(ctx, message_id)] == ["pending", "pending", "sent"]


async def test_a_retrying_message_does_not_hold_back_the_next(
    ctx, client, admin, registry, fake
) -> None:
    conversation_id = await factories.conversation(ctx)
    first = await reply(client, admin, conversation_id, "one")
    second = await reply(client, admin, conversation_id, "two")
    fake.transient()
    assert await send_due(ctx.pool, ctx.settings, registry) == 1  # "two" waits for "one"
    assert fake.count(second) == 0
    assert await send_due(ctx.pool, ctx.settings, registry) == 1  # "one" failed once: go on
    assert (await message(ctx, second))["status"] == "sent"
    assert (await message(ctx, first))["status"] == "pending"


async def test_retry_after_from_the_channel_is_honoured(ctx, client, admin, registry, fake) -> None:
    message_id = await reply(client, admin, await factories.conversation(ctx))
    fake.transient(retry_after=600)
    started = datetime.now(UTC)
    await send_due(ctx.pool, ctx.settings, registry)
    row = await message(ctx, message_id)
    assert (row["next_attempt_at"] - started).total_seconds() >= 599


async def test_a_permanent_error_fails_with_its_reason(ctx, client, admin, registry, fake) -> None:
    message_id = await reply(client, admin, await factories.conversation(ctx))
    fake.permanent(code="131047", reason="more than 24 hours since the customer wrote")
    await send_due(ctx.pool, ctx.settings, registry)
    row = await message(ctx, message_id)
    assert (row["status"], row["error_code"]) == ("failed", "131047")
    assert row["error_reason"] == "more than 24 hours since the customer wrote"
    assert row["failed_at"] is not None and row["next_attempt_at"] is None
    await make_due(ctx, message_id)
    assert await send_due(ctx.pool, ctx.settings, registry) == 0
    assert fake.count(message_id) == 1
    (update,) = await updates(ctx, message_id)
    assert update["status"] == "failed" and update["error_code"] == "131047"


async def test_max_attempts_then_failed(ctx, client, admin, registry, fake) -> None:
    settings = ctx.settings.model_copy(update={"outbound_max_attempts": 3})
    message_id = await reply(client, admin, await factories.conversation(ctx))
    fake.transient(times=10, code="131000", reason="something went wrong at the channel")
    for _ in range(5):
        await send_due(ctx.pool, settings, registry)
        await make_due(ctx, message_id)
    row = await message(ctx, message_id)
    assert fake.count(message_id) == 3
    assert (row["status"], row["attempts"], row["error_code"]) == ("failed", 3, "131000")
    assert row["error_reason"] == "something went wrong at the channel (gave up after 3 attempts)"


async def test_no_adapter_fails_with_a_clear_reason(ctx, client, admin) -> None:
    message_id = await reply(client, admin, await factories.conversation(ctx))
    await send_due(ctx.pool, ctx.settings, ChannelRegistry())
    row = await message(ctx, message_id)
    assert (row["status"], row["error_code"]) == ("failed", "no_adapter")
    assert row["error_reason"] == "no adapter for channel whatsapp is configured"


async def test_a_contact_without_an_address_fails(ctx, client, admin, fake) -> None:
    registry = ChannelRegistry({"instagram": fake})
    async with ctx.pool.acquire() as conn:
        contact_id = await conn.fetchval("INSERT INTO contacts (name) VALUES ('Ig') RETURNING id")
    conversation_id = await factories.conversation(ctx, contact_id=contact_id, channel="instagram")
    missing = await reply(client, admin, conversation_id)
    await send_due(ctx.pool, ctx.settings, registry)
    row = await message(ctx, missing)
    assert (row["status"], row["error_code"]) == ("failed", "no_recipient")
    assert row["error_reason"] == "the contact has no instagram address to send to"
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO contact_identities (channel, external_id, contact_id) "
            "VALUES ('instagram', 'igsid-42', $1)",
            contact_id,
        )
    await reply(client, admin, conversation_id)
    await send_due(ctx.pool, ctx.settings, registry)
    assert [m.recipient for m in fake.sent] == ["igsid-42"]


async def test_a_stalled_send_times_out_and_is_retried(ctx, client, admin, monkeypatch) -> None:
    monkeypatch.setattr(worker, "SEND_TIMEOUT_SECONDS", 0.05)
    slow = FakeChannel(delay=1.0)
    message_id = await reply(client, admin, await factories.conversation(ctx))
    await send_due(ctx.pool, ctx.settings, ChannelRegistry({"whatsapp": slow}))
    row = await message(ctx, message_id)
    assert (row["status"], row["error_code"], row["attempts"]) == ("pending", "timeout", 1)
    assert "did not answer" in row["error_reason"]


async def test_a_crash_mid_send_resends_after_the_lease(ctx, client, admin, registry, fake) -> None:
    message_id = await reply(client, admin, await factories.conversation(ctx))
    async with transaction(ctx.pool) as tx:  # a worker claims it, then dies before recording
        (claimed,) = await outbound_queries.claim_due(tx.conn, 10, worker.LEASE_SECONDS)
    assert str(claimed["id"]) == message_id
    assert await send_due(ctx.pool, ctx.settings, registry) == 0  # leased, not lost
    row = await message(ctx, message_id)
    assert row["status"] == "pending" and row["next_attempt_at"] > datetime.now(UTC) + timedelta(
        seconds=worker.LEASE_SECONDS - 30
    )
    await make_due(ctx, message_id)  # the lease ran out
    assert await send_due(ctx.pool, ctx.settings, registry) == 1
    row = await message(ctx, message_id)
    assert (row["status"], row["attempts"]) == ("sent", 2)


async def test_expired_leases_do_not_retry_forever(ctx, client, admin, registry, fake) -> None:
    settings = ctx.settings.model_copy(update={"outbound_max_attempts": 2})
    message_id = await reply(client, admin, await factories.conversation(ctx))
    for _ in range(2):  # two workers died mid-send
        async with transaction(ctx.pool) as tx:
            await outbound_queries.claim_due(tx.conn, 10, worker.LEASE_SECONDS)
        await make_due(ctx, message_id)
    await send_due(ctx.pool, settings, registry)
    row = await message(ctx, message_id)
    assert (row["status"], row["error_code"]) == ("failed", "attempts_exhausted")
    assert fake.count(message_id) == 0


async def test_concurrent_ticks_never_send_twice(ctx, client, admin) -> None:
    slow = FakeChannel(delay=0.02)
    registry = ChannelRegistry({"whatsapp": slow})
    conversations = [await factories.conversation(ctx) for _ in range(12)]
    ids = [await reply(client, admin, conversations[i % 12], f"m{i}") for i in range(40)]
    for _ in range(10):
        handled = await asyncio.gather(
            *(send_due(ctx.pool, ctx.settings, registry) for _ in range(4))
        )
        if not any(handled):
            break
    assert sorted(str(m) for m in slow.calls) == sorted(ids)
    assert set(slow.calls.values()) == {1}
    assert slow.max_in_flight > 1  # the ticks really overlapped
    async with ctx.pool.acquire() as conn:
        statuses = await conn.fetch("SELECT DISTINCT status FROM messages")
    assert [r["status"] for r in statuses] == ["sent"]
    # Within one conversation, messages went out in the order they were written.
    order = [m.content["text"] for m in slow.sent if m.conversation_id == conversations[0]]
    assert order == [f"m{i}" for i in range(0, 40, 12)]


async def test_a_media_reply_carries_its_file(ctx, client, admin, registry, fake) -> None:
    conversation_id = await factories.conversation(ctx)
    up = await client.post(
        f"/api/v1/conversations/{conversation_id}/uploads",
        files={"file": ("box.png", PNG, "image/png")},
        headers=admin.headers,
    )
    assert up.status_code == 201, up.text
    r = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"type": "image", "media_id": up.json()["id"], "caption": "the box"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    await send_due(ctx.pool, ctx.settings, registry)
    (sent,) = fake.sent
    assert sent.type == "image" and sent.content == {"caption": "the box"}
    assert sent.media is not None and sent.media.mime_type == "image/png"
    assert hashlib.sha256(sent.media.path.read_bytes()).hexdigest() == sent.media.sha256
    assert sent.media.filename == "box.png"


async def test_retry_route(ctx, client, actors: Actors, registry, fake) -> None:
    division, other = await factories.division(ctx), await factories.division(ctx)
    agent = await actors.make("agent", divisions=[division])
    conversation_id = await factories.conversation(ctx, division_id=division)
    message_id = await reply(client, agent, conversation_id)
    url = f"/api/v1/messages/{message_id}/retry"
    problem(await client.post(url, headers=agent.headers), 409)  # still pending
    fake.permanent()
    await send_due(ctx.pool, ctx.settings, registry)
    assert (await message(ctx, message_id))["status"] == "failed"

    outsider = await actors.make("agent", divisions=[other])
    problem(await client.post(url, headers=outsider.headers), 404)
    r = await client.post(url, headers=agent.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["attempts"], body["error_code"], body["failed_at"]) == (
        "pending",
        0,
        None,
        None,
    )
    await send_due(ctx.pool, ctx.settings, registry)
    row = await message(ctx, message_id)
    assert row["status"] == "sent" and fake.count(message_id) == 2
    problem(await client.post(url, headers=agent.headers), 409)  # sent: nothing to retry
    async with ctx.pool.acquire() as conn:
        logged = await conn.fetchval(
            "SELECT count(*) FROM activity_logs WHERE action = 'retry_message' AND agent_id = $1",
            agent.id,
        )
    assert logged == 1
    statuses = [u["status"] for u in await updates(ctx, message_id)]
    assert statuses == ["failed", "pending", "sent"]


async def test_the_loop_wakes_on_a_reply(ctx, client, admin, registry, fake, monkeypatch) -> None:
    monkeypatch.setattr(worker, "IDLE_SECONDS", 60.0)  # only the NOTIFY can wake it in time
    stop = asyncio.Event()
    task = asyncio.create_task(worker.outbound_loop(ctx.pool, ctx.settings, stop, registry))
    try:
        await asyncio.sleep(0.2)  # the loop is idle and listening
        message_id = await reply(client, admin, await factories.conversation(ctx))
        for _ in range(100):
            if (await message(ctx, message_id))["status"] == "sent":
                break
            await asyncio.sleep(0.05)
        assert (await message(ctx, message_id))["status"] == "sent"
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert fake.count(message_id) == 1
