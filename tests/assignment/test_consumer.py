"""The assignment consumer's turns: a drain stopped by its batch size goes on at the next
turn; otherwise only an event that may let someone be assigned (or the sweep) drains, and
the consumer's own assignments do not wake it."""

from __future__ import annotations

from omnistream.assignment.consumer import Turns
from omnistream.db.pool import transaction
from omnistream.events.dispatcher import publish_pending
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from tests import factories
from tests.assignment.support import assignees, presence, switch_on
from tests.assignment.test_engine import arrive, team


async def test_batches_go_on_and_events_wake_it(client, ctx, admin, actors) -> None:
    division = await factories.division(ctx)
    (ana,) = await team(actors, division, 1)
    await presence(ctx, ana.id)
    await switch_on(client, admin, division)
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)
    ids = await arrive(ctx, division, 8)
    turns = Turns(ctx.pool, sweep_seconds=3600)
    assert await turns.run(limit=3) == 3  # the first turn drains (nothing drained yet)
    assert await turns.run(limit=3) == 3  # a full batch: on at once, no event needed
    assert await turns.run(limit=3) == 2
    assert (await assignees(ctx, ids)).count(None) == 0
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)  # the consumer's own conversation.assigned events
    assert await turns.run(limit=3) == 0
    (late,) = await arrive(ctx, division, 1)
    assert await turns.run(limit=3) == 0  # no event yet: it waits for the sweep
    async with transaction(ctx.pool) as tx:
        await emit(tx.conn, EventType.CONVERSATION_CREATED, {}, actor=None, conversation_id=late)
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)
    assert await turns.run(limit=3) == 1
    assert await assignees(ctx, [late]) == [ana.id]
