"""The SLA consumer and breach loop on the real database and API: a conversation's clock
through a whole cycle (created, answered, waiting, resolved, reopened) as the API shows
it, breaches logged exactly once with two workers racing, the alerts' audience, and a
policy deleted or edited while in use.

Time passing is made by moving a clock's stored times back (the database's rows, as they
would be that much later); nothing in the code under test is replaced."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.context import AppContext
from omnistream.conversations.visibility import Scope, Viewer, parse_audience
from omnistream.db.pool import transaction
from omnistream.events.dispatcher import publish_pending
from omnistream.kit.enums import Role
from omnistream.messages.ingest import ingest_inbound
from omnistream.sla import queries
from omnistream.sla.clock import Clock
from omnistream.sla.consumer import WATCHED, apply_batch, consume
from omnistream.sla.engine import Policies, evaluate_all, snapshot
from omnistream.sla.policy_queries import mark_for_recheck
from omnistream.sla.worker import check_due
from tests import factories

ALWAYS = {"timezone": "Asia/Jakarta", "always": True, "weekly": {}, "holidays": []}


async def add_policy(
    ctx: AppContext,
    *,
    channel: str | None = None,
    division: UUID | None = None,
    first: int = 60,
    nxt: int | None = 30,
    resolution: int = 480,
    hours: dict[str, Any] | None = None,
) -> UUID:
    async with ctx.pool.acquire() as conn:
        value: UUID = await conn.fetchval(
            """
            INSERT INTO sla_policies (name, channel, division_id, first_response_minutes,
                                      next_response_minutes, resolution_minutes, business_hours)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
            """,
            f"Policy {secrets.token_hex(2)}",
            channel,
            division,
            first,
            nxt,
            resolution,
            hours or ALWAYS,
        )
    return value


async def customer_writes(ctx: AppContext, phone: str, text: str = "Halo") -> asyncpg.Record:
    async with transaction(ctx.pool) as tx:
        row = await ingest_inbound(
            tx,
            channel="whatsapp",
            integration_account_id=None,
            contact=phone,
            profile_name="Ana",
            channel_message_id=f"wamid.{secrets.token_hex(8)}",
            type="text",
            content={"text": text},
            occurred_at=datetime.now(UTC),
        )
    assert row is not None
    return row


async def settle(ctx: AppContext) -> None:
    """Publish what was written and let the consumer take all of it."""
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)
    policies = Policies()
    while (await consume(ctx.pool, policies)) not in (0, None):
        pass


async def row(ctx: AppContext, conversation_id: UUID) -> asyncpg.Record:
    async with ctx.pool.acquire() as conn:
        found = await conn.fetchrow(
            "SELECT c.*, s.check_at AS sla_check_at, s.due_at AS sla_due_at "
            "FROM conversations c LEFT JOIN sla_schedule s ON s.conversation_id = c.id "
            "WHERE c.id = $1",
            conversation_id,
        )
    assert found is not None
    return found


async def events(ctx: AppContext, kind: str) -> list[asyncpg.Record]:
    async with ctx.pool.acquire() as conn:
        return list(
            await conn.fetch(
                "SELECT data, audience, conversation_id FROM event_outbox WHERE type = $1 "
                "ORDER BY pos",
                kind,
            )
        )


# A conversation's clock $2 seconds later: its stored times moved back, its check due now.
SHIFT = """
    WITH moved AS (
        UPDATE conversations SET
               sla_started_at = sla_started_at - make_interval(secs => $2),
               sla_waiting_since = sla_waiting_since - make_interval(secs => $2),
               sla_first_response_at = sla_first_response_at - make_interval(secs => $2)
         WHERE id = $1 RETURNING id
    )
    INSERT INTO sla_schedule (conversation_id, check_at) SELECT id, now() FROM moved
    ON CONFLICT (conversation_id) DO UPDATE SET check_at = now()
"""


async def shift(ctx: AppContext, conversation_id: UUID, minutes: float) -> None:
    """The clock `minutes` later: its stored times moved back, its check due now."""
    async with ctx.pool.acquire() as conn:
        await conn.execute(SHIFT, conversation_id, minutes * 60)


async def test_a_cycle_as_the_api_shows_it(ctx: AppContext, client, admin) -> None:
    policy = await add_policy(ctx, first=60, nxt=30, resolution=480)
    message = await customer_writes(ctx, "6281300000001")
    conversation_id = message["conversation_id"]
    await settle(ctx)
    url = f"/api/v1/conversations/{conversation_id}"
    shown = (await client.get(url, headers=admin.headers)).json()
    created = datetime.fromisoformat(shown["created_at"])
    assert shown["sla_policy_id"] == str(policy)
    assert datetime.fromisoformat(shown["sla_first_response_due_at"]) == created + timedelta(
        minutes=60
    )
    assert datetime.fromisoformat(shown["sla_resolution_due_at"]) == created + timedelta(hours=8)
    assert shown["sla_due_at"] == shown["sla_first_response_due_at"]
    assert shown["sla_next_response_due_at"] is None and shown["sla_breached"] == []
    [announced] = await events(ctx, "conversation.updated")
    sent = announced["data"]["conversation"]["sla_due_at"]
    assert datetime.fromisoformat(sent) == datetime.fromisoformat(shown["sla_due_at"])

    # The agent answers: the first response is met.
    reply = await client.post(
        f"{url}/messages", json={"type": "text", "text": "Baik, kami cek"}, headers=admin.headers
    )
    assert reply.status_code == 201, reply.text
    await settle(ctx)
    after = (await client.get(url, headers=admin.headers)).json()
    assert after["sla_first_response_due_at"] is None
    assert after["sla_due_at"] == after["sla_resolution_due_at"] == shown["sla_resolution_due_at"]
    # The customer writes again: a next-response wait; a second message does not move it.
    again = await customer_writes(ctx, "6281300000001", "Sudah dicek?")
    await customer_writes(ctx, "6281300000001", "Halo?")
    await settle(ctx)
    waiting = (await client.get(url, headers=admin.headers)).json()
    due = datetime.fromisoformat(waiting["sla_next_response_due_at"])
    assert due == again["created_at"] + timedelta(minutes=30)
    assert waiting["sla_due_at"] == waiting["sla_next_response_due_at"]
    # Resolved: the clock stops; the customer writes: a new cycle.
    assert (await client.post(f"{url}/resolve", headers=admin.headers)).status_code == 200
    await settle(ctx)
    stopped = await row(ctx, conversation_id)
    assert (stopped["sla_due_at"], stopped["sla_check_at"], stopped["sla_cycle"]) == (None, None, 1)
    reopening = await customer_writes(ctx, "6281300000001", "Masih belum sampai")
    await settle(ctx)
    cycle = await row(ctx, conversation_id)
    assert cycle["sla_cycle"] == 2 and cycle["status"] == "open"
    # From the reopen (its transaction's time, a moment before the message's own).
    started = reopening["created_at"] - cycle["sla_started_at"]
    assert timedelta(0) <= started < timedelta(seconds=1)
    assert cycle["sla_first_response_due_at"] == cycle["sla_started_at"] + timedelta(minutes=60)
    # Notes and messages without an agent (campaign sends, surveys) are no answer.
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO messages (conversation_id, channel, direction, type, content, status) "
            "VALUES ($1, 'whatsapp', 'outbound', 'template', '{}', 'sent')",
            conversation_id,
        )
    note = await client.post(f"{url}/notes", json={"body": "cek gudang"}, headers=admin.headers)
    assert note.status_code == 201, note.text
    await settle(ctx)
    assert (await row(ctx, conversation_id))["sla_first_response_at"] is None


async def test_breaches_are_logged_once_with_two_workers_racing(ctx: AppContext) -> None:
    await add_policy(ctx, first=10, nxt=None, resolution=600)
    ids = [(await customer_writes(ctx, f"62813100{n:05d}"))["conversation_id"] for n in range(40)]
    await settle(ctx)
    for conversation_id in ids:
        await shift(ctx, conversation_id, 11)  # first response due 1 minute ago
    first, second = Policies(), Policies()
    results = await asyncio.gather(
        *(check_due(ctx.pool, p, limit=7) for p in (first, second, first, second))
    )
    while any(r[0] for r in results):
        results = await asyncio.gather(check_due(ctx.pool, first), check_due(ctx.pool, second))
    async with ctx.pool.acquire() as conn:
        logs = await conn.fetch(
            "SELECT conversation_id, breach_type, cycle, due_at FROM sla_breach_logs"
        )
    assert sorted((r["conversation_id"], r["breach_type"]) for r in logs) == sorted(
        (i, "first_response") for i in ids
    )
    breached = await events(ctx, "sla.breached")
    assert sorted(e["conversation_id"] for e in breached) == sorted(ids)
    assert {e["data"]["target"] for e in breached} == {"first_response"}
    # Nothing more to do: the next check is the resolution's warning.
    assert await check_due(ctx.pool, first) == (0, 0)
    later = await row(ctx, ids[0])
    assert later["sla_breached"] == ["first_response"]
    assert later["sla_check_at"] > datetime.now(UTC) + timedelta(minutes=400)


async def test_warning_then_breach_reach_the_assignee_supervisors_and_admins(
    ctx: AppContext, actors, admin
) -> None:
    sales, support = await factories.division(ctx), await factories.division(ctx)
    policy = await add_policy(ctx, division=sales, first=20, nxt=None, resolution=600)
    assignee = await actors.make("agent", divisions=[sales])
    colleague = await actors.make("agent", divisions=[sales])
    boss = await actors.make("supervisor", divisions=[sales])
    other_boss = await actors.make("supervisor", divisions=[support])
    message = await customer_writes(ctx, "6281320000001")
    conversation_id = message["conversation_id"]
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE conversations SET division_id = $2, assigned_agent_id = $3 WHERE id = $1",
            conversation_id,
            sales,
            assignee.id,
        )
    await settle(ctx)  # the clock starts on the row as it is now: in Sales
    assert (await row(ctx, conversation_id))["sla_policy_id"] == policy
    await shift(ctx, conversation_id, 17)  # 85 % of 20 minutes
    policies = Policies()
    assert (await check_due(ctx.pool, policies))[1] == 1
    await shift(ctx, conversation_id, 4)  # 21 minutes
    assert (await check_due(ctx.pool, policies))[1] == 1
    [warning] = await events(ctx, "sla.warning")
    [breach] = await events(ctx, "sla.breached")
    assert warning["data"]["target"] == breach["data"]["target"] == "first_response"
    who = {
        "admin": (Scope(Role.ADMIN, admin.id, frozenset()), True),
        "assignee": (Scope(Role.AGENT, assignee.id, frozenset({sales})), True),
        "division supervisor": (Scope(Role.SUPERVISOR, boss.id, frozenset({sales})), True),
        "colleague in the division": (Scope(Role.AGENT, colleague.id, frozenset({sales})), False),
        "other supervisor": (Scope(Role.SUPERVISOR, other_boss.id, frozenset({support})), False),
    }
    for name, (scope, sees) in who.items():
        for event in (warning, breach):
            assert Viewer.of(scope).sees(parse_audience(event["audience"])) is sees, name
            assert scope.can_see_any(event["audience"]) is sees, name


async def test_a_policy_deleted_or_edited_while_in_use(ctx: AppContext) -> None:
    specific = await add_policy(ctx, channel="whatsapp", first=15, nxt=None)
    fallback = await add_policy(ctx, first=90, nxt=None)
    message = await customer_writes(ctx, "6281330000001")
    conversation_id = message["conversation_id"]
    await settle(ctx)
    before = await row(ctx, conversation_id)
    assert before["sla_policy_id"] == specific
    started = before["sla_started_at"]
    async with ctx.pool.acquire() as conn:  # what the policy API does on a delete
        await mark_for_recheck(conn, specific)
        await conn.execute("DELETE FROM sla_policies WHERE id = $1", specific)
    await check_due(ctx.pool, Policies())
    moved = await row(ctx, conversation_id)
    assert moved["sla_policy_id"] == fallback
    assert moved["sla_first_response_due_at"] == started + timedelta(minutes=90)
    async with ctx.pool.acquire() as conn:  # an edit: the new minutes apply
        await conn.execute(
            "UPDATE sla_policies SET first_response_minutes = 45, updated_at = now() WHERE id = $1",
            fallback,
        )
        await mark_for_recheck(conn, fallback)
    await check_due(ctx.pool, Policies())
    edited = await row(ctx, conversation_id)
    assert edited["sla_first_response_due_at"] == started + timedelta(minutes=45)


async def test_a_clock_written_meanwhile_is_redone_not_overwritten(
    ctx: AppContext, client, admin
) -> None:
    """The consumer reads clocks unlocked: a write in between (the breach loop's) wins, the
    stale copy is reported, not written; the consumer then redoes it locked."""
    await add_policy(ctx, first=30, nxt=None)
    conversation_id = (await customer_writes(ctx, "6281360000001"))["conversation_id"]
    await settle(ctx)
    async with transaction(ctx.pool) as tx:
        rows, now = await queries.read_clocks(tx.conn, [conversation_id])
        clocks = [Clock.of(r) for r in rows]
        before, stored = snapshot(clocks)
        async with ctx.pool.acquire() as other:  # the breach loop, in between
            await other.execute(
                "UPDATE conversations SET sla_warned = '{first_response}', "
                "sla_version = sla_version + 1 WHERE id = $1",
                conversation_id,
            )
        clocks[0].agent_answered(now)
        policies = await Policies().current(tx.conn)
        done = await evaluate_all(tx.conn, clocks, policies, now, before, stored)
    assert done.stale == [conversation_id]
    kept = await row(ctx, conversation_id)
    assert kept["sla_warned"] == ["first_response"] and kept["sla_first_response_at"] is None
    # Redone locked (what consume() does with the stale ones), on top of the other write.
    reply = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"type": "text", "text": "Siap"},
        headers=admin.headers,
    )
    assert reply.status_code == 201
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)
    async with transaction(ctx.pool) as tx:
        position = await queries.lock_position(tx.conn)
        assert position is not None
        top = await queries.top_seq(tx.conn)
        events = await queries.events_between(tx.conn, position, top, WATCHED)
        assert await apply_batch(tx.conn, events, Policies(), lock=True) == []
    redone = await row(ctx, conversation_id)
    assert redone["sla_warned"] == ["first_response"]
    assert redone["sla_first_response_at"] is not None
    assert redone["sla_version"] == kept["sla_version"] + 1
