"""SQL of the SLA clocks: the conversations' SLA columns (read locked, written back in one
statement per batch), the breach log, and the consumer's position."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.conversations.queries import COLUMNS
from omnistream.db.pool import Conn

CONSUMER = "sla"  # the consumer's row in event_consumers
# A clock's stored columns, in Clock.columns()' order.
STATE_COLUMNS = (
    "sla_policy_id",
    "sla_division_id",
    "sla_cycle",
    "sla_started_at",
    "sla_first_response_at",
    "sla_waiting_since",
    "sla_first_response_due_at",
    "sla_next_response_due_at",
    "sla_resolution_due_at",
    "sla_due_at",
    "sla_check_at",
    "sla_warned",
    "sla_breached",
)
_TYPES = (
    "uuid",
    "uuid",
    "int",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "text",  # the arrays are passed as text ('{a,b}'): unnest cannot take an array of arrays
    "text",
)
_STATE = ", ".join(f"c.{c}" for c in STATE_COLUMNS)
_CLOCK = f"c.id, c.status, c.channel, c.division_id, c.assigned_agent_id, {_STATE}, c.sla_version"


async def read_clocks(
    conn: Conn, ids: list[UUID], *, lock: bool = False
) -> tuple[list[asyncpg.Record], datetime]:
    """These conversations' clocks and the database's time. Unlocked (the consumer's
    way: store() writes a clock back only if its version is unchanged), or locked in id
    order (as the inbound batches lock them) to redo the clocks that changed meanwhile."""
    rows = await conn.fetch(
        f"SELECT {_CLOCK} FROM conversations c WHERE c.id = ANY($1::uuid[]) "
        + ("ORDER BY c.id FOR UPDATE" if lock else ""),
        ids,
    )
    now: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return rows, now


async def top_seq(conn: Conn) -> int:
    value: int = await conn.fetchval("SELECT COALESCE(max(seq), 0) FROM event_outbox")
    return value


async def events_between(
    conn: Conn, after: int, upto: int, types: list[str], limit: int
) -> list[asyncpg.Record]:
    """Published events with after < seq <= upto of `types`, in order, with only what a
    clock needs (extracted by the database: no payload is decoded here)."""
    return await conn.fetch(
        """
        SELECT seq, type, occurred_at,
               (data->'conversation'->>'id')::uuid AS conversation_id,
               data->'conversation'->>'status' AS conversation_status,
               (data->'conversation'->>'created_at')::timestamptz AS conversation_created_at,
               data->'message'->>'direction' AS direction,
               data->'message'->>'type' AS message_type,
               data->'message'->>'sender_agent_id' IS NOT NULL AS by_agent,
               (data->'message'->>'created_at')::timestamptz AS message_created_at
          FROM event_outbox
         WHERE seq > $1 AND seq <= $2 AND type = ANY($3::text[])
         ORDER BY seq LIMIT $4
        """,
        after,
        upto,
        types,
        limit,
    )


async def claim_due(conn: Conn, limit: int) -> tuple[list[asyncpg.Record], datetime]:
    """Clocks whose next check has come (SKIP LOCKED: workers take disjoint sets), and the
    database's time they were judged by."""
    now: datetime = await conn.fetchval("SELECT clock_timestamp()")
    rows = await conn.fetch(
        f"""
        SELECT {_CLOCK} FROM conversations c
         WHERE c.sla_check_at <= $1
         ORDER BY c.sla_check_at LIMIT $2
           FOR UPDATE SKIP LOCKED
        """,
        now,
        limit,
    )
    return rows, now


async def next_check(conn: Conn) -> datetime | None:
    """The earliest check to come (an index probe)."""
    found: datetime | None = await conn.fetchval(
        "SELECT sla_check_at FROM conversations WHERE sla_check_at IS NOT NULL "
        "ORDER BY sla_check_at LIMIT 1"
    )
    return found


def _array_text(values: list[str]) -> str:
    return "{" + ",".join(values) + "}"  # target names: plain words, nothing to quote


async def store(
    conn: Conn,
    ids: list[UUID],
    versions: list[int],
    states: list[tuple[Any, ...]],
    touch: list[bool],
) -> list[asyncpg.Record]:
    """Write the clocks back, each only if its version is still the one read (else someone
    wrote it meanwhile: it is not returned, and the caller redoes it); the rows are locked
    in id order first, as the inbound batches lock them. The conversations whose shown SLA
    changed (`touch`) get a new updated_at; every written one is returned (its event's
    payload)."""
    columns: list[list[Any]] = [list(col) for col in zip(*states, strict=True)]
    for i in (11, 12):
        columns[i] = [_array_text(v) for v in columns[i]]
    params = ", ".join(f"${i + 3}::{t}[]" for i, t in enumerate(_TYPES))
    names = ", ".join(STATE_COLUMNS)
    sets = ", ".join(
        f"{c} = v.{c}::text[]" if c in ("sla_warned", "sla_breached") else f"{c} = v.{c}"
        for c in STATE_COLUMNS
    )
    touch_param = len(_TYPES) + 3
    return await conn.fetch(
        f"""
        WITH v AS (
            SELECT * FROM unnest($1::uuid[], $2::bigint[], {params}, ${touch_param}::bool[])
                   AS v(id, version, {names}, touch)
        ), locked AS (
            SELECT c.id FROM conversations c WHERE c.id = ANY($1::uuid[])
             ORDER BY c.id FOR UPDATE
        )
        UPDATE conversations c
           SET {sets}, sla_version = c.sla_version + 1,
               updated_at = CASE WHEN v.touch THEN clock_timestamp() ELSE c.updated_at END
          FROM v JOIN locked USING (id)
         WHERE c.id = v.id AND c.sla_version = v.version
        RETURNING v.touch, {COLUMNS}
        """,
        ids,
        versions,
        *columns,
        touch,
    )


async def log_breaches(conn: Conn, rows: list[tuple[Any, ...]]) -> set[tuple[UUID, str]]:
    """(conversation, policy, policy name, cycle, type, due, division, assignee) per breach;
    those logged now (a breach logged before stays as it was): (conversation, type)."""
    if not rows:
        return set()
    cols = list(zip(*rows, strict=True))
    logged = await conn.fetch(
        """
        INSERT INTO sla_breach_logs (conversation_id, policy_id, policy_name, cycle,
                                     breach_type, due_at, division_id, agent_id)
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::text[],
                             $6::timestamptz[], $7::uuid[], $8::uuid[])
        ON CONFLICT (conversation_id, cycle, breach_type) DO NOTHING
        RETURNING conversation_id, breach_type
        """,
        *[list(c) for c in cols],
    )
    return {(r["conversation_id"], r["breach_type"]) for r in logged}


async def policies(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM sla_policies")


async def policies_version(conn: Conn) -> Any:
    """Changes whenever a policy is created, edited or deleted (the engine's cache key)."""
    return await conn.fetchval(
        "SELECT (count(*), max(updated_at), max(created_at)) ::text FROM sla_policies"
    )


async def lock_position(conn: Conn) -> int | None:
    """The consumer's position, locked for this transaction; None while another worker
    holds it. The migration creates the row at the present; without it (an emptied
    database, whose outbox starts empty too) the consumer starts from the beginning."""
    value: int | None = await conn.fetchval(
        "SELECT position FROM event_consumers WHERE name = $1 FOR UPDATE SKIP LOCKED", CONSUMER
    )
    if value is None:
        value = await conn.fetchval(
            "INSERT INTO event_consumers (name, position) VALUES ($1, 0) "
            "ON CONFLICT (name) DO NOTHING RETURNING position",
            CONSUMER,
        )
    return value
