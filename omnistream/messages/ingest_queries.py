"""SQL of batched inbound ingestion: a whole batch of inbound messages in a few statements.

The one-message statements (messages.queries.insert and friends) cost a round trip each;
at thousands of messages a second the round trips, not the work, are the bill.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.conversations.queries import COLUMNS as CONVERSATION_COLUMNS
from omnistream.db.pool import Conn
from omnistream.messages.queries import COLUMNS

# Inbound batches never carry files (those take the one-message path).
_NO_MEDIA = (
    "NULL::text AS media_mime_type, NULL::text AS media_filename, "
    "NULL::bigint AS media_size_bytes, NULL::text AS media_status"
)


async def latest_conversations_locked(
    conn: Conn, contact_ids: list[UUID], channels: list[str], account_ids: list[UUID | None]
) -> list[asyncpg.Record]:
    """Each (contact, channel, account)'s most recent conversation, locked in id order (two
    batches locking overlapping conversations queue instead of deadlocking). Locking re-reads
    the newest committed version of each row."""
    return await conn.fetch(
        f"""
        SELECT {CONVERSATION_COLUMNS} FROM conversations c
         WHERE c.id IN (
            SELECT l.id
              FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS k(contact_id, channel, account)
              CROSS JOIN LATERAL (
                  SELECT x.id FROM conversations x
                   WHERE x.contact_id = k.contact_id AND x.channel = k.channel
                     AND x.integration_account_id IS NOT DISTINCT FROM k.account
                   ORDER BY x.last_message_at DESC LIMIT 1) AS l)
         ORDER BY c.id
           FOR UPDATE
        """,
        contact_ids,
        channels,
        account_ids,
    )


async def insert_conversations(
    conn: Conn, contact_ids: list[UUID], channels: list[str], account_ids: list[UUID | None]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        WITH c AS (INSERT INTO conversations (contact_id, channel, integration_account_id)
                   SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[])
                   RETURNING *)
        SELECT {CONVERSATION_COLUMNS} FROM c
        """,
        contact_ids,
        channels,
        account_ids,
    )


async def insert_inbound(
    conn: Conn,
    *,
    conversation_ids: list[UUID],
    channels: list[str],
    channel_message_ids: list[str],
    types: list[str],
    contents: list[str],  # JSON text
    reply_to_channel_message_ids: list[str | None],
    occurred_at: list[datetime],
) -> list[asyncpg.Record]:
    """Insert inbound messages, in list order; one already stored (channel,
    channel_message_id) is skipped: no row comes back for it.

    The conversations move in a statement of their own (move_conversations): in the same
    statement the foreign-key checks of the new rows would meet the conversations' new row
    versions, which costs them about four times as much.
    """
    return await conn.fetch(
        f"""
        WITH m AS (
            INSERT INTO messages (conversation_id, channel, channel_message_id, direction, type,
                                  content, reply_to_id, status, created_at)
            SELECT i.conversation_id, i.channel, i.cmid, 'inbound', i.type, i.content::jsonb,
                   (SELECT r.id FROM messages r
                     WHERE r.channel = i.channel AND r.channel_message_id = i.reply_cmid),
                   'received', LEAST(i.occurred_at, clock_timestamp())
              FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                          $6::text[], $7::timestamptz[])
                   WITH ORDINALITY AS i(conversation_id, channel, cmid, type, content,
                                        reply_cmid, occurred_at, ord)
             ORDER BY i.ord
            ON CONFLICT (channel, channel_message_id) WHERE channel_message_id IS NOT NULL
            DO NOTHING
            RETURNING *
        )
        SELECT {COLUMNS}, {_NO_MEDIA} FROM m
        """,
        conversation_ids,
        channels,
        channel_message_ids,
        types,
        contents,
        reply_to_channel_message_ids,
        occurred_at,
    )


async def move_conversations(
    conn: Conn,
    conversation_ids: list[UUID],
    newest_at: list[datetime],
    previews: list[str],
    added: list[int],
    reopens: list[bool],
    wakes: list[bool],
) -> list[asyncpg.Record]:
    """After insert_inbound, per conversation (its newest new message's time and preview,
    how many were added, whether it reopens): unread_count grows, last_inbound_at moves
    forward, and last_message_at / preview move to the newest new message unless a later
    message is stored already (a late webhook never rewinds them); a resolved conversation
    reopens if `reopens` says so (not for CSAT answers alone), and only such a one gets an
    activity_logs row (agent NULL, by the customer), so
    the timeline's history shows the reopen; the same statement, no extra round trip.
    `wakes` (a subset of `reopens`): a snoozed conversation the customer wrote to opens
    again (its snooze ends, unsnooze_conversation in the log)."""
    return await conn.fetch(
        f"""
        WITH c AS (
            UPDATE conversations c
               SET last_message_at = CASE WHEN n.is_last THEN n.at ELSE c.last_message_at END,
                   last_message_preview = CASE WHEN n.is_last THEN n.preview
                                               ELSE c.last_message_preview END,
                   last_inbound_at = GREATEST(c.last_inbound_at, n.at),
                   unread_count = c.unread_count + n.added,
                   status = CASE WHEN c.status IN ('resolved', 'snoozed') AND n.reopens
                                 THEN 'open' ELSE c.status END,
                   resolved_at = CASE WHEN c.status = 'resolved' AND n.reopens THEN NULL
                                      ELSE c.resolved_at END,
                   snoozed_until = CASE WHEN n.wakes THEN NULL ELSE c.snoozed_until END,
                   snoozed_at = CASE WHEN n.wakes THEN NULL ELSE c.snoozed_at END,
                   snoozed_by = CASE WHEN n.wakes THEN NULL ELSE c.snoozed_by END,
                   updated_at = now()
              FROM (SELECT t.*, NOT EXISTS (SELECT 1 FROM messages x
                                             WHERE x.conversation_id = t.id
                                               AND x.created_at > t.at) AS is_last
                      FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::int[],
                                  $5::bool[], $6::bool[])
                           AS t(id, at, preview, added, reopens, wakes)) AS n
             WHERE c.id = n.id
            RETURNING c.*, n.reopens, n.wakes
        ), logged AS (
            INSERT INTO activity_logs (action, target_type, target_id, metadata_json)
            SELECT CASE WHEN c.wakes THEN 'unsnooze_conversation'
                        ELSE 'reopen_conversation' END, 'conversation', c.id,
                   jsonb_build_object('by', 'customer', 'contact_id', c.contact_id)
              FROM c WHERE c.reopens
        )
        SELECT {CONVERSATION_COLUMNS} FROM c
        """,
        conversation_ids,
        newest_at,
        previews,
        added,
        reopens,
        wakes,
    )


async def stored(
    conn: Conn, channels: list[str], channel_message_ids: list[str]
) -> set[tuple[str, str]]:
    """Which of these (channel, channel message id) are stored already."""
    rows = await conn.fetch(
        """
        SELECT m.channel, m.channel_message_id FROM messages m
          JOIN unnest($1::text[], $2::text[]) AS t(channel, cmid)
            ON m.channel = t.channel AND m.channel_message_id = t.cmid
        """,
        channels,
        channel_message_ids,
    )
    return {(r["channel"], r["channel_message_id"]) for r in rows}
