"""`omnistream reports rebuild [--since DATE]`: the facts and rollups recomputed from raw rows.

In ONE transaction (a crash leaves the figures as they were), holding the reports
consumer's position (the worker's consumer waits):
- full: empties the facts and rollups and drops their secondary indexes, inserts every
  conversation's facts in chunks of CHUNK in id order, sums the rollups in one pass per
  grain, builds the duration blocks, builds the indexes again, and moves the position to
  the newest event (every change up to it is in the raw rows just read; a later one brings
  its conversation back).
  The reports' tables are locked meanwhile: the API answers 503 (retry) until it commits.
- `since`: recomputes only the conversations with a message, change or fact at or after
  it, as the consumer does (rollup_queries.recompute), and leaves the position.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from omnistream.db.pool import Pool, transaction
from omnistream.reports import duration_queries as durations
from omnistream.reports import facts_queries as queries
from omnistream.reports import rollup_queries as rollups
from omnistream.reports.business import Work, fill_business, refresh
from omnistream.sla.engine import Policies
from omnistream.webhooks.delivery_queries import advance, top_seq

CHUNK = 20_000
Progress = Callable[[int, int], None]  # (done, total) conversations


async def rebuild(
    pool: Pool, since: datetime | None = None, progress: Progress | None = None
) -> int:
    """How many conversations were recomputed."""
    report = progress or (lambda done, total: None)
    policies = Policies()
    async with transaction(pool) as tx:
        conn = tx.conn
        await queries.lock_position_wait(conn)
        await queries.batch_settings(conn)
        await queries.rebuild_settings(conn)
        if since is not None:
            ids = await queries.changed_since(conn, since)
            for start in range(0, len(ids), CHUNK):
                await refresh(conn, Work.whole_of(ids[start : start + CHUNK]), policies)
                report(min(start + CHUNK, len(ids)), len(ids))
            report(len(ids), len(ids))
            return len(ids)
        top = await top_seq(conn)
        total = await queries.count_conversations(conn)
        await rollups.truncate(conn)
        indexes = await rollups.drop_indexes(conn)
        done, after = 0, None  # after: the last id of the previous chunk
        report(0, total)
        while ids := await queries.conversation_ids(conn, after, CHUNK):
            await rollups.insert_facts(conn, ids[0], ids[-1])
            await fill_business(conn, ids, policies)
            done, after = done + len(ids), ids[-1]
            report(done, max(total, done))
        await rollups.sum_rollups(conn)
        await durations.build_all(conn, rollups.REBUILD_TIMEOUT)
        await rollups.create_indexes(conn, indexes)
        await advance(conn, queries.CONSUMER, top)
        report(done, done)
    return done


def parse_since(value: str) -> datetime:
    """A date (YYYY-MM-DD, midnight UTC) or an ISO 8601 time with its zone."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--since: not a date or time: {value!r}") from None
    if at.tzinfo is None:
        raise ValueError("--since: a time needs its zone (e.g. Z or +07:00)")
    return at
