"""`omnistream reports rebuild [--since DATE]`: the facts and rollups recomputed from raw rows.

In ONE transaction (readers see the old figures until it commits; a crash leaves them as
they were), holding the reports consumer's position (the worker's consumer waits):
- full: empties the facts and rollups, inserts every conversation's facts in chunks of
  CHUNK in id order, then sums the rollups from them in one pass, and moves the position
  to the newest event (every change up to it is in the raw rows just read; a later one
  brings its conversation back);
- `since`: recomputes only the conversations with a message, change or fact at or after
  it, as the consumer does (facts_queries.recompute), and leaves the position.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from omnistream.db.pool import Pool, transaction
from omnistream.reports import facts_queries as queries
from omnistream.reports.business import fill_business, refresh
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
        # The facts' statements plan better with the work memory of a batch job.
        await conn.execute("SET LOCAL work_mem = '256MB'")
        if since is None:
            top = await top_seq(conn)
            total = await queries.count_conversations(conn)
            await queries.truncate(conn)
        else:
            total = 0
        done, after = 0, None  # after: the last id of the previous chunk
        report(0, total)
        while True:
            if since is None:
                ids = await queries.conversation_ids(conn, after, CHUNK)
            else:
                ids = await queries.changed_since_ids(conn, since, after, CHUNK)
            if not ids:
                break
            if since is None:
                await queries.insert_facts(conn, ids)
                await fill_business(conn, ids, policies)
            else:
                await refresh(conn, ids, policies)
            done, after = done + len(ids), ids[-1]
            report(done, max(total, done))
        if since is None:
            await queries.sum_rollups(conn)
            await advance(conn, queries.CONSUMER, top)
        report(done, done)
    return done


def parse_since(value: str) -> datetime:
    """A date (YYYY-MM-DD, midnight UTC) or an ISO 8601 time with its zone."""
    from datetime import UTC, date

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
