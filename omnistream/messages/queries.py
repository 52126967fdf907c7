"""SQL of messages and media. COLUMNS is the one message column list every query uses."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.conversations.visibility import Scope, visible_sql
from omnistream.db.pool import Conn
from omnistream.messages.enums import FAILABLE, PROGRESS

COLUMNS = (
    "m.id, m.conversation_id, m.channel, m.channel_message_id, m.direction, m.type, m.content, "
    "m.reply_to_id, m.media_id, m.status, m.sender_agent_id, m.error_code, m.error_reason, "
    "m.attempts, m.next_attempt_at, m.created_at, m.sent_at, m.delivered_at, m.read_at, "
    "m.failed_at, m.recovering_since"
)
COLUMN_NAMES = tuple(c.strip().removeprefix("m.") for c in COLUMNS.split(","))
# The attached file's description, joined as `md` (LEFT JOIN media md ON md.id = m.media_id).
MEDIA_REF = (
    "md.mime_type AS media_mime_type, md.filename AS media_filename, "
    "md.size_bytes AS media_size_bytes, md.status AS media_status"
)
SELECT = f"{COLUMNS}, {MEDIA_REF}"
# Who may see an event about the message: its conversation's current state, joined as `c`.
AUDIENCE = "c.division_id AS audience_division_id, c.assigned_agent_id AS audience_agent_id"
MEDIA_COLUMNS = (
    "id, conversation_id, uploaded_by, origin, status, filename, mime_type, size_bytes, "
    "sha256, storage_path, created_at"
)
OUTBOUND_WAKE_CHANNEL = "omnistream_outbound"  # wakes the sender after a commit
_PROGRESS = [s.value for s in PROGRESS]
_FAILABLE = [s.value for s in FAILABLE]


async def insert(
    conn: Conn,
    *,
    conversation_id: UUID,
    channel: str,
    direction: str,
    type: str,
    content: dict[str, Any],
    status: str,
    preview: str,
    channel_message_id: str | None = None,
    reply_to_id: UUID | None = None,
    reply_to_channel_message_id: str | None = None,
    media_id: UUID | None = None,
    sender_agent_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> asyncpg.Record | None:
    """Insert a message and move its conversation's counters, in one statement.

    None when (channel, channel_message_id) is already stored: a redelivery changes nothing.
    The conversation's last message / preview move only if no later message exists (a late
    webhook never rewinds them); an inbound message also moves last_inbound_at and, unless
    it is a reaction (it belongs to the message it reacts to), bumps unread_count. The row
    carries the new counters as c_* columns.
    """
    return await conn.fetchrow(
        f"""
        WITH m AS (
            INSERT INTO messages (conversation_id, channel, channel_message_id, direction, type,
                                  content, reply_to_id, media_id, status, sender_agent_id,
                                  next_attempt_at, created_at)
            VALUES ($1, $2, $3, $4, $5, $6,
                    COALESCE($7::uuid, (SELECT r.id FROM messages r
                                         WHERE r.channel = $2 AND r.channel_message_id = $8)),
                    $9, $10::text, $11,
                    CASE WHEN $10::text = 'pending' THEN now() END,
                    LEAST(COALESCE($12::timestamptz, now()), clock_timestamp()))
            ON CONFLICT (channel, channel_message_id) WHERE channel_message_id IS NOT NULL
            DO NOTHING
            RETURNING *
        ), latest AS (  -- the new row is not visible here: this looks at the earlier ones
            SELECT NOT EXISTS (SELECT 1 FROM messages x
                                WHERE x.conversation_id = m.conversation_id
                                  AND x.created_at > m.created_at) AS newest
              FROM m
        ), c AS (
            UPDATE conversations c
               SET last_message_at = CASE WHEN l.newest THEN m.created_at
                                          ELSE c.last_message_at END,
                   last_message_preview = CASE WHEN l.newest THEN $13
                                               ELSE c.last_message_preview END,
                   last_inbound_at = CASE WHEN m.direction = 'inbound'
                                          THEN GREATEST(c.last_inbound_at, m.created_at)
                                          ELSE c.last_inbound_at END,
                   unread_count = c.unread_count
                                  + (m.direction = 'inbound' AND m.type <> 'reaction')::int,
                   updated_at = now()
              FROM m, latest l
             WHERE c.id = m.conversation_id
            RETURNING c.last_message_at, c.last_message_preview, c.last_inbound_at,
                      c.unread_count, c.updated_at
        )
        SELECT {SELECT},
               c.last_message_at AS c_last_message_at,
               c.last_message_preview AS c_last_message_preview,
               c.last_inbound_at AS c_last_inbound_at,
               c.unread_count AS c_unread_count, c.updated_at AS c_updated_at
          FROM m CROSS JOIN c LEFT JOIN media md ON md.id = m.media_id
        """,
        conversation_id,
        channel,
        channel_message_id,
        direction,
        type,
        content,
        reply_to_id,
        reply_to_channel_message_id,
        media_id,
        status,
        sender_agent_id,
        occurred_at,
        preview,
    )


async def exists(conn: Conn, channel: str, channel_message_id: str) -> bool:
    value: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE channel = $1 AND channel_message_id = $2)",
        channel,
        channel_message_id,
    )
    return value


async def apply_status(
    conn: Conn,
    channel: str,
    channel_message_id: str,
    status: str,
    at: datetime,
    error_code: str | None,
    error_reason: str | None,
) -> asyncpg.Record:
    """Move an outbound message's status forward, in one statement.

    Progress only climbs PROGRESS (a late 'delivered' after 'read' is a no-op); 'failed' is
    accepted only from FAILABLE and is final. A later status fills the earlier timestamps
    it implies (read implies delivered and sent) when those receipts never came.
    Returns one row: `found` (the channel id is known) and the message columns, NULL when
    nothing changed.
    """
    row = await conn.fetchrow(
        f"""
        WITH t AS (SELECT id FROM messages WHERE channel = $1 AND channel_message_id = $2),
        m AS (
            UPDATE messages m
               SET status = $3::text,
                   sent_at = CASE WHEN $3::text IN ('sent', 'delivered', 'read')
                                  THEN COALESCE(m.sent_at, $4) ELSE m.sent_at END,
                   delivered_at = CASE WHEN $3::text IN ('delivered', 'read')
                                       THEN COALESCE(m.delivered_at, $4) ELSE m.delivered_at END,
                   read_at = CASE WHEN $3::text = 'read' THEN $4 ELSE m.read_at END,
                   failed_at = CASE WHEN $3::text = 'failed' THEN $4 ELSE m.failed_at END,
                   error_code = CASE WHEN $3::text = 'failed' THEN $5 ELSE m.error_code END,
                   error_reason = CASE WHEN $3::text = 'failed' THEN $6 ELSE m.error_reason END,
                   next_attempt_at = NULL
             WHERE m.id IN (SELECT id FROM t) AND m.direction = 'outbound'
               AND CASE WHEN $3::text = 'failed' THEN m.status = ANY($8::text[])
                        ELSE array_position($7::text[], m.status)
                             < array_position($7::text[], $3::text) END
            RETURNING m.*
        )
        SELECT EXISTS (SELECT 1 FROM t) AS found, {SELECT}, {AUDIENCE}
          FROM (SELECT 1) AS one
          LEFT JOIN m ON true
          LEFT JOIN media md ON md.id = m.media_id
          LEFT JOIN conversations c ON c.id = m.conversation_id
        """,
        channel,
        channel_message_id,
        status,
        at,
        error_code,
        error_reason,
        _PROGRESS,
        _FAILABLE,
    )
    assert row is not None
    return row


async def timeline(
    conn: Conn,
    conversation_id: UUID,
    after: tuple[datetime, UUID] | None,
    limit: int,
    *,
    ascending: bool,
) -> list[asyncpg.Record]:
    """One page of a conversation's messages in (created_at, id) order."""
    cmp, direction = (">", "ASC") if ascending else ("<", "DESC")
    return await conn.fetch(
        f"""
        SELECT {SELECT} FROM messages m LEFT JOIN media md ON md.id = m.media_id
         WHERE m.conversation_id = $1
           AND ($2::timestamptz IS NULL OR (m.created_at, m.id) {cmp} ($2, $3::uuid))
         ORDER BY m.created_at {direction}, m.id {direction}
         LIMIT $4
        """,
        conversation_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def get_visible(
    conn: Conn, scope: Scope, message_id: UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    """The message if the caller may see its conversation."""
    lock = " FOR UPDATE OF m" if for_update else ""
    return await conn.fetchrow(
        f"""
        SELECT {SELECT}, {AUDIENCE}
          FROM messages m JOIN conversations c ON c.id = m.conversation_id
          LEFT JOIN media md ON md.id = m.media_id
         WHERE m.id = $1 AND {visible_sql("c", 2, 3, 4)}{lock}
        """,
        message_id,
        *scope.params(),
    )


async def in_conversation(conn: Conn, conversation_id: UUID, message_id: UUID) -> bool:
    value: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1 AND conversation_id = $2)",
        message_id,
        conversation_id,
    )
    return value


async def retry(conn: Conn, message_id: UUID) -> asyncpg.Record | None:
    """A failed outbound message back to pending, as if new; None unless it was failed."""
    return await conn.fetchrow(
        f"""
        WITH m AS (
            UPDATE messages
               SET status = 'pending', attempts = 0, next_attempt_at = now(),
                   channel_message_id = NULL, error_code = NULL, error_reason = NULL,
                   sent_at = NULL, delivered_at = NULL, read_at = NULL, failed_at = NULL
             WHERE id = $1 AND direction = 'outbound' AND status = 'failed'
            RETURNING *)
        SELECT {SELECT}, {AUDIENCE}
          FROM m JOIN conversations c ON c.id = m.conversation_id
          LEFT JOIN media md ON md.id = m.media_id
        """,
        message_id,
    )


async def wake_sender(conn: Conn) -> None:
    """Delivered on commit only; wakes every outbound loop at once."""
    await conn.execute("SELECT pg_notify($1, '')", OUTBOUND_WAKE_CHANNEL)


# Media -----------------------------------------------------------------------------------


async def insert_media(
    conn: Conn,
    *,
    conversation_id: UUID,
    uploaded_by: UUID,
    filename: str,
    mime_type: str,
    size_bytes: int,
    sha256: str,
    storage_path: str,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        INSERT INTO media (conversation_id, uploaded_by, origin, status, filename, mime_type,
                           size_bytes, sha256, storage_path)
        VALUES ($1, $2, 'upload', 'ready', $3, $4, $5, $6, $7)
        RETURNING {MEDIA_COLUMNS}
        """,
        conversation_id,
        uploaded_by,
        filename,
        mime_type,
        size_bytes,
        sha256,
        storage_path,
    )
    assert row is not None
    return row


async def media_in_conversation(
    conn: Conn, conversation_id: UUID, media_id: UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {MEDIA_COLUMNS} FROM media WHERE id = $1 AND conversation_id = $2",
        media_id,
        conversation_id,
    )


async def media_many_in_conversation(
    conn: Conn, conversation_id: UUID, media_ids: list[UUID]
) -> list[asyncpg.Record]:
    """The media rows among `media_ids` that belong to this conversation."""
    return await conn.fetch(
        f"SELECT {MEDIA_COLUMNS} FROM media WHERE id = ANY($1::uuid[]) AND conversation_id = $2",
        media_ids,
        conversation_id,
    )


async def visible_media(conn: Conn, scope: Scope, media_id: UUID) -> asyncpg.Record | None:
    """The media row if the caller may see the conversation it belongs to."""
    return await conn.fetchrow(
        f"""
        SELECT {", ".join("md." + c.strip() for c in MEDIA_COLUMNS.split(","))}
          FROM media md JOIN conversations c ON c.id = md.conversation_id
         WHERE md.id = $1 AND {visible_sql("c", 2, 3, 4)}
        """,
        media_id,
        *scope.params(),
    )
