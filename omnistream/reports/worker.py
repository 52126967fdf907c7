"""The reports consumer: keeps the facts and rollups equal to the raw data (issue 15).

It reads the outbox by seq after its own position (event_consumers 'reports'), in batches
of BATCH_SIZE seqs, and, in ONE transaction per batch, recomputes from raw rows the facts
of every conversation those events concern (rollup_queries.recompute: the rollups move by
the difference) plus up to DIRTY_BATCH queued in report_dirty (changes without an event of
their own, and every conversation that existed before reports did), then moves its
position past the batch; it rebuilds the duration blocks those changes touched, plus up to
DIRTY_BLOCKS queued in report_durations_dirty. The events only say which conversations to
look at, never what to count: whatever order they come in, or if a conversation changed
again since, the facts follow the rows as they are, and a later event recomputes it again.
A crash before the commit redoes the batch. Workers take turns on the position's row lock, which the
rebuild holds too (reports/rebuild.py).
"""

from __future__ import annotations

import asyncio

from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.events.consumers import poll_batches
from omnistream.reports import duration_queries as durations
from omnistream.reports import facts_queries as queries
from omnistream.reports.business import Work, refresh
from omnistream.sla.engine import Policies
from omnistream.webhooks.delivery_queries import advance, top_seq

BATCH_SIZE = 1000
DIRTY_BATCH = 2000
DIRTY_BLOCKS = 200  # duration blocks built per batch from report_durations_dirty
POLL_SECONDS = 0.5  # how long a change may wait before the reports follow


async def consume(pool: Pool, policies: Policies, limit: int = BATCH_SIZE) -> int | None:
    """One batch: how many seqs (or queued conversations) it passed; `limit` or more means
    more may follow at once; None when another worker (or a rebuild) holds the turn."""
    async with transaction(pool) as tx:
        conn = tx.conn
        position = await queries.lock_position(conn)
        if position is None:
            return None
        await queries.batch_settings(conn)
        top = await top_seq(conn)
        upto = min(top, position + limit)
        touched = await queries.touched_between(conn, position, upto) if upto > position else []
        dirty = await queries.take_dirty(conn, DIRTY_BATCH)
        work = Work.of(touched, dirty)
        work.blocks.update(await durations.take_dirty(conn, DIRTY_BLOCKS))
        await refresh(conn, work, policies)
        if upto > position:
            await advance(conn, queries.CONSUMER, upto)
    more = len(dirty) >= DIRTY_BATCH or len(work.blocks) >= DIRTY_BLOCKS
    return max(upto - position, limit if more else 0)


async def consumer_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    policies = Policies()
    await poll_batches("reports", lambda: consume(pool, policies), BATCH_SIZE, stop, POLL_SECONDS)


async def catch_up(pool: Pool) -> None:
    """Consume until nothing is left (tests, the rebuild's callers)."""
    policies = Policies()
    while True:
        done = await consume(pool, policies)
        if done is None:
            await asyncio.sleep(0.05)
            continue
        if done < BATCH_SIZE:
            return
