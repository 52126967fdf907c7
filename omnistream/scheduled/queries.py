"""SQL of scheduled messages, and the batched statements the worker sends them with."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.conversations.queries import COLUMNS as CONVERSATION_COLUMNS
from omnistream.conversations.visibility import Scope, visible_sql
from omnistream.db.pool import Conn
from omnistream.messages.queries import COLUMNS as MESSAGE_COLUMNS
from omnistream.messages.queries import MEDIA_REF

COLUMNS = (
    "s.id, s.conversation_id, s.agent_id, s.msg_type, s.content_json, s.scheduled_at, "
    "s.status, s.message_id, s.error, s.late, s.note, s.processed_at, s.created_at, "
    "s.updated_at"
)
# Who may see an event about it: its conversation's current state, joined as `c`.
AUDIENCE = "c.division_id AS audience_division_id, c.assigned_agent_id AS audience_agent_id"
WAKE_CHANNEL = "omnistream_scheduled"  # wakes the scheduled loop when a time is set


async def wake(conn: Conn) -> None:
    """Delivered on commit only: the loop then re-reads the next due time."""
    await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)


async def insert(
    conn: Conn,
    conversation_id: UUID,
    agent_id: UUID,
    msg_type: str,
    content: dict[str, Any],
    scheduled_at: datetime,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH s AS (
            INSERT INTO scheduled_messages (conversation_id, agent_id, msg_type, content_json,
                                            scheduled_at)
            VALUES ($1, $2, $3, $4, $5) RETURNING *)
        SELECT {COLUMNS}, {AUDIENCE} FROM s JOIN conversations c ON c.id = s.conversation_id
        """,
        conversation_id,
        agent_id,
        msg_type,
        content,
        scheduled_at,
    )
    assert row is not None
    return row


async def get_visible(
    conn: Conn, scope: Scope, scheduled_id: UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    """The row if the caller may see its conversation. Locked: an edit or cancel waits for
    a worker that has claimed it (and then finds it sent), and the other way round."""
    lock = " FOR UPDATE OF s" if for_update else ""
    return await conn.fetchrow(
        f"""
        SELECT {COLUMNS}, {AUDIENCE}
          FROM scheduled_messages s JOIN conversations c ON c.id = s.conversation_id
         WHERE s.id = $1 AND {visible_sql("c", 2, 3, 4)}{lock}
        """,
        scheduled_id,
        *scope.params(),
    )


async def update(
    conn: Conn,
    scheduled_id: UUID,
    *,
    status: str | None = None,
    msg_type: str | None = None,
    content: dict[str, Any] | None = None,
    scheduled_at: datetime | None = None,
) -> asyncpg.Record | None:
    """Change a pending row (None: keep the value); None when it is no longer pending."""
    return await conn.fetchrow(
        f"""
        WITH s AS (
            UPDATE scheduled_messages
               SET status = COALESCE($2, status), msg_type = COALESCE($3, msg_type),
                   content_json = COALESCE($4, content_json),
                   scheduled_at = COALESCE($5, scheduled_at), updated_at = now()
             WHERE id = $1 AND status = 'pending'
            RETURNING *)
        SELECT {COLUMNS}, {AUDIENCE} FROM s JOIN conversations c ON c.id = s.conversation_id
        """,
        scheduled_id,
        status,
        msg_type,
        content,
        scheduled_at,
    )


async def page(
    conn: Conn,
    scope: Scope,
    *,
    status: str | None,
    conversation_id: UUID | None,
    agent_id: UUID | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
    ascending: bool,
) -> list[asyncpg.Record]:
    """One page in (scheduled_at, id) order, of conversations the caller may see."""
    cmp, direction = (">", "ASC") if ascending else ("<", "DESC")
    return await conn.fetch(
        f"""
        SELECT {COLUMNS}
          FROM scheduled_messages s JOIN conversations c ON c.id = s.conversation_id
         WHERE {visible_sql("c", 1, 2, 3)}
           AND ($4::text IS NULL OR s.status = $4)
           AND ($5::uuid IS NULL OR s.conversation_id = $5)
           AND ($6::uuid IS NULL OR s.agent_id = $6)
           AND ($7::timestamptz IS NULL OR (s.scheduled_at, s.id) {cmp} ($7, $8::uuid))
         ORDER BY s.scheduled_at {direction}, s.id {direction}
         LIMIT $9
        """,
        *scope.params(),
        status,
        conversation_id,
        agent_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


# The worker ---------------------------------------------------------------------------------


async def seconds_to_next_due(conn: Conn) -> float | None:
    """Seconds (on the database's clock) until the earliest pending one is due; negative when
    one is overdue; None when nothing is pending."""
    value: float | None = await conn.fetchval(
        "SELECT extract(epoch FROM min(scheduled_at) - clock_timestamp())::float8 "
        "FROM scheduled_messages WHERE status = 'pending'"
    )
    return value


async def claim_due(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """Lock up to `limit` due pending rows, oldest first (the same instant: in the order they
    were scheduled; index scheduled_messages_due_order_idx). SKIP LOCKED: concurrent workers take
    disjoint rows, and a row an agent is editing or cancelling right now waits for the next
    tick. `overdue_s`: how long past its time, on the database's clock; `agent_active`: whether
    the agent who scheduled it is still active (NULL: the agent was deleted). The agent's row
    is read, not locked: a deactivation racing the tick is seen by one or the other."""
    return await conn.fetch(
        """
        SELECT s.id, s.conversation_id, s.agent_id, s.msg_type, s.content_json, s.scheduled_at,
               extract(epoch FROM now() - s.scheduled_at)::float8 AS overdue_s,
               (SELECT a.is_active FROM agents a WHERE a.id = s.agent_id) AS agent_active
          FROM scheduled_messages s
         WHERE s.status = 'pending' AND s.scheduled_at <= now()
         ORDER BY s.scheduled_at, s.created_at, s.id
         LIMIT $1
           FOR UPDATE SKIP LOCKED
        """,
        limit,
    )


async def lock_conversations(conn: Conn, ids: list[UUID]) -> list[asyncpg.Record]:
    """Lock in id order, as every batch does (two batches sharing conversations queue instead
    of deadlocking); replies to one conversation serialise with agents' replies."""
    return await conn.fetch(
        f"""
        SELECT {CONVERSATION_COLUMNS} FROM conversations c
         WHERE c.id = ANY($1::uuid[]) ORDER BY c.id FOR UPDATE
        """,
        ids,
    )


async def insert_replies(
    conn: Conn,
    *,
    ids: list[UUID],
    conversation_ids: list[UUID],
    channels: list[str],
    types: list[str],
    contents: list[str],  # JSON text
    reply_to_ids: list[UUID | None],
    media_ids: list[UUID | None],
    sender_agent_ids: list[UUID | None],
) -> list[asyncpg.Record]:
    """Pending outbound messages as messages.queries.insert stores a reply (the outbound
    sender picks them up), many in one statement. created_at grows by a microsecond along
    the list, so the sender keeps list order within a conversation even when rows are
    inserted within the same microsecond. The conversations move in a statement of their
    own (move_conversations). Returned in list order."""
    return await conn.fetch(
        f"""
        WITH t AS (SELECT clock_timestamp() AS at), m AS (
            INSERT INTO messages (id, conversation_id, channel, direction, type, content,
                                  reply_to_id, media_id, status, sender_agent_id,
                                  next_attempt_at, created_at)
            SELECT i.id, i.conversation_id, i.channel, 'outbound', i.type, i.content::jsonb,
                   i.reply_to_id, i.media_id, 'pending', i.agent_id, now(),
                   t.at + i.ord * interval '1 microsecond'
              FROM t, unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                             $6::uuid[], $7::uuid[], $8::uuid[])
                      WITH ORDINALITY AS i(id, conversation_id, channel, type, content,
                                           reply_to_id, media_id, agent_id, ord)
            RETURNING *)
        SELECT {MESSAGE_COLUMNS}, {MEDIA_REF}
          FROM m LEFT JOIN media md ON md.id = m.media_id
         ORDER BY m.created_at
        """,
        ids,
        conversation_ids,
        channels,
        types,
        contents,
        reply_to_ids,
        media_ids,
        sender_agent_ids,
    )


async def move_conversations(
    conn: Conn, ids: list[UUID], newest_at: list[datetime], previews: list[str]
) -> list[asyncpg.Record]:
    """After insert_replies, per conversation (its newest new message's time and preview):
    the last message moves forward (never back); outbound messages leave unread_count,
    last_inbound_at and the status alone, as a reply does."""
    return await conn.fetch(
        f"""
        WITH c AS (
            UPDATE conversations c
               SET last_message_preview = CASE WHEN n.at >= c.last_message_at THEN n.preview
                                               ELSE c.last_message_preview END,
                   last_message_at = GREATEST(c.last_message_at, n.at),
                   updated_at = now()
              FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS n(id, at, preview)
             WHERE c.id = n.id
            RETURNING c.*)
        SELECT {CONVERSATION_COLUMNS} FROM c
        """,
        ids,
        newest_at,
        previews,
    )


async def finish(
    conn: Conn,
    ids: list[UUID],
    statuses: list[str],
    message_ids: list[UUID | None],
    errors: list[str | None],
    late: list[bool],
    notes: list[str | None],
) -> list[asyncpg.Record]:
    """Record the outcome of claimed rows (still locked by this transaction)."""
    return await conn.fetch(
        f"""
        WITH s AS (
            UPDATE scheduled_messages s
               SET status = v.status, message_id = v.message_id, error = v.error,
                   late = v.late, note = v.note, processed_at = now(), updated_at = now()
              FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::bool[],
                          $6::text[]) AS v(id, status, message_id, error, late, note)
             WHERE s.id = v.id AND s.status = 'pending'
            RETURNING s.*)
        SELECT {COLUMNS}, {AUDIENCE} FROM s JOIN conversations c ON c.id = s.conversation_id
        """,
        ids,
        statuses,
        message_ids,
        errors,
        late,
        notes,
    )


async def log_activity(
    conn: Conn,
    actions: list[str],
    target_ids: list[UUID],
    metadata: list[str],  # JSON text
) -> None:
    """The worker's activity-log entries, one statement per batch (agent: none, the system
    acted; the scheduling agent is in the metadata)."""
    await conn.execute(
        """
        INSERT INTO activity_logs (agent_id, action, target_type, target_id, metadata_json)
        SELECT NULL, a.action, 'scheduled_message', a.target_id, a.metadata::jsonb
          FROM unnest($1::text[], $2::uuid[], $3::text[]) AS a(action, target_id, metadata)
        """,
        actions,
        target_ids,
        metadata,
    )
