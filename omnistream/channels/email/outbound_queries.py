"""SQL of the email sender (outbound.py): what a reply needs to know about its thread."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn


async def thread_of(
    conn: Conn, conversation_id: UUID, message_id: UUID, max_ids: int
) -> asyncpg.Record:
    """The thread before message `message_id` (so that every attempt to send it composes
    the same mail), on the timeline index:
    - inbound_subject: the subject of the latest inbound mail that has one;
    - any_subject: the subject of the latest message that has one (e.g. our new thread's);
    - message_ids: the channel ids (Message-IDs) of the earlier messages, oldest first:
      the first one and the latest `max_ids - 1` (the root and the recent thread, as
      References keeps them); the last one is the message replied to."""
    row = await conn.fetchrow(
        """
        WITH me AS (SELECT created_at, id FROM messages WHERE id = $2),
        earlier AS (
            SELECT m.channel_message_id, m.direction, m.content, m.created_at, m.id
              FROM messages m, me
             WHERE m.conversation_id = $1 AND (m.created_at, m.id) < (me.created_at, me.id)
        ), with_id AS (
            SELECT channel_message_id, created_at, id FROM earlier
             WHERE channel_message_id IS NOT NULL
        )
        SELECT
            (SELECT btrim(content->>'subject') FROM earlier
              WHERE direction = 'inbound' AND btrim(content->>'subject') <> ''
              ORDER BY created_at DESC, id DESC LIMIT 1) AS inbound_subject,
            (SELECT btrim(content->>'subject') FROM earlier
              WHERE btrim(content->>'subject') <> ''
              ORDER BY created_at DESC, id DESC LIMIT 1) AS any_subject,
            ARRAY(SELECT t.channel_message_id FROM (
                      (SELECT * FROM with_id ORDER BY created_at, id LIMIT 1)
                      UNION
                      (SELECT * FROM with_id ORDER BY created_at DESC, id DESC LIMIT $3 - 1)
                  ) t ORDER BY t.created_at, t.id) AS message_ids
        """,
        conversation_id,
        message_id,
        max_ids,
    )
    assert row is not None  # an aggregate row always comes back
    return row


async def attached_files(
    conn: Conn, conversation_id: UUID, media_ids: list[UUID]
) -> list[asyncpg.Record]:
    """The stored files a reply attaches (content.attachments' media ids), of its
    conversation only."""
    return await conn.fetch(
        "SELECT id, status, filename, mime_type, storage_path FROM media "
        "WHERE id = ANY($1::uuid[]) AND conversation_id = $2",
        media_ids,
        conversation_id,
    )
