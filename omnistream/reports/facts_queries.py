"""The reports consumer's reads and writes besides the facts (rollup_queries.py): its
position, the conversations a batch of events concerns, the queue of conversations to
recompute without an event (report_dirty), the rebuild's chunks, and business time."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn
from omnistream.reports.duration_queries import KEYS_OF_ROW
from omnistream.reports.raw_queries import bucket_of
from omnistream.webhooks.delivery_queries import lock_consumer

CONSUMER = "reports"  # the consumer's row in event_consumers


async def conversation_ids(conn: Conn, after: UUID | None, limit: int) -> list[UUID]:
    """The next `limit` conversation ids after `after`, in id order (the rebuild's chunks)."""
    rows = await conn.fetch(
        "SELECT id FROM conversations WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
        after,
        limit,
    )
    return [r["id"] for r in rows]


async def changed_since(conn: Conn, since: object) -> list[UUID]:
    """Conversations with a message, change or fact at or after `since` (rebuild --since):
    those that exist, and those whose facts outlived them; in id order."""
    rows = await conn.fetch(
        """
        SELECT id FROM conversations WHERE last_message_at >= $1 OR updated_at >= $1
        UNION
        SELECT conversation_id FROM report_cycles WHERE resolved_at >= $1 OR first_response_at >= $1
        ORDER BY 1
        """,
        since,
    )
    return [r["id"] for r in rows]


async def count_conversations(conn: Conn) -> int:
    value: int = await conn.fetchval("SELECT count(*) FROM conversations")
    return value


async def lock_position(conn: Conn) -> int | None:
    """The consumer's position, locked for this transaction; None while another worker (or
    a rebuild) holds it."""
    return await lock_consumer(conn, CONSUMER)


async def lock_position_wait(conn: Conn) -> int:
    """The position, waiting for the worker's batch in flight (the rebuild)."""
    value = await lock_consumer(conn, CONSUMER, wait=True)
    assert value is not None
    return value


# --- What the consumer reads ------------------------------------------------------------------


async def touched_between(conn: Conn, after: int, upto: int) -> list[asyncpg.Record]:
    """What the events after < seq <= upto say to look at, one row per event and
    conversation: `bucket` (a message's 15-minute bucket) for a message event, with
    `outbound_new` for a new outbound message (it may be a cycle's first response), NULL
    for any other event (the whole conversation), including, for a deleted or merged-away
    contact, the conversations its facts still name, and for an SLA policy changed, the
    conversations under it."""
    return await conn.fetch(
        f"""
        WITH e AS (
            SELECT type, data, COALESCE(conversation_id,
                                        (data->'conversation'->>'id')::uuid) AS conversation_id
              FROM event_outbox WHERE seq > $1 AND seq <= $2
        )
        SELECT conversation_id AS id,
               CASE WHEN type IN ('message.created', 'message.updated')
                    THEN {bucket_of("(data->'message'->>'created_at')::timestamptz")} END
                   AS bucket,
               type = 'message.created' AND data->'message'->>'direction' = 'outbound'
                   AS outbound_new
          FROM e WHERE conversation_id IS NOT NULL
        UNION ALL
        SELECT c.id, NULL, false FROM e JOIN conversations c
            ON c.sla_policy_id = (e.data->>'id')::uuid
         WHERE e.type = 'sla_policy.updated'
        UNION ALL
        SELECT rc.conversation_id, NULL, false FROM e JOIN report_cycles rc
            ON rc.contact_id = CASE e.type
                   WHEN 'contact.deleted' THEN (e.data->>'id')::uuid
                   WHEN 'contact.merged' THEN (e.data->>'merged_contact_id')::uuid END
         WHERE e.type IN ('contact.deleted', 'contact.merged')
        """,
        after,
        upto,
    )


async def take_dirty(conn: Conn, limit: int) -> list[UUID]:
    rows = await conn.fetch(
        """
        DELETE FROM report_dirty WHERE conversation_id IN (
            SELECT conversation_id FROM report_dirty ORDER BY conversation_id
             LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING conversation_id
        """,
        limit,
    )
    return sorted(r["conversation_id"] for r in rows)


async def mark_dirty(conn: Conn, column: str, value: UUID) -> None:
    """Queue the conversations whose `column` is `value` (before a deletion that changes them
    without an event of theirs: a division, an inbox account)."""
    assert column in ("division_id", "integration_account_id", "assigned_agent_id")
    await conn.execute(
        f"INSERT INTO report_dirty (conversation_id) SELECT id FROM conversations "
        f"WHERE {column} = $1 ON CONFLICT DO NOTHING",
        value,
    )


# --- Business time (filled in Python: reports/business.py) -----------------------------------


async def cycles_under_policy(conn: Conn, ids: list[UUID]) -> list[asyncpg.Record]:
    """These conversations' cycles with the SLA policy their conversation has now."""
    return await conn.fetch(
        """
        SELECT rc.conversation_id, rc.cycle, c.sla_policy_id AS policy_id, rc.opened_at,
               rc.first_response_at, rc.resolved_at
          FROM report_cycles rc JOIN conversations c ON c.id = rc.conversation_id
         WHERE rc.conversation_id = ANY($1::uuid[]) AND c.sla_policy_id IS NOT NULL
        """,
        ids,
    )


async def set_business(
    conn: Conn, rows: list[tuple[UUID, int, float | None, float | None]]
) -> list[asyncpg.Record]:
    """Set these cycles' business seconds: the duration block keys of those that changed."""
    if not rows:
        return []
    ids, cycles, frt, resolution = (list(c) for c in zip(*rows, strict=True))
    return await conn.fetch(
        f"""
        WITH u AS (
            UPDATE report_cycles rc SET frt_business = v.frt, resolution_business = v.res
              FROM unnest($1::uuid[], $2::int[], $3::float8[], $4::float8[])
                   AS v(id, cycle, frt, res)
             WHERE rc.conversation_id = v.id AND rc.cycle = v.cycle
               AND (rc.frt_business, rc.resolution_business) IS DISTINCT FROM (v.frt, v.res)
            RETURNING rc.first_response_at, rc.resolved_at, rc.division_id)
        SELECT DISTINCT k.* FROM u r CROSS JOIN LATERAL ({KEYS_OF_ROW}) k
        """,
        ids,
        cycles,
        frt,
        resolution,
    )


async def batch_settings(conn: Conn) -> None:
    """For this transaction: plans made for the values at hand (a cached generic plan of
    these statements can scan every conversation), and a batch job's work memory."""
    await conn.execute(
        "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL work_mem = '256MB'"
    )


async def rebuild_settings(conn: Conn) -> None:
    """The indexes a full rebuild creates at its end sort millions of rows: in memory, not
    in files (the rollups' key on the bench seed: 23 s with the default 64 MB, 13.6 s)."""
    await conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
