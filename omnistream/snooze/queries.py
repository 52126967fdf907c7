"""SQL of snoozes: setting and ending one, the wake loop's claim, the agent's time zone."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.conversations.queries import COLUMNS
from omnistream.db.pool import Conn

WAKE_CHANNEL = "omnistream_snooze"  # wakes the snooze loop when a wake time is set


async def wake_loop(conn: Conn) -> None:
    """Delivered on commit only: the loop then re-reads the next due time."""
    await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)


async def agent_timezone(conn: Conn, agent_id: UUID) -> str:
    value: str | None = await conn.fetchval("SELECT timezone FROM agents WHERE id = $1", agent_id)
    return value or "UTC"


async def set_agent_timezone(conn: Conn, agent_id: UUID, timezone: str) -> None:
    await conn.execute("UPDATE agents SET timezone = $2 WHERE id = $1", agent_id, timezone)


async def snooze(
    conn: Conn, conversation_id: UUID, until: datetime | None, agent_id: UUID | None
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH c AS (UPDATE conversations
                      SET status = 'snoozed', snoozed_until = $2, snoozed_at = now(),
                          snoozed_by = $3, updated_at = now()
                    WHERE id = $1 RETURNING *)
        SELECT {COLUMNS} FROM c
        """,
        conversation_id,
        until,
        agent_id,
    )
    assert row is not None
    return row


async def unsnooze(conn: Conn, conversation_id: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH c AS (UPDATE conversations
                      SET status = 'open', snoozed_until = NULL, snoozed_at = NULL,
                          snoozed_by = NULL, updated_at = now()
                    WHERE id = $1 RETURNING *)
        SELECT {COLUMNS} FROM c
        """,
        conversation_id,
    )
    assert row is not None
    return row


async def wake_due(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """Opens up to `limit` due snoozes, earliest first, and writes their activity entries, in
    one statement; the conversations after, each with `woke_from` (its wake time).

    FOR UPDATE SKIP LOCKED: workers racing take disjoint rows, and a row an agent or an
    inbound batch holds is left to them. A row that changed since the snapshot is re-checked
    against `status = 'snoozed'` once locked (READ COMMITTED), so a snooze another worker,
    an agent or the customer ended first is not woken again: one wake, one event."""
    return await conn.fetch(
        f"""
        WITH due AS (
            SELECT id, snoozed_until FROM conversations
             WHERE status = 'snoozed' AND snoozed_until <= now()
             ORDER BY snoozed_until, id LIMIT $1
               FOR UPDATE SKIP LOCKED
        ), c AS (
            UPDATE conversations c
               SET status = 'open', snoozed_until = NULL, snoozed_at = NULL,
                   snoozed_by = NULL, updated_at = now()
              FROM due WHERE c.id = due.id
            RETURNING c.*, due.snoozed_until AS woke_from
        ), logged AS (
            INSERT INTO activity_logs (action, target_type, target_id, metadata_json)
            SELECT 'unsnooze_conversation', 'conversation', c.id,
                   jsonb_build_object('by', 'time', 'snoozed_until', c.woke_from)
              FROM c
        )
        SELECT {COLUMNS}, c.woke_from FROM c ORDER BY c.woke_from, c.id
        """,
        limit,
    )


async def seconds_to_next_due(conn: Conn) -> float | None:
    """Seconds (on the database's clock) until the earliest snooze ends; negative when one is
    overdue; None when no snooze has a time."""
    value: float | None = await conn.fetchval(
        "SELECT extract(epoch FROM min(snoozed_until) - clock_timestamp())::float8 "
        "FROM conversations WHERE status = 'snoozed' AND snoozed_until IS NOT NULL"
    )
    return value
