"""SQL of the event outbox."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from omnistream.conversations.visibility import Scope, visible_sql
from omnistream.db.pool import Conn
from omnistream.events.envelope import ENVELOPE_COLUMNS

OUTBOX_WAKE_CHANNEL = "omnistream_outbox"  # wakes the dispatcher after a commit


async def insert(
    conn: Conn,
    event_type: str,
    data: dict[str, Any],
    actor: dict[str, Any] | None,
    conversation_id: UUID | None,
    audience: list[dict[str, Any]],
    version: int,
) -> None:
    # The wake-up in the same statement (one round trip, not two: a bulk action writes a
    # thousand events). Delivered only if the transaction commits; repeated payloads in one
    # transaction collapse to one.
    await conn.execute(
        "INSERT INTO event_outbox (type, data, actor, conversation_id, audience, version) "
        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING pg_notify($7, '')",
        event_type,
        data,
        actor,
        conversation_id,
        audience,
        version,
        OUTBOX_WAKE_CHANNEL,
    )


async def insert_many(
    conn: Conn,
    event_types: list[str],
    data: list[str],
    actors: list[str],
    conversation_ids: list[UUID | None],
    audiences: list[str],
    version: int,
) -> None:
    """Many events in one statement (JSON given as text), in list order; one wake-up."""
    await conn.execute(
        """
        INSERT INTO event_outbox (type, data, actor, conversation_id, audience, version)
        SELECT t, d::jsonb, a::jsonb, c, au::jsonb, $6
          FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[])
               WITH ORDINALITY AS e(t, d, a, c, au, ord)
         ORDER BY ord
        """,
        event_types,
        data,
        actors,
        conversation_ids,
        audiences,
        version,
    )
    await conn.execute("SELECT pg_notify($1, '')", OUTBOX_WAKE_CHANNEL)


# Publishing ------------------------------------------------------------------------------

EVENTS_CHANNEL = "omnistream_events"  # payload: the highest seq just published
# Held (session level) by the one dispatcher that publishes, and taken (transaction level)
# by every publish tick, so two publishers can never interleave their seqs.
PUBLISHER_LOCK_ID = 0x6F6D6E6964697370


async def try_lead(conn: Conn) -> bool:
    value: bool = await conn.fetchval("SELECT pg_try_advisory_lock($1)", PUBLISHER_LOCK_ID)
    return value


async def resign(conn: Conn) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", PUBLISHER_LOCK_ID)


async def lock_publisher(conn: Conn) -> None:
    """Waits for any other publish tick to commit (its own statement: the next one then
    sees that commit in READ COMMITTED)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", PUBLISHER_LOCK_ID)


async def publish_batch(conn: Conn, limit: int) -> tuple[int, int | None, list[float]]:
    """Number the oldest unpublished rows in pos order; (count, highest seq, each row's
    seconds from occurred_at to its publication: the dispatch lag metric).

    nextval runs after the ORDER BY (a volatile target list is evaluated after the sort),
    so within a batch seq follows pos. statement_timestamp(): taken after the lock wait,
    so published_at grows with seq.
    """
    row = await conn.fetchrow(
        """
        WITH pending AS MATERIALIZED (
            SELECT pos FROM event_outbox WHERE seq IS NULL
             ORDER BY pos LIMIT $1 FOR UPDATE SKIP LOCKED
        ), numbered AS MATERIALIZED (
            SELECT pos, nextval('event_outbox_seq') AS seq FROM pending ORDER BY pos
        ), done AS (
            UPDATE event_outbox o SET seq = n.seq, published_at = statement_timestamp()
              FROM numbered n WHERE o.pos = n.pos
            RETURNING o.seq, extract(epoch FROM o.published_at - o.occurred_at)::float8 AS lag
        )
        SELECT count(*)::int AS n, max(seq) AS top, array_agg(lag) AS lags FROM done
        """,
        limit,
    )
    assert row is not None
    return row["n"], row["top"], row["lags"] or []


async def notify_published(conn: Conn, top: int) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", EVENTS_CHANNEL, str(top))


# Reading published events ----------------------------------------------------------------


async def max_seq(conn: Conn) -> int:
    value: int = await conn.fetchval(
        "SELECT COALESCE(max(seq), 0) FROM event_outbox WHERE seq IS NOT NULL"
    )
    return value


async def oldest_seq(conn: Conn) -> int | None:
    value: int | None = await conn.fetchval(
        "SELECT min(seq) FROM event_outbox WHERE seq IS NOT NULL"
    )
    return value


async def published_after(conn: Conn, after: int, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {ENVELOPE_COLUMNS} FROM event_outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
        after,
        limit,
    )


# The visibility rule over an event's audience (conversations/visibility.py), in SQL: the
# same answers as Scope.can_see_any. $3 role, $4 agent id, $5 division ids. An audience of
# recipients (visibility.recipient) reaches those agents alone.
_VISIBLE_AUDIENCE = f"""
    (CASE WHEN audience -> 0 ? 'recipient'
          THEN EXISTS (SELECT 1 FROM jsonb_array_elements(audience) AS r
                        WHERE (r ->> 'recipient')::uuid = $4::uuid)
          ELSE ($3::text = 'admin'
     OR (audience = '[]'::jsonb AND $3::text = 'supervisor')
     OR EXISTS (SELECT 1 FROM jsonb_to_recordset(audience)
                         AS s(division_id uuid, assigned_agent_id uuid, staff boolean,
                              admins boolean)
                 WHERE CASE WHEN s.admins THEN false
                            WHEN s.staff THEN $3::text = 'supervisor'
                            ELSE {visible_sql("s", 3, 4, 5)} END)) END)
"""


async def visible_between(
    conn: Conn, scope: Scope, after: int, upto: int, limit: int
) -> list[asyncpg.Record]:
    """Published events with after < seq <= upto that the scope may see, in seq order."""
    return await conn.fetch(
        f"SELECT {ENVELOPE_COLUMNS} FROM event_outbox "
        f"WHERE seq > $1 AND seq <= $2 AND {_VISIBLE_AUDIENCE} ORDER BY seq LIMIT $6",
        after,
        upto,
        *scope.params(),
        limit,
    )


# Retention -------------------------------------------------------------------------------


async def purge_published(conn: Conn, older_than_hours: int) -> int:
    """Published events older than the retention (never an unpublished one, nor one an
    active consumer, e.g. the outgoing webhooks' fan-out, has not passed yet).

    published_at >= occurred_at, so the occurred_at bound only lets the index help.
    """
    result: str = await conn.execute(
        "DELETE FROM event_outbox WHERE published_at < now() - make_interval(hours => $1) "
        "AND occurred_at < now() - make_interval(hours => $1) "
        "AND seq <= (SELECT COALESCE(min(position), 9223372036854775807) FROM event_consumers "
        "            WHERE is_active)",
        older_than_hours,
    )
    return int(result.rsplit(maxsplit=1)[-1])
