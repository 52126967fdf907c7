"""The fan-out: every committed event a subscribed endpoint may receive becomes exactly one
delivery, whatever the concurrency; rolled-back events never do; housekeeping keeps what the
fan-out has not passed."""

from __future__ import annotations

import asyncio

import pytest

from omnistream.auth.worker import housekeeping_tick
from omnistream.events.dispatcher import publish_pending
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.webhooks.fanout import fan_out
from tests.webhooks.test_endpoints import BASE, create


async def emit_notes(ctx, n: int, kind: EventType = EventType.NOTE_CREATED) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        for i in range(n):
            await emit(conn, kind, {"i": i}, actor=None)


async def publish(ctx) -> None:
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)


async def pairs(ctx) -> list[tuple]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT webhook_id, event_id, event_type FROM webhook_deliveries")
    return [tuple(r) for r in rows]


async def test_exactly_once_per_event_and_endpoint_under_concurrency(
    wclient, admin, receiver, ctx
) -> None:
    everything = await create(wclient, admin, receiver.url("/all"))
    notes = await create(wclient, admin, receiver.url("/notes"), events=["note.created"])
    await emit_notes(ctx, 1500)
    await emit_notes(ctx, 200, EventType.CONTACT_CREATED)
    await publish(ctx)

    async def drain() -> None:
        while True:
            consumed = await fan_out(ctx.pool, limit=97)
            if consumed == 0:
                return
            if consumed is None:
                await asyncio.sleep(0.001)

    await asyncio.gather(*(drain() for _ in range(4)))  # four workers taking turns
    found = await pairs(ctx)
    assert len(found) == len(set(found))
    by = {}
    for webhook_id, _, kind in found:
        by.setdefault(str(webhook_id), []).append(kind)
    # "*" also gets the webhook.created event of the second endpoint (published after it).
    assert by[everything["id"]].count("note.created") == 1500
    assert by[everything["id"]].count("contact.created") == 200
    assert sorted(set(by[notes["id"]])) == ["note.created"] and len(by[notes["id"]]) == 1500


async def test_rolled_back_and_older_events_are_never_delivered(
    wclient, admin, receiver, ctx
) -> None:
    await emit_notes(ctx, 3)  # before the endpoint exists
    await publish(ctx)
    await create(wclient, admin, receiver.url(), events=["note.created"])
    with pytest.raises(RuntimeError):
        async with ctx.pool.acquire() as conn, conn.transaction():
            await emit(conn, EventType.NOTE_CREATED, {"rolled": "back"}, actor=None)
            raise RuntimeError("abort")
    await emit_notes(ctx, 2)
    await publish(ctx)
    assert await fan_out(ctx.pool) is not None
    async with ctx.pool.acquire() as conn:
        data = await conn.fetch("SELECT payload_json FROM webhook_deliveries")
    assert sorted(d["payload_json"]["data"]["i"] for d in data) == [0, 1]


async def test_disabled_endpoints_get_nothing_and_resume_with_new_events(
    wclient, admin, receiver, ctx
) -> None:
    made = await create(wclient, admin, receiver.url(), events=["note.created"])
    path = f"{BASE}/{made['id']}"
    await wclient.patch(path, json={"is_active": False}, headers=admin.headers)
    await emit_notes(ctx, 2)
    await publish(ctx)
    await wclient.patch(path, json={"is_active": True}, headers=admin.headers)
    await emit_notes(ctx, 1)
    await publish(ctx)
    await fan_out(ctx.pool)
    assert len(await pairs(ctx)) == 1


async def test_housekeeping_keeps_events_the_fan_out_has_not_passed(
    wclient, admin, receiver, ctx, settings
) -> None:
    await create(wclient, admin, receiver.url(), events=["note.created"])
    await fan_out(ctx.pool)  # the position exists
    await emit_notes(ctx, 4)
    await publish(ctx)
    async with ctx.pool.acquire() as conn:  # all of them far past the retention
        await conn.execute(
            "UPDATE event_outbox SET occurred_at = now() - interval '30 days', "
            "published_at = now() - interval '30 days'"
        )
    removed = await housekeeping_tick(ctx.pool, settings)
    assert removed is not None and removed["events"] == 0
    await fan_out(ctx.pool)
    assert len(await pairs(ctx)) == 4
    removed = await housekeeping_tick(ctx.pool, settings)
    assert removed is not None and removed["events"] >= 4


async def test_the_queue_vacuum_runs_one_worker_at_a_time(ctx) -> None:
    from omnistream.webhooks.delivery_queries import VACUUM_LOCK_ID, vacuum_queue

    async with ctx.pool.acquire() as holder, ctx.pool.acquire() as other:
        assert await vacuum_queue(other) is True  # outside any transaction
        await holder.execute("SELECT pg_advisory_lock($1)", VACUUM_LOCK_ID)
        try:
            assert await vacuum_queue(other) is False  # another worker is at it
        finally:
            await holder.execute("SELECT pg_advisory_unlock($1)", VACUUM_LOCK_ID)
        assert await vacuum_queue(other) is True
