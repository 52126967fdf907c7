"""SQL of process heartbeats (migration 0034)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

# A process is gone when it has missed this many of its own beats.
GONE_AFTER_BEATS = 3
# Rows of processes gone for this long are deleted (by the beats of those still running).
KEEP_GONE = "1 day"
MAX_PROCESSES = 500


async def beat(
    conn: Conn,
    *,
    process_id: UUID,
    kind: str,
    host: str,
    pid: int,
    version: str,
    started_at: datetime,
    beat_seconds: float,
    loops: dict[str, Any],
) -> None:
    """Insert or refresh this process's row; last_beat_at is the server's clock, the one
    `processes` compares it with."""
    await conn.execute(
        """
        INSERT INTO process_heartbeats
               (id, kind, host, pid, version, started_at, last_beat_at, beat_seconds, loops)
        VALUES ($1, $2, $3, $4, $5, $6, now(), $7, $8)
        ON CONFLICT (id) DO UPDATE
           SET last_beat_at = now(), beat_seconds = EXCLUDED.beat_seconds,
               loops = EXCLUDED.loops
        """,
        process_id,
        kind,
        host,
        pid,
        version,
        started_at,
        beat_seconds,
        loops,
    )


async def forget(conn: Conn, process_id: UUID) -> None:
    """A process stopping cleanly removes its row."""
    await conn.execute("DELETE FROM process_heartbeats WHERE id = $1", process_id)


async def purge_gone(conn: Conn) -> int:
    """Delete the rows of processes whose last beat is older than KEEP_GONE."""
    status: str = await conn.execute(
        f"DELETE FROM process_heartbeats WHERE last_beat_at < now() - interval '{KEEP_GONE}'"
    )
    return int(status.rsplit(maxsplit=1)[-1])


async def processes(conn: Conn) -> list[asyncpg.Record]:
    """Every process with a row, the live ones first, and the server's time."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT id, kind, host, pid, version, started_at, last_beat_at, beat_seconds, loops,
               last_beat_at > now() - make_interval(secs => {GONE_AFTER_BEATS} * beat_seconds)
                   AS alive,
               now() AS checked_at
          FROM process_heartbeats
         ORDER BY alive DESC, kind, host, started_at, id
         LIMIT {MAX_PROCESSES}
        """
    )
    return rows


async def now(conn: Conn) -> datetime:
    """The database's clock (the one heartbeats are compared with)."""
    value: datetime = await conn.fetchval("SELECT now()")
    return value
