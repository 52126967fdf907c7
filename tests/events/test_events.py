"""The outbox, the dispatcher (publish ticks and the standby lock), the hub's fan-out, the
SQL visibility rule of replays, and retention. Real PostgreSQL; ticks called directly."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest

from omnistream.auth.principal import Principal
from omnistream.auth.worker import housekeeping_tick
from omnistream.context import AppContext
from omnistream.conversations.visibility import ADMINS, STAFF, Scope, state
from omnistream.events import queries
from omnistream.events.dispatcher import dispatcher_loop, publish_pending
from omnistream.events.envelope import EventEnvelope, from_row
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.enums import Role

EVERYONE = [state(None, None)]  # an unassigned conversation without a division


async def emit_one(
    ctx: AppContext, label: str, audience: list[dict[str, Any]] | None = None, **kw: Any
) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        await emit(
            conn,
            kw.pop("event_type", EventType.CONVERSATION_UPDATED),
            {"label": label},
            actor=kw.pop("actor", None),
            audience=EVERYONE if audience is None else audience,
            **kw,
        )


async def rows(ctx: AppContext) -> list[asyncpg.Record]:
    async with ctx.pool.acquire() as conn:
        return await conn.fetch(
            "SELECT pos, seq, data->>'label' AS label, published_at FROM event_outbox ORDER BY pos"
        )


async def publish(ctx: AppContext, **kw: Any) -> int:
    async with ctx.pool.acquire() as conn:
        return await publish_pending(conn, **kw)


def principal(role: Role, divisions: set[uuid.UUID] | None = None) -> Principal:
    return Principal(
        agent_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        role=role,
        name="Test",
        email="t@example.com",
        division_ids=frozenset(divisions or ()),
    )


async def test_publish_numbers_committed_events_in_pos_order_and_notifies(ctx) -> None:
    heard: list[str] = []
    listener = await asyncpg.connect(ctx.dsn)
    await listener.add_listener(queries.EVENTS_CHANNEL, lambda *a: heard.append(a[3]))
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            for label in ("a", "b", "c"):
                await emit(conn, EventType.CONVERSATION_UPDATED, {"label": label}, actor=None)
        assert [r["seq"] for r in await rows(ctx)] == [None, None, None]
        assert await publish(ctx) == 3
        published = await rows(ctx)
        seqs = [r["seq"] for r in published]
        assert [r["label"] for r in published] == ["a", "b", "c"]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3 and seqs[2] - seqs[0] == 2
        assert all(r["published_at"] is not None for r in published)
        for _ in range(100):
            if heard:
                break
            await asyncio.sleep(0.01)
        assert heard == [str(seqs[-1])]
        assert await publish(ctx) == 0  # nothing twice
        assert [r["seq"] for r in await rows(ctx)] == seqs
    finally:
        await listener.close()


async def test_batches_cover_everything_in_order(ctx) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        for i in range(25):
            await emit(conn, EventType.MESSAGE_CREATED, {"label": str(i)}, actor=None)
    assert await publish(ctx, batch_size=10) == 25
    published = await rows(ctx)
    assert [r["label"] for r in published] == [str(i) for i in range(25)]
    seqs = [r["seq"] for r in published]
    assert seqs == list(range(seqs[0], seqs[0] + 25))


async def test_uncommitted_waits_and_rolled_back_never_publishes(ctx) -> None:
    conn = await ctx.pool.acquire()
    try:
        tx = conn.transaction()
        await tx.start()
        await emit(conn, EventType.NOTE_CREATED, {"label": "doomed"}, actor=None)
        assert await publish(ctx) == 0  # not committed: invisible to the dispatcher
        await tx.rollback()
    finally:
        await ctx.pool.release(conn)
    assert await publish(ctx) == 0
    assert await rows(ctx) == []


async def test_out_of_order_commits_are_published_in_commit_order(ctx) -> None:
    """A inserts first (lower pos) but commits after B: B gets the lower seq, and a
    reader resuming after B's seq still finds A."""
    conn_a = await ctx.pool.acquire()
    try:
        tx_a = conn_a.transaction()
        await tx_a.start()
        await emit(conn_a, EventType.MESSAGE_CREATED, {"label": "A"}, actor=None)
        await emit_one(ctx, "B")
        assert await publish(ctx) == 1
        await tx_a.commit()
    finally:
        await ctx.pool.release(conn_a)
    assert await publish(ctx) == 1
    by_label = {r["label"]: r for r in await rows(ctx)}
    a, b = by_label["A"], by_label["B"]
    assert a["pos"] < b["pos"] and b["seq"] < a["seq"]
    admin = Scope.of(principal(Role.ADMIN))
    async with ctx.pool.acquire() as conn:
        after_b = await queries.visible_between(conn, admin, b["seq"], a["seq"], 100)
        everything = await queries.visible_between(conn, admin, b["seq"] - 1, a["seq"], 100)
    assert [r["data"]["label"] for r in after_b] == ["A"]
    assert [r["data"]["label"] for r in everything] == ["B", "A"]


async def test_concurrent_ticks_never_number_an_event_twice(ctx) -> None:
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO event_outbox (type, data) "
            "SELECT 'message.created', jsonb_build_object('label', i::text) "
            "FROM generate_series(1, 3000) i"
        )
    async with ctx.pool.acquire() as c1, ctx.pool.acquire() as c2:
        counts = await asyncio.gather(
            publish_pending(c1, batch_size=300), publish_pending(c2, batch_size=300)
        )
    assert sum(counts) == 3000
    published = await rows(ctx)
    seqs = [r["seq"] for r in published]
    assert None not in seqs and len(set(seqs)) == 3000
    # No seq was drawn twice for one row, none interleaved: publication follows pos.
    assert seqs == list(range(seqs[0], seqs[0] + 3000))


async def _lock_holders(ctx: AppContext) -> int:
    key = queries.PUBLISHER_LOCK_ID
    async with ctx.pool.acquire() as conn:
        value: int = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid "
            # Only this test database: other databases on the server have their own dispatchers.
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            key,
        )
    return value


async def _until(predicate: Any, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await predicate():
        if loop.time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_one_dispatcher_publishes_the_other_stands_by_and_takes_over(ctx) -> None:
    async def unpublished() -> bool:
        return all(r["seq"] is not None for r in await rows(ctx))

    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    loop_a = asyncio.create_task(dispatcher_loop(ctx.pool, ctx.settings, stop_a))

    async def leading() -> bool:
        return await _lock_holders(ctx) == 1

    await _until(leading)
    loop_b = asyncio.create_task(dispatcher_loop(ctx.pool, ctx.settings, stop_b))
    try:
        await emit_one(ctx, "first")
        await _until(unpublished, 2.0)  # woken by NOTIFY, not only by the poll
        assert await _lock_holders(ctx) == 1  # b stands by
        stop_a.set()
        await asyncio.wait_for(loop_a, 5)
        await emit_one(ctx, "second")
        await _until(unpublished, 5.0)  # b took over
        assert not loop_b.done() and await _lock_holders(ctx) == 1
        seqs = [r["seq"] for r in await rows(ctx)]
        assert seqs[0] < seqs[1]
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.wait_for(asyncio.gather(loop_a, loop_b), 5)
    assert await _lock_holders(ctx) == 0  # pooled connections give the lock back


async def test_envelope_fields_and_actor(ctx) -> None:
    agent = principal(Role.AGENT)
    conversation_id = uuid.uuid4()
    async with ctx.pool.acquire() as conn, conn.transaction():
        await emit(
            conn,
            EventType.NOTE_CREATED,
            {"id": conversation_id, "n": 1},
            actor=agent,
            conversation_id=conversation_id,
        )
    await publish(ctx)
    async with ctx.pool.acquire() as conn:
        (row,) = await queries.published_after(conn, 0, 10)
    event = from_row(row)
    frame = json.loads(event.frame)
    assert frame["type"] == "event"
    body = frame["event"]
    assert set(body) == {"id", "seq", "type", "occurred_at", "actor", "data", "version"}
    assert body["type"] == "note.created" and body["version"] == 1
    assert body["seq"] == row["seq"] == event.seq
    assert body["actor"] == {"type": "agent", "id": str(agent.agent_id), "name": "Test"}
    assert body["data"] == {"id": str(conversation_id), "n": 1}
    assert EventEnvelope.model_validate(body) == event.envelope
    assert event.audience == []  # no audience given: admins and supervisors only


async def test_replay_sql_applies_the_same_visibility_rule_as_python(ctx) -> None:
    d1, d2 = uuid.uuid4(), uuid.uuid4()
    scopes = [
        principal(Role.ADMIN),
        principal(Role.SUPERVISOR, {d1}),
        principal(Role.SUPERVISOR),
        principal(Role.AGENT, {d1}),
        principal(Role.AGENT, {d1, d2}),
        principal(Role.AGENT),
    ]
    me = scopes[3].agent_id
    audiences: list[list[dict[str, Any]]] = [
        [],
        [state(None, None)],
        [state(d1, None)],
        [state(d2, None)],
        [state(d2, me)],
        [state(d1, uuid.uuid4())],
        [state(None, uuid.uuid4())],
        [state(d1, None), state(d2, None)],
        [state(d2, uuid.uuid4()), state(None, me)],
        [ADMINS],
        [ADMINS, state(d1, None)],
        [STAFF],
    ]
    async with ctx.pool.acquire() as conn, conn.transaction():
        for i, audience in enumerate(audiences):
            await emit(
                conn, EventType.CONVERSATION_UPDATED, {"i": i}, actor=None, audience=audience
            )
    await publish(ctx)
    for p in scopes:
        scope = Scope.of(p)
        async with ctx.pool.acquire() as conn:
            sql = await queries.visible_between(conn, scope, 0, 2**62, 100)
        expected = [i for i, a in enumerate(audiences) if scope.can_see_any(a)]
        assert [r["data"]["i"] for r in sql] == expected, p.role
    # The rule is not trivial: every scope sees something different.
    assert (
        len(
            {
                tuple(i for i, a in enumerate(audiences) if Scope.of(p).can_see_any(a))
                for p in scopes
            }
        )
        == 6
    )


async def test_retention_deletes_only_old_published_events(ctx) -> None:
    for label in ("old", "recent"):
        await emit_one(ctx, label)
    await publish(ctx)
    await emit_one(ctx, "old-unpublished")
    hours = ctx.settings.event_retention_hours
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE event_outbox SET occurred_at = now() - make_interval(hours => $1 + 1), "
            "published_at = CASE WHEN seq IS NULL THEN NULL "
            "ELSE now() - make_interval(hours => $1 + 1) END "
            "WHERE data->>'label' LIKE 'old%'",
            hours,
        )
    removed = await housekeeping_tick(ctx.pool, ctx.settings)
    assert removed is not None and removed["events"] == 1
    assert sorted(r["label"] for r in await rows(ctx)) == ["old-unpublished", "recent"]


async def test_hub_fans_out_by_visibility_and_cuts_off_only_the_slow(ctx) -> None:
    hub = ctx.hub
    d1, d2 = uuid.uuid4(), uuid.uuid4()
    fast = hub.subscribe(principal(Role.AGENT, {d1}))
    other = hub.subscribe(principal(Role.AGENT, {d2}))
    slow = hub.subscribe(principal(Role.AGENT, {d1}))
    slow.limit = 3
    overflows = hub.overflows
    try:
        assert fast.start_seq == hub.last_seq
        for i in range(6):
            await emit_one(ctx, f"e{i}", [state(d1, None)])
        await publish(ctx)

        async def delivered() -> bool:
            return len(fast.pending) == 6

        await _until(delivered, 2.0)
        assert [e.envelope.data["label"] for e in fast.pending] == [f"e{i}" for i in range(6)]
        assert not other.pending and not other.overflowed
        assert slow.overflowed and not slow.pending and hub.overflows == overflows + 1
        assert not fast.overflowed
        seqs = [e.seq for e in fast.pending]
        assert seqs == sorted(seqs) and seqs[0] > fast.start_seq
        assert slow.restart() == hub.last_seq == seqs[-1] and not slow.overflowed
    finally:
        for sub in (fast, other, slow):
            hub.unsubscribe(sub)
