"""The reports' facts and rollups: recomputed per conversation from raw rows (issue 15).

A conversation's facts (report_cycles, report_messages, report_failures) are a function of
its raw rows: the conversation, its messages and its resolve / reopen history in the
activity log. `recompute` deletes a set of conversations' facts and inserts them anew in
ONE statement per table, and moves the rollups by the difference (new minus old), so the
rollups always equal the facts summed, which equal a recomputation from raw data. The
full rebuild inserts the facts and sums the rollups in one pass instead (same SQL).
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

CONSUMER = "reports"  # the consumer's row in event_consumers
BUCKET = "15 minutes"  # every IANA zone's offset is a multiple of 15 minutes
_ORIGIN = "2000-01-01 00:00:00+00"


def bucket_of(column: str) -> str:
    return f"date_bin('{BUCKET}', {column}, timestamptz '{_ORIGIN}')"


# --- Facts from raw rows (`ids`: $1, the conversations; NULL: all of them) -----------------

_CONVERSATIONS = """
    SELECT id, contact_id, channel, integration_account_id AS account_id, division_id,
           assigned_agent_id AS agent_id, created_at, resolved_at, sla_policy_id
      FROM conversations WHERE $1::uuid[] IS NULL OR id = ANY($1::uuid[])
"""

# Cycle k starts at the conversation's creation (k = 1) or at its (k-1)th reopen, and ends
# at the last resolve before the next start; the current one at resolved_at (NULL: open).
# Its first response: the first message an agent sent in it (not a campaign send or an
# automatic message: those have no agent).
CYCLES_SQL = f"""
    WITH c AS MATERIALIZED ({_CONVERSATIONS}),
    marks AS MATERIALIZED (
        SELECT a.target_id AS id, a.action, a.created_at
          FROM activity_logs a JOIN c ON c.id = a.target_id
         WHERE a.target_type = 'conversation'
           AND a.action IN ('resolve_conversation', 'reopen_conversation')
    ),
    starts AS (
        SELECT id, created_at AS opened_at FROM c
        UNION ALL
        SELECT m.id, m.created_at FROM marks m JOIN c ON c.id = m.id
         WHERE m.action = 'reopen_conversation' AND m.created_at > c.created_at
    ),
    cycles AS (
        SELECT id, opened_at,
               row_number() OVER w AS cycle, lead(opened_at) OVER w AS next_at
          FROM starts WINDOW w AS (PARTITION BY id ORDER BY opened_at)
    ),
    ended AS (
        SELECT cy.*, CASE WHEN cy.next_at IS NULL THEN c.resolved_at
                          ELSE COALESCE((SELECT max(m.created_at) FROM marks m
                                          WHERE m.id = cy.id
                                            AND m.action = 'resolve_conversation'
                                            AND m.created_at >= cy.opened_at
                                            AND m.created_at <= cy.next_at), cy.next_at)
                     END AS resolved_at
          FROM cycles cy JOIN c ON c.id = cy.id
    )
    SELECT e.id, e.cycle::int, c.contact_id, c.channel, c.account_id, c.division_id,
           c.agent_id, e.opened_at, fr.created_at, fr.sender_agent_id, e.resolved_at,
           NULL::float8, NULL::float8,
           CASE WHEN p.first_response_minutes IS NULL THEN NULL
                WHEN b.first_due IS NOT NULL THEN 'breached'
                WHEN fr.created_at IS NOT NULL THEN 'met' END,
           b.first_due,
           CASE WHEN p.next_response_minutes IS NULL THEN NULL
                WHEN b.next_breached THEN 'breached'
                WHEN e.resolved_at IS NOT NULL THEN 'met' END,
           CASE WHEN p.resolution_minutes IS NULL THEN NULL
                WHEN b.resolution_breached THEN 'breached'
                WHEN e.resolved_at IS NOT NULL THEN 'met' END
      FROM ended e JOIN c ON c.id = e.id
      LEFT JOIN sla_policies p ON p.id = c.sla_policy_id
      LEFT JOIN LATERAL (
            SELECT m.created_at, m.sender_agent_id FROM messages m
             WHERE m.conversation_id = e.id AND m.direction = 'outbound'
               AND m.sender_agent_id IS NOT NULL AND m.created_at >= e.opened_at
               AND m.created_at < COALESCE(e.resolved_at, e.next_at, 'infinity')
             ORDER BY m.created_at LIMIT 1) fr ON true
      LEFT JOIN LATERAL (  -- the cycle's breaches: due within it
            SELECT min(l.due_at) FILTER (WHERE l.breach_type = 'first_response') AS first_due,
                   bool_or(l.breach_type = 'next_response') AS next_breached,
                   bool_or(l.breach_type = 'resolution') AS resolution_breached
              FROM sla_breach_logs l
             WHERE p.id IS NOT NULL AND l.conversation_id = e.id AND l.due_at >= e.opened_at
               AND l.due_at < COALESCE(e.next_at, 'infinity')) b ON true
"""

# Messages per bucket and agent; system messages (the timeline's own lines) are not counted.
MESSAGES_SQL = f"""
    WITH c AS MATERIALIZED ({_CONVERSATIONS})
    SELECT c.id, {bucket_of("m.created_at")}, c.channel, c.account_id, c.division_id,
           CASE WHEN m.direction = 'outbound' THEN m.sender_agent_id ELSE c.agent_id END,
           count(*) FILTER (WHERE m.direction = 'inbound')::int,
           count(*) FILTER (WHERE m.direction = 'outbound')::int,
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'pending')::int,
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'sent')::int,
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'delivered')::int,
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'read')::int,
           count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'failed')::int
      FROM c JOIN messages m ON m.conversation_id = c.id
     WHERE m.type <> 'system'
     GROUP BY 1, 2, 3, 4, 5, 6
"""

FAILURES_SQL = f"""
    WITH c AS MATERIALIZED ({_CONVERSATIONS})
    SELECT c.id, {bucket_of("m.created_at")}, c.channel, c.account_id, c.division_id,
           m.sender_agent_id, COALESCE(NULLIF(m.error_code, ''), 'unknown'), count(*)::int
      FROM c JOIN messages m ON m.conversation_id = c.id
     WHERE m.type <> 'system' AND m.direction = 'outbound' AND m.status = 'failed'
     GROUP BY 1, 2, 3, 4, 5, 6, 7
"""

CYCLE_COLUMNS = (
    "conversation_id, cycle, contact_id, channel, account_id, division_id, agent_id, "
    "opened_at, first_response_at, responder_id, resolved_at, frt_business, "
    "resolution_business, sla_first_response, first_response_due_at, sla_next_response, "
    "sla_resolution"
)
MESSAGE_COLUMNS = (
    "conversation_id, bucket, channel, account_id, division_id, agent_id, "
    "inbound, outbound, pending, sent, delivered, read, failed"
)
FAILURE_COLUMNS = (
    "conversation_id, bucket, channel, account_id, division_id, agent_id, code, failed"
)

COUNTERS = (
    "opened", "reopened", "resolved", "inbound", "outbound",
    "pending", "sent", "delivered", "read", "failed",
)  # fmt: skip
DIMS = "bucket, channel, account_id, division_id, agent_id"


# --- Facts to rollup points (one definition for the delta and the full sum) ----------------


def cycle_points(source: str, sign: str = "1") -> str:
    """A cycle's counters: opened (the first cycle) or reopened at its start, resolved at
    its end."""
    zeros = ", ".join("0" for _ in COUNTERS[3:])
    return f"""
        SELECT {bucket_of("opened_at")} AS bucket, channel, account_id, division_id, agent_id,
               {sign} * (cycle = 1)::int AS opened, {sign} * (cycle > 1)::int AS reopened,
               0 AS resolved, {zeros} FROM {source}
        UNION ALL
        SELECT {bucket_of("resolved_at")}, channel, account_id, division_id, agent_id,
               0, 0, {sign}, {zeros} FROM {source} WHERE resolved_at IS NOT NULL
    """


def message_points(source: str, sign: str = "1") -> str:
    counted = ", ".join(f"{sign} * {c}" for c in COUNTERS[3:])
    return f"SELECT {DIMS}, 0, 0, 0, {counted} FROM {source}"


def failure_points(source: str, sign: str = "1") -> str:
    return f"SELECT {DIMS}, code, {sign} * failed AS failed FROM {source}"


_GRAINS = "(VALUES (0::smallint), (1::smallint), (2::smallint)) g(grain)"
_GRAIN_DIMS = (
    "g.grain, p.bucket, p.channel, p.account_id, "
    "CASE WHEN g.grain >= 1 THEN p.division_id END, "
    "CASE WHEN g.grain = 2 THEN p.agent_id END"
)


def _rollup_upsert(points: str) -> str:
    sums = ", ".join(f"sum({c})::int" for c in COUNTERS)
    nonzero = " OR ".join(f"sum({c}) <> 0" for c in COUNTERS)
    adds = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTERS)
    return f"""
        INSERT INTO report_rollups AS r (grain, {DIMS}, {", ".join(COUNTERS)})
        SELECT {_GRAIN_DIMS}, {sums}
          FROM ({points}) p ({DIMS}, {", ".join(COUNTERS)}) CROSS JOIN {_GRAINS}
         GROUP BY 1, 2, 3, 4, 5, 6 HAVING {nonzero}
        ON CONFLICT (grain, {DIMS}) DO UPDATE SET {adds}
    """


def _failure_upsert(points: str) -> str:
    return f"""
        INSERT INTO report_failure_rollups AS r (grain, {DIMS}, code, failed)
        SELECT {_GRAIN_DIMS}, p.code, sum(p.failed)::int
          FROM ({points}) p ({DIMS}, code, failed) CROSS JOIN {_GRAINS}
         GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(p.failed) <> 0
        ON CONFLICT (grain, {DIMS}, code) DO UPDATE SET failed = r.failed + excluded.failed
    """


def _recompute(table: str, columns: str, raw: str, points: object) -> str:
    assert callable(points)
    return f"""
        WITH old AS (DELETE FROM {table} WHERE conversation_id = ANY($1::uuid[])
                     RETURNING {columns}),
             new AS (INSERT INTO {table} ({columns}) {raw} RETURNING {columns})
        {
        (_failure_upsert if table == "report_failures" else _rollup_upsert)(
            f"{points('old', '-1')} UNION ALL {points('new')}"
        )
    }
    """


RECOMPUTE = (
    _recompute("report_cycles", CYCLE_COLUMNS, CYCLES_SQL, cycle_points),
    _recompute("report_messages", MESSAGE_COLUMNS, MESSAGES_SQL, message_points),
    _recompute("report_failures", FAILURE_COLUMNS, FAILURES_SQL, failure_points),
)


async def recompute(conn: Conn, ids: list[UUID]) -> None:
    """Recompute these conversations' facts from their raw rows and move the rollups by the
    difference (a deleted conversation's facts go, and its counts with them)."""
    if not ids:
        return
    for statement in RECOMPUTE:
        await conn.execute(statement, ids)


# --- The full rebuild -------------------------------------------------------------------------

FACT_TABLES = ("report_cycles", "report_messages", "report_failures")
ROLLUP_TABLES = ("report_rollups", "report_failure_rollups")


async def truncate(conn: Conn) -> None:
    await conn.execute(f"TRUNCATE {', '.join(FACT_TABLES + ROLLUP_TABLES)}, report_dirty")


async def insert_facts(conn: Conn, ids: list[UUID]) -> None:
    """These conversations' facts, with no old ones to replace (the rebuild's chunks)."""
    for table, columns, raw in (
        ("report_cycles", CYCLE_COLUMNS, CYCLES_SQL),
        ("report_messages", MESSAGE_COLUMNS, MESSAGES_SQL),
        ("report_failures", FAILURE_COLUMNS, FAILURES_SQL),
    ):
        await conn.execute(f"INSERT INTO {table} ({columns}) {raw}", ids)


async def sum_rollups(conn: Conn) -> None:
    """The rollups summed from all the facts (after truncate and insert_facts)."""
    await conn.execute(
        _rollup_upsert(
            f"{cycle_points('report_cycles')} UNION ALL {message_points('report_messages')}"
        )
    )
    await conn.execute(_failure_upsert(failure_points("report_failures")))


async def conversation_ids(conn: Conn, after: UUID | None, limit: int) -> list[UUID]:
    """The next `limit` conversation ids after `after`, in id order (the rebuild's chunks)."""
    rows = await conn.fetch(
        "SELECT id FROM conversations WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
        after,
        limit,
    )
    return [r["id"] for r in rows]


async def changed_since_ids(
    conn: Conn, since: object, after: UUID | None, limit: int
) -> list[UUID]:
    """Conversations with a message, change or fact at or after `since` (rebuild --since):
    those still existing, then those whose facts outlived them."""
    rows = await conn.fetch(
        """
        SELECT id FROM (
            SELECT id FROM conversations WHERE last_message_at >= $1 OR updated_at >= $1
            UNION
            SELECT conversation_id FROM report_cycles
             WHERE opened_at >= $1 OR resolved_at >= $1 OR first_response_at >= $1
        ) x WHERE $2::uuid IS NULL OR id > $2 ORDER BY id LIMIT $3
        """,
        since,
        after,
        limit,
    )
    return [r["id"] for r in rows]


async def count_conversations(conn: Conn) -> int:
    value: int = await conn.fetchval("SELECT count(*) FROM conversations")
    return value


# --- What the consumer reads ------------------------------------------------------------------


async def lock_position(conn: Conn) -> int | None:
    """The consumer's position, locked for this transaction; None while another worker (or
    a rebuild) holds it."""
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


async def lock_position_wait(conn: Conn) -> int:
    """The position, waiting for the worker's batch in flight (the rebuild)."""
    await conn.execute(
        "INSERT INTO event_consumers (name, position) VALUES ($1, 0) ON CONFLICT DO NOTHING",
        CONSUMER,
    )
    value: int = await conn.fetchval(
        "SELECT position FROM event_consumers WHERE name = $1 FOR UPDATE", CONSUMER
    )
    return value


async def touched_between(conn: Conn, after: int, upto: int) -> list[UUID]:
    """The conversations the events after < seq <= upto concern: named by the event, or,
    for a deleted or merged-away contact, those its facts still name."""
    rows = await conn.fetch(
        """
        WITH e AS (
            SELECT type, data, COALESCE(conversation_id,
                                        (data->'conversation'->>'id')::uuid) AS conversation_id
              FROM event_outbox WHERE seq > $1 AND seq <= $2
        )
        SELECT conversation_id AS id FROM e WHERE conversation_id IS NOT NULL
        UNION  -- a policy's hours or targets changed: the figures under it
        SELECT c.id FROM e JOIN conversations c ON c.sla_policy_id = (e.data->>'id')::uuid
         WHERE e.type = 'sla_policy.updated'
        UNION
        SELECT rc.conversation_id FROM e JOIN report_cycles rc
            ON rc.contact_id = CASE e.type
                   WHEN 'contact.deleted' THEN (e.data->>'id')::uuid
                   WHEN 'contact.merged' THEN (e.data->>'merged_contact_id')::uuid END
         WHERE e.type IN ('contact.deleted', 'contact.merged')
        """,
        after,
        upto,
    )
    return sorted(r["id"] for r in rows)


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
) -> None:
    if not rows:
        return
    ids, cycles, frt, resolution = (list(c) for c in zip(*rows, strict=True))
    await conn.execute(
        """
        UPDATE report_cycles rc SET frt_business = v.frt, resolution_business = v.res
          FROM unnest($1::uuid[], $2::int[], $3::float8[], $4::float8[]) AS v(id, cycle, frt, res)
         WHERE rc.conversation_id = v.id AND rc.cycle = v.cycle
        """,
        ids,
        cycles,
        frt,
        resolution,
    )
