"""SQL of the queue of WhatsApp read receipts (table read_receipts, migration 0003): queued
when an agent opens a conversation (conversations/service.py), sent by the worker
(messages/receipts.py) under a lease."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn


async def queue_read_receipt(conn: Conn, conversation_id: UUID) -> bool:
    """Queue the read receipt of a WhatsApp conversation's latest inbound message (replacing
    a queued one); False when there is nothing to mark (not WhatsApp, no account, no
    inbound message with a WhatsApp id)."""
    queued: bool = await conn.fetchval(
        """
        WITH latest AS (
            SELECT c.id, c.integration_account_id, m.channel_message_id
              FROM conversations c
              JOIN LATERAL (SELECT x.channel_message_id FROM messages x
                             WHERE x.conversation_id = c.id AND x.direction = 'inbound'
                               AND x.channel_message_id IS NOT NULL
                             ORDER BY x.created_at DESC, x.id DESC LIMIT 1) m ON true
             WHERE c.id = $1 AND c.channel = 'whatsapp' AND c.integration_account_id IS NOT NULL
        ), q AS (
            INSERT INTO read_receipts (conversation_id, integration_account_id, channel_message_id)
            SELECT id, integration_account_id, channel_message_id FROM latest
            ON CONFLICT (conversation_id) DO UPDATE
               SET integration_account_id = EXCLUDED.integration_account_id,
                   channel_message_id = EXCLUDED.channel_message_id,
                   attempts = 0, next_attempt_at = now(), created_at = now()
            RETURNING 1)
        SELECT EXISTS (SELECT 1 FROM q)
        """,
        conversation_id,
    )
    return queued


async def claim_read_receipts(
    conn: Conn, limit: int, lease_seconds: float, owner: int | None = None
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        UPDATE read_receipts r
           SET attempts = r.attempts + 1, next_attempt_at = now() + make_interval(secs => $2),
               claimed_by = $3
         WHERE r.conversation_id IN (SELECT d.conversation_id FROM read_receipts d
                                      WHERE d.next_attempt_at <= now()
                                      ORDER BY d.next_attempt_at LIMIT $1
                                      FOR UPDATE SKIP LOCKED)
        RETURNING r.conversation_id, r.integration_account_id, r.channel_message_id, r.attempts
        """,
        limit,
        lease_seconds,
        owner,
    )


async def finish_read_receipt(conn: Conn, receipt: asyncpg.Record) -> None:
    """Done (sent, or given up); a newer receipt queued meanwhile stays."""
    await conn.execute(
        "DELETE FROM read_receipts WHERE conversation_id = $1 AND channel_message_id = $2 "
        "AND attempts = $3",
        receipt["conversation_id"],
        receipt["channel_message_id"],
        receipt["attempts"],
    )


async def retry_read_receipt(conn: Conn, receipt: asyncpg.Record, delay_seconds: float) -> None:
    await conn.execute(
        "UPDATE read_receipts SET next_attempt_at = now() + make_interval(secs => $4), "
        "claimed_by = NULL "
        "WHERE conversation_id = $1 AND channel_message_id = $2 AND attempts = $3",
        receipt["conversation_id"],
        receipt["channel_message_id"],
        receipt["attempts"],
        delay_seconds,
    )
