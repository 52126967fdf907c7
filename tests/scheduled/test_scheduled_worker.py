"""Scheduled messages, the worker: exactly once across workers, cancel racing a claim,
downtime, resolved and closed conversations, wake-ups; end to end through the outbound
sender to the Graph API sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.messages import worker as outbound
from omnistream.scheduled import worker
from omnistream.scheduled.worker import send_due
from tests import factories
from tests.conftest import Actors, problem
from tests.inbound.test_inbound_support import conversation_for, integration
from tests.sandbox_fixture import Sandbox, sandbox_fixture  # noqa: F401
from tests.scheduled.test_scheduled import (
    Schedule,
    due,
    event_types,
    fetch,
    later,
    row,
    schedule,
    scheduled,
)

__all__ = ["schedule"]  # the fixture


# The worker ---------------------------------------------------------------------------------


async def messages_of(ctx: AppContext) -> list[Any]:
    return await fetch(ctx, "SELECT * FROM messages ORDER BY created_at")


async def test_a_due_message_becomes_a_pending_reply(ctx, admin, schedule: Schedule) -> None:
    conversation_id = await factories.conversation(ctx)
    text_id = await scheduled(schedule, conversation_id, text="one")
    link_id = await scheduled(
        schedule, conversation_id, type="image", link="https://x.example/a.png"
    )
    future = await scheduled(schedule, conversation_id)
    await due(ctx, link_id, ago=1)
    await due(ctx, text_id, ago=2)
    assert await send_due(ctx.pool, ctx.settings) == 2
    first, second = await messages_of(ctx)  # in the order they were due
    assert (first["type"], first["content"], first["status"]) == (
        "text",
        {"text": "one"},
        "pending",
    )
    assert (second["type"], second["content"]) == ("image", {"link": "https://x.example/a.png"})
    assert first["sender_agent_id"] == admin.id and first["direction"] == "outbound"
    sent = await row(ctx, text_id)
    assert (sent["status"], sent["message_id"], sent["late"]) == ("sent", first["id"], False)
    assert (await row(ctx, future))["status"] == "pending"
    (conv,) = await fetch(ctx, "SELECT * FROM conversations")
    assert conv["last_message_preview"] == "📷 Photo"
    assert await send_due(ctx.pool, ctx.settings) == 0
    assert (await event_types(ctx))[-2:] == ["scheduled_message.sent"] * 2
    created = await fetch(
        ctx, "SELECT count(*) AS n FROM event_outbox WHERE type = 'message.created'"
    )
    assert created[0]["n"] == 2


async def test_messages_due_at_the_same_instant_go_out_in_the_order_scheduled(
    ctx, schedule: Schedule
) -> None:
    conversation_id = await factories.conversation(ctx)
    texts = [f"part {i}" for i in range(8)]  # random ids: 1 in 40320 to pass by chance
    ids = [await scheduled(schedule, conversation_id, text=t) for t in texts]
    await fetch(
        ctx,
        "UPDATE scheduled_messages SET scheduled_at = date_trunc('second', now()) - "
        "interval '1 second' WHERE id = ANY($1::uuid[])",
        [UUID(i) for i in ids],
    )
    assert await send_due(ctx.pool, ctx.settings) == len(texts)
    assert [m["content"]["text"] for m in await messages_of(ctx)] == texts
    # The claim's order is an index's own, not a sort of everything due at that instant.
    index = await fetch(
        ctx, "SELECT indexdef FROM pg_indexes WHERE indexname = 'scheduled_messages_due_order_idx'"
    )
    assert "(scheduled_at, created_at, id)" in index[0]["indexdef"]


async def test_two_workers_send_each_once(ctx, schedule: Schedule) -> None:
    conversations = [await factories.conversation(ctx) for _ in range(6)]
    ids = [await scheduled(schedule, conversations[i % 6], text=f"m{i}") for i in range(30)]
    await due(ctx, *ids)
    # One claim held open: the other worker skips its rows instead of sending them too.
    async with ctx.pool.acquire() as conn, conn.transaction():
        held = await worker.queries.claim_due(conn, 30)
        assert await send_due(ctx.pool, ctx.settings) == 0
    assert len(held) == 30  # rolled back: still pending
    totals = [0, 0]

    async def run(i: int) -> None:
        while handled := await send_due(ctx.pool, ctx.settings, limit=4):
            totals[i] += handled

    await asyncio.gather(run(0), run(1))
    assert sum(totals) == 30 and all(totals)
    rows = await fetch(
        ctx,
        "SELECT s.status, m.content FROM scheduled_messages s JOIN messages m ON m.id = s.message_id",
    )
    assert sorted(r["content"]["text"] for r in rows) == sorted(f"m{i}" for i in range(30))
    assert len(await messages_of(ctx)) == 30


async def test_cancel_racing_a_claim(ctx, client, admin, schedule: Schedule, monkeypatch) -> None:
    conversation_id = await factories.conversation(ctx)
    first, second = [await scheduled(schedule, conversation_id) for _ in range(2)]
    await due(ctx, first, ago=2)
    await due(ctx, second, ago=1)
    # The worker claims first and pauses mid-tick: the cancel waits, then finds it sent.
    claimed, go_on = asyncio.Event(), asyncio.Event()
    lock = worker.queries.lock_conversations

    async def paused(conn: Any, ids: list[UUID]) -> Any:
        claimed.set()
        await go_on.wait()
        return await lock(conn, ids)

    monkeypatch.setattr(worker.queries, "lock_conversations", paused)
    tick = asyncio.create_task(send_due(ctx.pool, ctx.settings, limit=1))
    await claimed.wait()
    cancel = asyncio.create_task(
        client.post(f"/api/v1/scheduled-messages/{first}/cancel", headers=admin.headers)
    )
    await asyncio.sleep(0.3)
    assert not cancel.done()  # blocked on the row lock
    go_on.set()
    assert await tick == 1
    body = problem(await cancel, 409)
    assert body["scheduled_status"] == "sent" and body["message_id"]
    monkeypatch.setattr(worker.queries, "lock_conversations", lock)
    # The cancel holds the row first: the claim skips it, and it is never sent.
    r_cancel = None
    async with ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT 1 FROM scheduled_messages WHERE id = $1 FOR UPDATE", UUID(second)
        )
        assert await send_due(ctx.pool, ctx.settings) == 0
        r_cancel = await conn.execute(
            "UPDATE scheduled_messages SET status = 'cancelled' WHERE id = $1", UUID(second)
        )
    assert r_cancel == "UPDATE 1" and await send_due(ctx.pool, ctx.settings) == 0
    statuses = {
        r["id"]: (r["status"], r["message_id"])
        for r in await fetch(ctx, "SELECT * FROM scheduled_messages")
    }
    assert statuses[UUID(second)] == ("cancelled", None) and statuses[UUID(first)][0] == "sent"
    assert len(await messages_of(ctx)) == 1


async def test_cancels_and_claims_at_once_never_both(
    ctx, client, admin, schedule: Schedule
) -> None:
    conversation_id = await factories.conversation(ctx)
    ids = [await scheduled(schedule, conversation_id) for _ in range(20)]
    await due(ctx, *ids)
    cancels = [
        client.post(f"/api/v1/scheduled-messages/{i}/cancel", headers=admin.headers) for i in ids
    ]

    async def ticks() -> None:
        for _ in range(50):
            if not await send_due(ctx.pool, ctx.settings, limit=3):
                return

    results = await asyncio.gather(ticks(), *cancels)
    answers = dict(zip(ids, [r.status_code for r in results[1:]], strict=True))
    for found in await fetch(ctx, "SELECT * FROM scheduled_messages"):
        expected = ("cancelled", 200) if found["message_id"] is None else ("sent", 409)
        assert (found["status"], answers[str(found["id"])]) == expected
    assert len(await messages_of(ctx)) == sum(1 for code in answers.values() if code == 409)


async def run_loop(ctx: AppContext, settings: Settings) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(worker.scheduled_loop(ctx.pool, settings, stop))


async def until(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_restart_after_downtime_sends_late_messages_once(ctx, schedule: Schedule) -> None:
    conversation_id = await factories.conversation(ctx)
    long_ago, just_now = [await scheduled(schedule, conversation_id) for _ in range(2)]
    await due(ctx, long_ago, ago=600)  # the worker was down for ten minutes
    await due(ctx, just_now, ago=5)
    for _ in range(2):  # started, stopped, started again
        stop, task = await run_loop(ctx, ctx.settings)

        async def handled() -> bool:
            return not await fetch(ctx, "SELECT 1 FROM scheduled_messages WHERE status = 'pending'")

        await until(handled)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert (await row(ctx, long_ago))["late"] is True
    assert (await row(ctx, just_now))["late"] is False
    assert len(await messages_of(ctx)) == 2


async def test_resolved_and_closed_window(ctx, schedule: Schedule) -> None:
    resolved = await factories.conversation(ctx, status="resolved")
    closed = await factories.conversation(
        ctx, last_inbound_at=datetime.now(UTC) - timedelta(hours=25)
    )
    sent, refused, stale = [await scheduled(schedule, c) for c in (resolved, resolved, closed)]
    await due(ctx, sent, stale)
    assert await send_due(ctx.pool, ctx.settings) == 2
    found = await row(ctx, sent)
    assert found["status"] == "sent" and "resolved" in found["note"]
    failed = await row(ctx, stale)
    assert failed["status"] == "failed" and failed["message_id"] is None
    assert "window is closed" in failed["error"] and "template" in failed["error"]
    (logged,) = await fetch(
        ctx, "SELECT * FROM activity_logs WHERE action = 'scheduled_message_sent'"
    )
    assert logged["metadata_json"]["conversation_resolved"] is True
    strict = ctx.settings.model_copy(update={"scheduled_send_when_resolved": False})
    await due(ctx, refused)
    assert await send_due(ctx.pool, strict) == 1
    failed = await row(ctx, refused)
    assert (
        failed["status"] == "failed"
        and "OMNISTREAM_SCHEDULED_SEND_WHEN_RESOLVED" in failed["error"]
    )
    assert len(await messages_of(ctx)) == 1
    (conv,) = await fetch(ctx, "SELECT status FROM conversations WHERE id = $1", resolved)
    assert conv["status"] == "resolved"  # sending does not reopen it, as for a reply


async def test_a_deactivated_agents_message_is_still_sent_in_their_name(
    ctx, client, admin, actors: Actors, schedule: Schedule
) -> None:
    agent = await actors.make("agent")
    conversation_id = await factories.conversation(ctx)  # unassigned, no division: theirs too
    kept, dropped = [await scheduled(schedule, conversation_id, agent=agent) for _ in range(2)]
    both = await scheduled(schedule, await factories.conversation(ctx), agent=agent)
    await fetch(
        ctx,
        "UPDATE conversations SET status = 'resolved', resolved_at = now() WHERE id <> $1",
        conversation_id,
    )
    r = await client.patch(
        f"/api/v1/agents/{agent.id}", json={"is_active": False}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    # An admin finds what the agent left pending and may cancel some of it beforehand.
    r = await client.get(
        "/api/v1/scheduled-messages",
        params={"agent_id": str(agent.id), "status": "pending"},
        headers=admin.headers,
    )
    assert sorted(i["id"] for i in r.json()["items"]) == sorted([kept, dropped, both])
    r = await client.post(f"/api/v1/scheduled-messages/{dropped}/cancel", headers=admin.headers)
    assert r.status_code == 200, r.text
    await due(ctx, kept, dropped)
    assert await send_due(ctx.pool, ctx.settings) == 1
    sent = await row(ctx, kept)
    assert sent["status"] == "sent" and sent["agent_id"] == agent.id
    assert sent["note"] == worker.INACTIVE_NOTE
    (message,) = await messages_of(ctx)
    assert message["id"] == sent["message_id"] and message["sender_agent_id"] == agent.id
    (event,) = await fetch(
        ctx, "SELECT data, actor FROM event_outbox WHERE type = 'scheduled_message.sent'"
    )
    assert event["actor"] == {"type": "system"}
    assert event["data"]["scheduled_message"]["note"] == worker.INACTIVE_NOTE
    (logged,) = await fetch(
        ctx, "SELECT * FROM activity_logs WHERE action = 'scheduled_message_sent'"
    )
    assert logged["agent_id"] is None
    assert logged["metadata_json"]["scheduled_by"] == str(agent.id)
    assert logged["metadata_json"]["agent_deactivated"] is True
    assert "conversation_resolved" not in logged["metadata_json"]
    # Resolved meanwhile as well: both are noted.
    await due(ctx, both)
    assert await send_due(ctx.pool, ctx.settings) == 1
    assert (await row(ctx, both))["note"] == f"{worker.RESOLVED_NOTE}; {worker.INACTIVE_NOTE}"


async def test_the_loop_sleeps_until_due_and_wakes_on_notify(
    ctx, schedule: Schedule, monkeypatch
) -> None:
    monkeypatch.setattr(worker, "POLL_SECONDS", 60.0)  # only the NOTIFY and the due time count
    conversation_id = await factories.conversation(ctx)
    stop, task = await run_loop(ctx, ctx.settings)
    try:
        await asyncio.sleep(0.2)  # idle: nothing pending
        scheduled_id = await scheduled(schedule, conversation_id, scheduled_at=later(1.0))
        await asyncio.sleep(0.6)
        assert (await row(ctx, scheduled_id))["status"] == "pending"

        async def sent() -> bool:
            return bool((await row(ctx, scheduled_id))["status"] == "sent")

        await until(sent, within=2.0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


# End to end --------------------------------------------------------------------------------


@pytest.fixture
async def senders(ctx: AppContext, settings: Settings) -> AsyncIterator[Settings]:
    """The scheduled loop and the outbound sender, as `omnistream worker` runs them."""
    private = settings.model_copy(update={"allow_private_urls": True})
    stop = asyncio.Event()
    async with outbound.meta_registry(ctx.pool, private) as registry:
        tasks = [
            asyncio.create_task(worker.scheduled_loop(ctx.pool, private, stop)),
            asyncio.create_task(outbound.outbound_loop(ctx.pool, private, stop, registry)),
        ]
        try:
            yield private
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def test_the_message_reaches_the_sandbox_once(
    ctx, sandbox: Sandbox, senders, schedule: Schedule
) -> None:
    remote = await sandbox.register_account("whatsapp")
    (account,) = await integration(
        ctx,
        "whatsapp",
        [remote.external_id],
        app_secret=remote.app_secret,
        access_token=remote.access_token,
        base_url=sandbox.url,
    )
    conversation_id = await conversation_for(ctx, "whatsapp", account, phone="16505551234")
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE conversations SET last_inbound_at = now() WHERE id = $1", conversation_id
        )
    scheduled_id = await scheduled(
        schedule, conversation_id, text="See you at 9", scheduled_at=later(0.5)
    )

    async def delivered() -> bool:
        found = await row(ctx, scheduled_id)
        if found["message_id"] is None:
            return False
        (message,) = await fetch(
            ctx, "SELECT status FROM messages WHERE id = $1", found["message_id"]
        )
        return bool(message["status"] == "sent")

    await until(delivered, within=10.0)
    await asyncio.sleep(0.3)  # anything sent twice would show by now
    sends = await sandbox.requests(path=f"/{remote.external_id}/messages", method="POST")
    assert [s["body"]["text"]["body"] for s in sends] == ["See you at 9"]
    assert sends[0]["body"]["biz_opaque_callback_data"] == str(
        (await row(ctx, scheduled_id))["message_id"]
    )
    assert (await sandbox.sends(duplicates=True)) == []
