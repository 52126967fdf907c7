"""SQL of refused webhook calls: counted per source address and minute, a sample kept in
webhook_audit (record_webhook_rejection, migration 0013), and the counters' pruning."""

from __future__ import annotations

import asyncpg

from omnistream.db.pool import Conn


async def reject(
    conn: Conn,
    source: str,
    headers: dict[str, str],
    body_head: bytes,
    error: str,
    limits: tuple[int, int, int],
) -> asyncpg.Record:
    """Counts a refused call under its source address and minute, and keeps it (never
    processed) only within the sample: `limits` is (bodies per source, bodies overall, source
    rows) per minute. One statement; returns counted_as, rejected, sampled, first_capped."""
    row = await conn.fetchrow(
        "SELECT * FROM record_webhook_rejection($1, $2, $3, $4, $5, $6, $7)",
        source,
        headers,
        body_head,
        error,
        *limits,
    )
    assert row is not None
    return row


async def purge_rejection_counts(conn: Conn, older_than_days: int) -> int:
    """Counters of refused calls older than the audit retention (their minutes too)."""
    await conn.execute(
        "DELETE FROM webhook_rejection_minutes WHERE minute < now() - make_interval(days => $1)",
        older_than_days,
    )
    result: str = await conn.execute(
        "DELETE FROM webhook_rejections WHERE minute < now() - make_interval(days => $1)",
        older_than_days,
    )
    return int(result.rsplit(maxsplit=1)[-1])
