"""SQL of worker liveness: each worker process holds a session-level advisory lock under a
key of its own (PostgreSQL releases it by itself when the connection dies), and the keys
whose lock is held are the live workers."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from omnistream.db.pool import Conn

# Advisory locks are (classid, objid) pairs here: classid marks OmniStream's worker keys
# ("OMNI"), objid is the worker's key. Locks are per database, so the query filters on it.
NAMESPACE = 0x4F4D4E49

# The live workers' keys, as a subquery for the takeover statements of every leased kind
# of work (one pg_locks read per statement, not per row).
LIVE_KEYS = f"""
    SELECT l.objid::bigint::int FROM pg_locks l
     WHERE l.locktype = 'advisory' AND l.classid = {NAMESPACE} AND l.objsubid = 2
       AND l.granted AND l.database = (SELECT oid FROM pg_database
                                        WHERE datname = current_database())
"""


async def try_lock(conn: Conn, key: int) -> bool:
    """Take the key's session lock (held until unlock or until the connection ends)."""
    taken: bool = await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", NAMESPACE, key)
    return taken


async def unlock(conn: Conn, key: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1, $2)", NAMESPACE, key)


async def live_keys(conn: Conn) -> set[int]:
    return {r[0] for r in await conn.fetch(LIVE_KEYS)}


async def ping(conn: Conn) -> None:
    await conn.execute("SELECT 1")


@dataclass(frozen=True)
class Leased:
    """A table of leased work: its key, the column naming the claiming worker, the column
    that makes a row due, and which rows are still in flight."""

    table: str
    key: tuple[str, ...]
    owner: str = "claimed_by"
    due: str = "next_attempt_at"
    in_flight: str = "true"


async def take_over_rows(conn: Conn, leased: Leased, grace_seconds: float) -> list[asyncpg.Record]:
    """Rows of `leased` claimed by a worker that is gone: due again after `grace_seconds`
    (unless the lease ends sooner), the claim cleared; their dead owners' keys."""
    keys = ", ".join(leased.key)
    match = " AND ".join(f"t.{k} = dead.{k}" for k in leased.key)
    return await conn.fetch(
        f"""
        WITH dead AS (
            SELECT {keys}, {leased.owner} AS previous_owner FROM {leased.table}
             WHERE {leased.owner} IS NOT NULL AND {leased.in_flight}
               AND {leased.owner} NOT IN ({LIVE_KEYS})
             ORDER BY {keys}
               FOR UPDATE SKIP LOCKED)
        UPDATE {leased.table} t
           SET {leased.owner} = NULL,
               {leased.due} = LEAST(t.{leased.due}, now() + make_interval(secs => $1))
          FROM dead WHERE {match}
        RETURNING dead.previous_owner
        """,
        grace_seconds,
    )
