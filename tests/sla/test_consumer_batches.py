"""The SLA consumer's batches: the customer messages it leaves unread (those that cannot
move their clock) and those it must still read because an earlier event of the same batch
makes them count. Each scenario is written first and consumed as ONE batch."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from omnistream.context import AppContext
from omnistream.db.pool import transaction
from omnistream.events.dispatcher import publish_pending
from omnistream.sla import queries
from omnistream.sla.consumer import WATCHED
from tests.sla.test_sla_engine import add_policy, customer_writes, row, settle


async def unread_events(ctx: AppContext) -> list[tuple[str, UUID | None, str | None]]:
    """What the consumer's next batch would read: (type, conversation, direction)."""
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)
    async with transaction(ctx.pool) as tx:
        position = await queries.lock_position(tx.conn)
        assert position is not None
        top = await queries.top_seq(tx.conn)
        found = await queries.events_between(tx.conn, position, top, WATCHED)
    return [(e["type"], e["conversation_id"], e["direction"]) for e in found]


async def test_messages_that_cannot_move_a_clock_are_not_read(
    ctx: AppContext, client, admin
) -> None:
    await add_policy(ctx, first=60, nxt=30)
    first = await customer_writes(ctx, "6281300000101")
    conversation_id = first["conversation_id"]
    # Created and its first message in one batch: both read (created comes first).
    assert [e[0] for e in await unread_events(ctx)] == ["conversation.created", "message.created"]
    await settle(ctx)
    # No first response yet: the customer writing again cannot move the clock.
    await customer_writes(ctx, "6281300000101", "Halo?")
    await customer_writes(ctx, "6281300000101", "Halo??")
    assert await unread_events(ctx) == []
    before = await row(ctx, conversation_id)
    await settle(ctx)
    assert (await row(ctx, conversation_id))["sla_version"] == before["sla_version"]
    # Answered: the customer's next message starts a wait, so it is read ...
    url = f"/api/v1/conversations/{conversation_id}/messages"
    answer = await client.post(url, json={"type": "text", "text": "Ya"}, headers=admin.headers)
    assert answer.status_code == 201, answer.text
    await settle(ctx)
    waits = await customer_writes(ctx, "6281300000101", "Kapan dikirim?")
    assert await unread_events(ctx) == [("message.created", conversation_id, "inbound")]
    await settle(ctx)
    assert (await row(ctx, conversation_id))["sla_waiting_since"] == waits["created_at"]
    # ... and while that wait runs, further ones are not.
    await customer_writes(ctx, "6281300000101", "Halo?")
    assert await unread_events(ctx) == []


async def test_a_message_after_an_answer_in_the_same_batch_still_counts(
    ctx: AppContext, client, admin
) -> None:
    await add_policy(ctx, first=60, nxt=30)
    first = await customer_writes(ctx, "6281300000102")
    conversation_id = first["conversation_id"]
    other = (await customer_writes(ctx, "6281300000103"))["conversation_id"]
    await settle(ctx)
    # One batch: a customer's message while no answer was given (nothing), the agent's
    # answer (first response), the customer again (a wait from this one), and again (none);
    # the other conversation's customer message is left out (no answer there yet).
    await customer_writes(ctx, "6281300000102", "Halo?")
    await customer_writes(ctx, "6281300000103", "Halo?")
    url = f"/api/v1/conversations/{conversation_id}/messages"
    answer = await client.post(url, json={"type": "text", "text": "Ya"}, headers=admin.headers)
    assert answer.status_code == 201, answer.text
    waits = await customer_writes(ctx, "6281300000102", "Kapan?")
    await customer_writes(ctx, "6281300000102", "Kapan??")
    read = await unread_events(ctx)
    assert all(e[1] == conversation_id for e in read)
    assert [e[2] for e in read] == ["outbound", "inbound", "inbound"]
    await settle(ctx)
    clock = await row(ctx, conversation_id)
    assert clock["sla_first_response_at"] == datetime.fromisoformat(answer.json()["created_at"])
    assert clock["sla_waiting_since"] == waits["created_at"]
    assert clock["sla_next_response_due_at"] is not None
    untouched = await row(ctx, other)
    assert untouched["sla_first_response_at"] is None and untouched["sla_waiting_since"] is None
    # Resolved, then in one batch: the customer reopens it (a new cycle), the agent answers
    # and the customer writes: the new cycle's wait runs from that message.
    resolved = await client.post(
        f"/api/v1/conversations/{conversation_id}/resolve", headers=admin.headers
    )
    assert resolved.status_code == 200, resolved.text
    await settle(ctx)
    await customer_writes(ctx, "6281300000102", "Belum sampai")
    answer = await client.post(url, json={"type": "text", "text": "Dicek"}, headers=admin.headers)
    assert answer.status_code == 201, answer.text
    again = await customer_writes(ctx, "6281300000102", "Ditunggu")
    await settle(ctx)
    cycle = await row(ctx, conversation_id)
    assert cycle["sla_cycle"] == 2 and cycle["status"] == "open"
    assert cycle["sla_first_response_at"] is not None
    assert cycle["sla_waiting_since"] == again["created_at"]
