"""SQL of inbound webhooks: the acknowledging insert, batch claims, receipts, reactions,
messages sent from other apps, and inbound media."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn
from omnistream.messages.enums import FAILABLE, PROGRESS
from omnistream.messages.queries import AUDIENCE, SELECT

INBOUND_WAKE_CHANNEL = "omnistream_inbound"  # a webhook was acknowledged
MEDIA_WAKE_CHANNEL = "omnistream_inbound_media"  # inbound media rows wait to be fetched
_PROGRESS = [s.value for s in PROGRESS]
_FAILABLE = [s.value for s in FAILABLE]


# The webhook (hot path) ---------------------------------------------------------------------


async def acknowledge(
    conn: Conn, headers: list[str], bodies: list[bytes], signed_by: list[str]
) -> None:
    """The durable acknowledgement of verified calls: one autocommitted INSERT of them all
    (headers as JSON text; signed_by as uuid[] literals, since rows hold arrays of different
    lengths), in arrival order. The worker is woken separately (wake.py)."""
    await conn.execute(
        "INSERT INTO webhook_audit (channel, headers, body, signature_valid, signed_by) "
        "SELECT 'meta', h::jsonb, b, true, s::uuid[] "
        "FROM unnest($1::text[], $2::bytea[], $3::text[]) "
        "WITH ORDINALITY AS t(h, b, s, n) ORDER BY n",
        headers,
        bodies,
        signed_by,
    )


async def wake_inbound(conn: Conn) -> None:
    await conn.execute("SELECT pg_notify($1, '')", INBOUND_WAKE_CHANNEL)


# The inbound loop ---------------------------------------------------------------------------


async def claim(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """Due pending rows in arrival order, locked until the batch commits (SKIP LOCKED: other
    workers take the next rows)."""
    return await conn.fetch(
        """
        SELECT id, body, attempts, signed_by FROM webhook_audit
         WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= now())
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
        """,
        limit,
    )


async def finish(
    conn: Conn,
    ids: list[int],
    statuses: list[str],
    errors: list[str | None],
    delays: list[float | None],
    channels: list[str | None],
) -> None:
    """Every outcome of a batch in one statement. A row left 'pending' is retried after its
    delay; the others are done."""
    await conn.execute(
        """
        UPDATE webhook_audit w
           SET status = u.status, error = u.error, attempts = w.attempts + 1,
               channel = COALESCE(u.channel, w.channel),
               next_attempt_at = CASE WHEN u.status = 'pending'
                                      THEN now() + make_interval(secs => u.delay) END,
               processed_at = CASE WHEN u.status <> 'pending' THEN now() END
          FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[], $5::text[])
               AS u(id, status, error, delay, channel)
         WHERE w.id = u.id
        """,
        ids,
        statuses,
        errors,
        delays,
        channels,
    )


async def wake_media(conn: Conn) -> None:
    await conn.execute("SELECT pg_notify($1, '')", MEDIA_WAKE_CHANNEL)


# Messages -----------------------------------------------------------------------------------


async def insert_media(
    conn: Conn,
    *,
    mime_type: str,
    filename: str,
    sha256: str | None,
    channel_media_id: str | None,
    source_url: str | None,
) -> UUID:
    """An inbound file to fetch; its conversation is set once the message has found it."""
    value: UUID = await conn.fetchval(
        """
        INSERT INTO media (origin, status, mime_type, filename, sha256, channel_media_id,
                           source_url, next_attempt_at)
        VALUES ('inbound', 'pending', $1, $2, $3, $4, $5, now())
        RETURNING id
        """,
        mime_type,
        filename,
        sha256,
        channel_media_id,
        source_url,
    )
    return value


async def attach_media(conn: Conn, media_id: UUID, conversation_id: UUID) -> None:
    await conn.execute(
        "UPDATE media SET conversation_id = $2 WHERE id = $1", media_id, conversation_id
    )


async def drop_media(conn: Conn, media_id: UUID) -> None:
    """The message was a redelivery: its file row is not needed."""
    await conn.execute("DELETE FROM media WHERE id = $1", media_id)


async def set_reaction(
    conn: Conn, reaction_id: UUID, target_id: UUID, key: str
) -> asyncpg.Record | None:
    """Set content.reactions[key] of the target to this reaction's emoji (an empty emoji
    removes the key), unless a later reaction of the same direction is already stored.
    Returns the target (SELECT + AUDIENCE columns) when it changed."""
    return await conn.fetchrow(
        f"""
        WITH r AS (SELECT id, direction, created_at, COALESCE(content->>'emoji', '') AS emoji
                     FROM messages WHERE id = $1),
        m AS (
            UPDATE messages m
               SET content = CASE
                       WHEN r.emoji = '' THEN m.content #- ARRAY['reactions', $3::text]
                       ELSE jsonb_set(m.content, '{{reactions}}',
                                      COALESCE(m.content->'reactions', '{{}}'::jsonb)
                                      || jsonb_build_object($3::text, r.emoji))
                   END
              FROM r
             WHERE m.id = $2
               AND NOT EXISTS (SELECT 1 FROM messages x
                                WHERE x.reply_to_id = $2 AND x.type = 'reaction'
                                  AND x.direction = r.direction AND x.id <> r.id
                                  AND x.created_at > r.created_at)
               AND m.content->'reactions'->>$3::text IS DISTINCT FROM NULLIF(r.emoji, '')
            RETURNING m.*
        )
        SELECT {SELECT}, {AUDIENCE}
          FROM m JOIN conversations c ON c.id = m.conversation_id
          LEFT JOIN media md ON md.id = m.media_id
        """,
        reaction_id,
        target_id,
        key,
    )


async def mark_sent_now(conn: Conn, message_id: UUID) -> asyncpg.Record:
    """A message another app sent: it was sent when it was written."""
    row = await conn.fetchrow(
        f"""
        WITH m AS (UPDATE messages SET sent_at = created_at WHERE id = $1 RETURNING *)
        SELECT {SELECT} FROM m LEFT JOIN media md ON md.id = m.media_id
        """,
        message_id,
    )
    assert row is not None
    return row


async def exists(conn: Conn, channel: str, channel_message_id: str) -> bool:
    value: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE channel = $1 AND channel_message_id = $2)",
        channel,
        channel_message_id,
    )
    return value


async def apply_watermark(
    conn: Conn,
    *,
    channel: str,
    account_id: UUID,
    contact: str,
    status: str,
    at: datetime,
    watermark: datetime | None,
    mids: list[str],
) -> list[asyncpg.Record]:
    """Messenger / Instagram receipts: every outbound message to this contact on this channel
    and account written up to the watermark (or up to the latest of `mids` when there is no
    watermark), and the `mids` themselves, move forward to `status`. Forward only, as
    messages.queries.apply_status. Returns the changed rows (SELECT + AUDIENCE)."""
    return await conn.fetch(
        f"""
        WITH conv AS (
            SELECT c.id FROM contact_identities i
              JOIN conversations c ON c.contact_id = i.contact_id
             WHERE i.channel = $1 AND i.external_id = $3
               AND c.channel = $1 AND c.integration_account_id = $2
        ), upto AS (
            SELECT COALESCE($6::timestamptz,
                            (SELECT max(x.created_at) FROM unnest($7::text[]) AS t(mid)
                             CROSS JOIN LATERAL (  -- one index probe per id, whatever the plan
                                 SELECT y.created_at FROM messages y
                                  WHERE y.channel = $1 AND y.channel_message_id = t.mid
                                  LIMIT 1) x))
                   AS at
        ), m AS (
            UPDATE messages m
               SET status = $4::text,
                   sent_at = COALESCE(m.sent_at, $5),
                   delivered_at = COALESCE(m.delivered_at, $5),
                   read_at = CASE WHEN $4::text = 'read' THEN $5 ELSE m.read_at END,
                   next_attempt_at = NULL
              FROM upto
             WHERE m.conversation_id IN (SELECT id FROM conv)
               AND m.direction = 'outbound'
               AND (m.created_at <= upto.at OR m.channel_message_id = ANY($7::text[]))
               AND m.status <> 'pending' AND m.status <> 'failed'
               AND array_position($8::text[], m.status) < array_position($8::text[], $4::text)
            RETURNING m.*
        )
        SELECT {SELECT}, {AUDIENCE}
          FROM m JOIN conversations c ON c.id = m.conversation_id
          LEFT JOIN media md ON md.id = m.media_id
         ORDER BY m.created_at, m.id
        """,
        channel,
        account_id,
        contact,
        status,
        at,
        watermark,
        mids,
        _PROGRESS,
    )


# Inbound media ----------------------------------------------------------------------------


MEDIA_CLAIM_COLUMNS = (
    "md.id, md.conversation_id, md.mime_type, md.filename, md.sha256, md.channel_media_id, "
    "md.source_url, md.attempts, c.channel, c.integration_account_id"
)


async def claim_media(
    conn: Conn, limit: int, lease_seconds: float, owner: int | None = None
) -> list[asyncpg.Record]:
    """Due inbound media, leased: attempts + 1 and next_attempt_at moved past the lease, so a
    crashed fetch is retried once the lease runs out (or sooner, take_over_media, when
    `owner`, the claiming worker's liveness key, is gone)."""
    return await conn.fetch(
        f"""
        WITH due AS (
            SELECT id FROM media
             WHERE status = 'pending' AND origin = 'inbound' AND next_attempt_at <= now()
               AND conversation_id IS NOT NULL
             ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
        ), md AS (
            UPDATE media m SET attempts = m.attempts + 1,
                               next_attempt_at = now() + make_interval(secs => $2),
                               claimed_by = $3
              FROM due WHERE m.id = due.id
            RETURNING m.*
        )
        SELECT {MEDIA_CLAIM_COLUMNS}
          FROM md JOIN conversations c ON c.id = md.conversation_id
         ORDER BY md.next_attempt_at
        """,
        limit,
        lease_seconds,
        owner,
    )


async def media_ready(
    conn: Conn,
    media_id: UUID,
    attempt: int,
    *,
    storage_path: str,
    size_bytes: int,
    sha256: str,
    mime_type: str,
    filename: str,
) -> list[asyncpg.Record]:
    """Mark the file stored (only if this attempt still holds the lease); returns the
    messages showing it (SELECT + AUDIENCE) for their message.updated events."""
    return await _media_outcome(
        conn,
        """status = 'ready', storage_path = $3, size_bytes = $4, sha256 = $5, mime_type = $6,
           filename = $7, error = NULL, next_attempt_at = NULL""",
        media_id,
        attempt,
        storage_path,
        size_bytes,
        sha256,
        mime_type,
        filename,
    )


async def media_failed(
    conn: Conn, media_id: UUID, attempt: int, error: str
) -> list[asyncpg.Record]:
    return await _media_outcome(
        conn, "status = 'failed', error = $3, next_attempt_at = NULL", media_id, attempt, error
    )


async def media_retry(conn: Conn, media_id: UUID, attempt: int, delay: float, error: str) -> None:
    await conn.execute(
        """
        UPDATE media SET error = $3, next_attempt_at = now() + make_interval(secs => $4)
         WHERE id = $1 AND attempts = $2 AND status = 'pending'
        """,
        media_id,
        attempt,
        error,
        delay,
    )


async def _media_outcome(
    conn: Conn, assignments: str, media_id: UUID, attempt: int, *args: Any
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        WITH u AS (
            UPDATE media SET {assignments}
             WHERE id = $1 AND attempts = $2 AND status = 'pending'
            RETURNING *
        )  -- joined as md: the outer query sees the media row as updated
        SELECT {SELECT}, {AUDIENCE}
          FROM u md JOIN messages m ON m.media_id = md.id
          JOIN conversations c ON c.id = m.conversation_id
        """,
        media_id,
        attempt,
        *args,
    )


async def purge_audit(conn: Conn, older_than_days: int) -> int:
    """Handled webhook calls received before the retention (never a pending one)."""
    result: str = await conn.execute(
        "DELETE FROM webhook_audit WHERE status <> 'pending' "
        "AND received_at < now() - make_interval(days => $1)",
        older_than_days,
    )
    return int(result.rsplit(maxsplit=1)[-1])
