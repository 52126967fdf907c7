"""SQL of the SLA clocks: the conversations' SLA columns and their sla_schedule row (read
unlocked or locked, written back in one statement per batch), the breach log, and the
consumer's position."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.conversations.queries import COLUMNS
from omnistream.db.pool import Conn
from omnistream.webhooks.delivery_queries import lock_consumer

CONSUMER = "sla"  # the consumer's row in event_consumers
# A clock's stored columns, in Clock.columns()' order; SCHEDULED ones live in sla_schedule
# (migration 0020), the others in conversations.
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
SCHEDULED = {"sla_due_at": "due_at", "sla_check_at": "check_at"}
_STATE = ", ".join(
    f"s.{SCHEDULED[c]} AS {c}" if c in SCHEDULED else f"c.{c}" for c in STATE_COLUMNS
)
_CLOCK = f"c.id, c.status, c.channel, c.division_id, c.assigned_agent_id, {_STATE}, c.sla_version"


async def read_clocks(
    conn: Conn, ids: list[UUID], *, lock: bool = False
) -> tuple[list[asyncpg.Record], datetime]:
    """These conversations' clocks and the database's time. Unlocked (the consumer's
    way: store() writes a clock back only if its version is unchanged), or locked in id
    order (as the inbound batches lock them) to redo the clocks that changed meanwhile."""
    rows = await conn.fetch(
        f"SELECT {_CLOCK} FROM conversations c "
        "LEFT JOIN sla_schedule s ON s.conversation_id = c.id WHERE c.id = ANY($1::uuid[]) "
        + ("ORDER BY c.id FOR UPDATE OF c" if lock else ""),
        ids,
    )
    now: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return rows, now


async def top_seq(conn: Conn) -> int:
    value: int = await conn.fetchval("SELECT COALESCE(max(seq), 0) FROM event_outbox")
    return value


async def events_between(
    conn: Conn, after: int, upto: int, types: list[str]
) -> list[asyncpg.Record]:
    """The events with after < seq <= upto of `types` that may move a clock, in order, with
    only what a clock needs (extracted by the database: no payload is decoded here).

    Left out: a customer's message whose clock it cannot move, judged by the clock as
    stored (no cycle, no first response yet, or a next-response wait already running:
    Clock.customer_wrote) when no other event of its conversation comes before it in the
    range (only this consumer moves those three columns, and a customer's message never
    makes a later one count). On a busy inbox that is most events, and their clocks are
    then neither read nor decoded."""
    return await conn.fetch(
        """
        WITH e AS MATERIALIZED (  -- what the filter needs, without the payloads
            SELECT seq,
                   COALESCE(conversation_id, (data->'conversation'->>'id')::uuid)
                       AS conversation_id,
                   type = 'message.created' AND data->'message'->>'direction' = 'inbound'
                       AS by_customer
              FROM event_outbox
             WHERE seq > $1 AND seq <= $2 AND type = ANY($3::text[])
        ), w AS (
            SELECT e.*, COALESCE(bool_or(NOT e.by_customer) OVER (
                       PARTITION BY e.conversation_id ORDER BY e.seq
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false) AS after_other
              FROM e WHERE e.conversation_id IS NOT NULL
        ), kept AS (
            SELECT w.seq, w.conversation_id
              FROM w LEFT JOIN conversations c ON c.id = w.conversation_id
             WHERE NOT w.by_customer OR w.after_other
                OR (c.sla_started_at IS NOT NULL AND c.sla_first_response_at IS NOT NULL
                    AND c.sla_waiting_since IS NULL)
        )
        SELECT o.seq, o.type, o.occurred_at, kept.conversation_id,
               o.data->'conversation'->>'status' AS conversation_status,
               (o.data->'conversation'->>'created_at')::timestamptz AS conversation_created_at,
               o.data->'message'->>'direction' AS direction,
               o.data->'message'->>'type' AS message_type,
               COALESCE(o.data->'message'->'content'->>'auto_reply' = 'true', false)
                   AS auto_reply,
               o.data->'message'->>'sender_agent_id' IS NOT NULL AS by_agent,
               (o.data->'message'->>'created_at')::timestamptz AS message_created_at
          FROM kept JOIN event_outbox o ON o.seq = kept.seq
         ORDER BY o.seq
        """,
        after,
        upto,
        types,
    )


async def claim_due(conn: Conn, limit: int) -> tuple[list[asyncpg.Record], datetime]:
    """Clocks whose next check has come (SKIP LOCKED: workers take disjoint sets), and the
    database's time they were judged by."""
    now: datetime = await conn.fetchval("SELECT clock_timestamp()")
    rows = await conn.fetch(
        f"""
        SELECT {_CLOCK} FROM sla_schedule s JOIN conversations c ON c.id = s.conversation_id
         WHERE s.check_at <= $1
         ORDER BY s.check_at LIMIT $2
           FOR UPDATE OF c SKIP LOCKED
        """,
        now,
        limit,
    )
    return rows, now


async def next_check(conn: Conn) -> datetime | None:
    """The earliest check to come (an index probe)."""
    found: datetime | None = await conn.fetchval(
        "SELECT check_at FROM sla_schedule WHERE check_at IS NOT NULL ORDER BY check_at LIMIT 1"
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
    in id order first, as the inbound batches lock them. A clock with a next check or a due
    time has its sla_schedule row, one without has none. The conversations whose shown SLA
    changed (`touch`) get a new updated_at; every written one is returned (its event's
    payload). No indexed column of conversations is written: a HOT update."""
    columns: list[list[Any]] = [list(col) for col in zip(*states, strict=True)]
    for i in (11, 12):
        columns[i] = [_array_text(v) for v in columns[i]]
    params = ", ".join(f"${i + 3}::{t}[]" for i, t in enumerate(_TYPES))
    names = ", ".join(STATE_COLUMNS)
    sets = ", ".join(
        f"{c} = v.{c}::text[]" if c in ("sla_warned", "sla_breached") else f"{c} = v.{c}"
        for c in STATE_COLUMNS
        if c not in SCHEDULED
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
        ), c AS (
            UPDATE conversations c
               SET {sets}, sla_version = c.sla_version + 1,
                   updated_at = CASE WHEN v.touch THEN clock_timestamp() ELSE c.updated_at END
              FROM v JOIN locked USING (id)
             WHERE c.id = v.id AND c.sla_version = v.version
            RETURNING v.touch, v.sla_check_at AS check_at, v.sla_due_at AS due_at, c.*
        ), scheduled AS (
            INSERT INTO sla_schedule (conversation_id, check_at, due_at)
            SELECT id, check_at, due_at FROM c
             WHERE check_at IS NOT NULL OR due_at IS NOT NULL
             ORDER BY id
            ON CONFLICT (conversation_id)
               DO UPDATE SET check_at = EXCLUDED.check_at, due_at = EXCLUDED.due_at
        ), unscheduled AS (
            DELETE FROM sla_schedule s USING c
             WHERE s.conversation_id = c.id AND c.check_at IS NULL AND c.due_at IS NULL
        )
        SELECT c.touch, {COLUMNS} FROM c
        """,
        ids,
        versions,
        *columns,
        touch,
    )


async def log_breaches(conn: Conn, rows: list[tuple[Any, ...]]) -> set[tuple[UUID, str]]:
    """(conversation, policy, policy name, cycle, type, due, division, assignee) per breach;
    those logged now (a breach logged before stays as it was): (conversation, type).
    breached_at is the clock at the write, not the transaction's start (now()): that may
    precede the due time the breach was judged by a moment later."""
    if not rows:
        return set()
    cols = list(zip(*rows, strict=True))
    logged = await conn.fetch(
        """
        INSERT INTO sla_breach_logs (conversation_id, policy_id, policy_name, cycle,
                                     breach_type, due_at, division_id, agent_id,
                                     breached_at)
        SELECT *, clock_timestamp()
          FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::text[],
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
    """The consumer's position, locked for this transaction (delivery_queries.lock_consumer)."""
    return await lock_consumer(conn, CONSUMER)
