"""SQL of the outbound sender: claim due messages under a lease, record each outcome.

Kept apart from queries.py (the message store) because only messages/worker.py uses it.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn
from omnistream.messages.queries import AUDIENCE, SELECT


async def claim_due(conn: Conn, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    """Claim up to `limit` due pending outbound messages (SKIP LOCKED: concurrent workers
    take disjoint sets) and lease them: attempts + 1 and next_attempt_at pushed forward, so
    a worker that dies mid-send leaves them due again once the lease runs out.

    A conversation's replies go out in the order they were written: a message waits while
    an older one of its conversation is pending and has not failed yet (not yet tried, or
    in flight). Once the older one has hit an error and waits for its retry, the later ones
    no longer wait for it (a retried message may then arrive after them).

    Each row carries what the adapter needs: recipient candidates, the file, the replied-to
    message's channel id. Ordered oldest first.
    """
    return await conn.fetch(
        """
        WITH due AS (
            SELECT d.id FROM messages d
             WHERE d.status = 'pending' AND d.direction = 'outbound'
               AND d.next_attempt_at <= now()
               AND NOT EXISTS (SELECT 1 FROM messages e
                                WHERE e.conversation_id = d.conversation_id
                                  AND e.status = 'pending' AND e.direction = 'outbound'
                                  AND e.error_code IS NULL
                                  AND (e.created_at, e.id) < (d.created_at, d.id))
             ORDER BY d.next_attempt_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED
        ), m AS (
            UPDATE messages m
               SET attempts = m.attempts + 1,
                   next_attempt_at = now() + make_interval(secs => $2)
              FROM due WHERE m.id = due.id
            RETURNING m.*
        )
        SELECT m.id, m.conversation_id, m.channel, m.type, m.content, m.attempts, m.created_at,
               c.integration_account_id, k.phone AS contact_phone, k.email AS contact_email,
               i.external_id AS contact_external_id,
               md.id AS media_id, md.storage_path, md.mime_type, md.filename, md.size_bytes,
               md.sha256, md.status AS media_status,
               r.channel_message_id AS reply_to_channel_message_id
          FROM m
          JOIN conversations c ON c.id = m.conversation_id
          JOIN contacts k ON k.id = c.contact_id
          LEFT JOIN LATERAL (SELECT ci.external_id FROM contact_identities ci
                              WHERE ci.contact_id = k.id AND ci.channel = m.channel
                              ORDER BY ci.created_at LIMIT 1) i ON true
          LEFT JOIN media md ON md.id = m.media_id
          LEFT JOIN messages r ON r.id = m.reply_to_id
         ORDER BY m.created_at, m.id
        """,
        limit,
        lease_seconds,
    )


async def mark_sent(conn: Conn, message_id: UUID, channel_message_id: str) -> asyncpg.Record | None:
    """pending -> sent with the channel's id. Wins over any lease: the channel has it."""
    return await conn.fetchrow(
        f"""
        WITH m AS (
            UPDATE messages
               SET status = 'sent', channel_message_id = $2, sent_at = now(),
                   next_attempt_at = NULL, error_code = NULL, error_reason = NULL
             WHERE id = $1 AND status = 'pending'
            RETURNING *)
        SELECT {SELECT}, {AUDIENCE}
          FROM m JOIN conversations c ON c.id = m.conversation_id
          LEFT JOIN media md ON md.id = m.media_id
        """,
        message_id,
        channel_message_id,
    )


async def mark_retry(
    conn: Conn, message_id: UUID, attempt: int, delay_seconds: float, code: str, reason: str
) -> asyncpg.Record | None:
    """Schedule the next attempt; a no-op if another worker has leased it since."""
    return await conn.fetchrow(
        f"""
        WITH m AS (
            UPDATE messages
               SET next_attempt_at = now() + make_interval(secs => $3),
                   error_code = $4, error_reason = $5
             WHERE id = $1 AND status = 'pending' AND attempts = $2
            RETURNING *)
        SELECT {SELECT}, {AUDIENCE}
          FROM m JOIN conversations c ON c.id = m.conversation_id
          LEFT JOIN media md ON md.id = m.media_id
        """,
        message_id,
        attempt,
        delay_seconds,
        code,
        reason,
    )


async def mark_failed(
    conn: Conn, message_id: UUID, attempt: int, code: str, reason: str
) -> asyncpg.Record | None:
    """pending -> failed (final); a no-op if another worker has leased it since."""
    return await conn.fetchrow(
        f"""
        WITH m AS (
            UPDATE messages
               SET status = 'failed', failed_at = now(), next_attempt_at = NULL,
                   error_code = $3, error_reason = $4
             WHERE id = $1 AND status = 'pending' AND attempts = $2
            RETURNING *)
        SELECT {SELECT}, {AUDIENCE}
          FROM m JOIN conversations c ON c.id = m.conversation_id
          LEFT JOIN media md ON md.id = m.media_id
        """,
        message_id,
        attempt,
        code,
        reason,
    )
