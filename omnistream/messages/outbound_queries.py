"""SQL of the outbound sender: claim due messages under a lease, record each outcome, take
over a dead worker's claims. Kept apart from queries.py (the message store) because only the
sender uses it. The read receipts it also sends: receipt_queries.py.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn
from omnistream.messages.queries import AUDIENCE, SELECT
from omnistream.workers.queries import LIVE_KEYS


async def claim_due(
    conn: Conn,
    limit: int,
    lease_seconds: float,
    saturated_ahead: float = 2.0,
    owner: int | None = None,
    recovery_grace: float = 0.0,
) -> list[asyncpg.Record]:
    """Claim up to `limit` due pending outbound messages (SKIP LOCKED: concurrent workers
    take disjoint sets) and lease them: attempts + 1 and next_attempt_at pushed forward, so
    a worker that dies mid-send leaves them due again once the lease runs out. `owner`, the
    claiming worker's liveness key, lets a dead worker's claims be taken over sooner
    (take_over_messages); a message taken over waits `recovery_grace` seconds after that
    (recovering_since) before it is claimed again.

    A conversation's replies go out in the order they were written: a message waits while
    an older one of its conversation is pending and has not failed yet (not yet tried, or
    in flight). Once the older one has hit an error and waits for its retry, the later ones
    no longer wait for it (a retried message may then arrive after them).

    A pending message that has a channel id is never claimed: the channel accepted it
    (mark_accepted recorded it from a receipt after the sender died; its 'failed' receipt
    is about to fail it).

    Messages of an account whose send slots are handed out more than `saturated_ahead`
    seconds ahead (channels/ratelimit.py) are left for later, so one busy account does not
    fill every batch while others wait.

    Each row carries what the adapter needs: recipient candidates, the file, the replied-to
    message's channel id, the customer's last message time (the window), the account's
    send rate. Ordered oldest first.
    """
    return await conn.fetch(
        """
        WITH due AS (
            SELECT d.id FROM messages d
             WHERE d.status = 'pending' AND d.direction = 'outbound'
               AND d.next_attempt_at <= now()
               -- taken over from a dead worker: not before its grace (take_over_messages)
               AND (d.recovering_since IS NULL
                    OR d.recovering_since <= now() - make_interval(secs => $5))
               -- a channel id: the channel has it (mark_accepted), never send it again
               AND d.channel_message_id IS NULL
               -- d is the oldest of its conversation's pending messages that have hit no
               -- error yet (d itself counts even if it has). Written as "the first is d", not
               -- as NOT EXISTS (an older one): planned on statistics from before a burst of
               -- pending messages (a scheduled minute, a campaign), NOT EXISTS scanned
               -- every pending message once per candidate (0.3 s a claim at 10,000).
               AND d.id = (SELECT e.id FROM messages e
                            WHERE e.conversation_id = d.conversation_id
                              AND e.status = 'pending' AND e.direction = 'outbound'
                              AND e.channel_message_id IS NULL
                              AND (e.error_code IS NULL OR e.id = d.id)
                            ORDER BY e.created_at, e.id LIMIT 1)
               AND NOT EXISTS (SELECT 1 FROM conversations dc
                                 JOIN send_slots s ON s.account_id = dc.integration_account_id
                                WHERE dc.id = d.conversation_id
                                  AND s.next_at > extract(epoch FROM now()) + $3)
             ORDER BY d.next_attempt_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED
        ), m AS (
            UPDATE messages m
               SET attempts = m.attempts + 1,
                   next_attempt_at = now() + make_interval(secs => $2),
                   claimed_by = $4, recovering_since = NULL
              FROM due WHERE m.id = due.id
            RETURNING m.*
        )
        SELECT m.id, m.conversation_id, m.channel, m.type, m.content, m.attempts, m.created_at,
               c.integration_account_id, c.last_inbound_at, a.send_rate_per_second,
               k.phone AS contact_phone, k.email AS contact_email,
               i.external_id AS contact_external_id,
               md.id AS media_id, md.storage_path, md.mime_type, md.filename, md.size_bytes,
               md.sha256, md.status AS media_status,
               r.channel_message_id AS reply_to_channel_message_id
          FROM m
          JOIN conversations c ON c.id = m.conversation_id
          JOIN contacts k ON k.id = c.contact_id
          LEFT JOIN integration_accounts a ON a.id = c.integration_account_id
          LEFT JOIN LATERAL (SELECT ci.external_id FROM contact_identities ci
                              WHERE ci.contact_id = k.id AND ci.channel = m.channel
                              ORDER BY ci.created_at LIMIT 1) i ON true
          LEFT JOIN media md ON md.id = m.media_id
          LEFT JOIN messages r ON r.id = m.reply_to_id
         ORDER BY m.created_at, m.id
        """,
        limit,
        lease_seconds,
        saturated_ahead,
        owner,
        recovery_grace,
    )


async def take_over_messages(conn: Conn) -> list[asyncpg.Record]:
    """Pending messages claimed by a worker that is gone (its liveness lock is free): marked
    recovering_since, the claim cleared, and back in their place in the queue (where it was
    written; one retried after an error: now), so once the grace passes (claim_due's
    recovery_grace) they go before replies that came later. The grace lets the status
    webhook or echo of a send the channel accepted just before the crash arrive first
    (mark_accepted), so it is not sent again. Returns the rows (SELECT + AUDIENCE, and the
    dead worker's key as previous_owner)."""
    return await conn.fetch(
        f"""
        WITH dead AS (
            SELECT id, claimed_by FROM messages
             WHERE claimed_by IS NOT NULL AND status = 'pending'
               AND claimed_by NOT IN ({LIVE_KEYS})
             ORDER BY id
               FOR UPDATE SKIP LOCKED
        ), m AS (
            UPDATE messages x
               SET claimed_by = NULL, recovering_since = now(),
                   -- claims lost to crashes count as attempts: only an error makes a retry
                   next_attempt_at = CASE WHEN x.error_code IS NULL
                                          THEN LEAST(x.created_at, now()) ELSE now() END
              FROM dead WHERE x.id = dead.id
            RETURNING x.*, dead.claimed_by AS previous_owner)
        SELECT {SELECT}, {AUDIENCE}, m.previous_owner
          FROM m JOIN conversations c ON c.id = m.conversation_id
          LEFT JOIN media md ON md.id = m.media_id
        """
    )


async def recorded_channel_id(conn: Conn, message_id: UUID, channel: str) -> str | None:
    """The channel id recorded on our outbound message `message_id`, if any."""
    value: str | None = await conn.fetchval(
        "SELECT channel_message_id FROM messages "
        "WHERE id = $1 AND channel = $2 AND direction = 'outbound'",
        message_id,
        channel,
    )
    return value


async def reply_target(
    conn: Conn, conversation_id: UUID, message_id: UUID
) -> asyncpg.Record | None:
    """A message of the conversation (with its channel id) that a reply refers to."""
    return await conn.fetchrow(
        "SELECT id, channel_message_id FROM messages WHERE id = $1 AND conversation_id = $2",
        message_id,
        conversation_id,
    )


async def release(conn: Conn, leases: list[tuple[UUID, int]]) -> None:
    """Give claimed messages back unsent (no send slot in time, or shutting down): due now,
    and the claim does not count as an attempt. A no-op for any leased again since."""
    await conn.execute(
        """
        UPDATE messages m
           SET attempts = m.attempts - 1, next_attempt_at = now(), claimed_by = NULL
          FROM unnest($1::uuid[], $2::int[]) AS v(id, attempts)
         WHERE m.id = v.id AND m.attempts = v.attempts AND m.status = 'pending'
        """,
        [m for m, _ in leases],
        [a for _, a in leases],
    )


async def mark_sent_many(
    conn: Conn, sent: list[tuple[UUID, str, datetime]]
) -> list[asyncpg.Record]:
    """mark_sent for a batch of (message id, channel id, sent at); the rows that moved."""
    return await conn.fetch(
        f"""
        WITH m AS (
            UPDATE messages x
               SET status = 'sent', channel_message_id = v.channel_message_id,
                   sent_at = v.sent_at, next_attempt_at = NULL, recovering_since = NULL,
                   error_code = NULL, error_reason = NULL
              FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])
                   AS v(id, channel_message_id, sent_at)
             WHERE x.id = v.id AND x.status = 'pending'
            RETURNING x.*)
        SELECT {SELECT}, {AUDIENCE}
          FROM m JOIN conversations c ON c.id = m.conversation_id
          LEFT JOIN media md ON md.id = m.media_id
        """,
        [m for m, _, _ in sent],
        [c for _, c, _ in sent],
        [t for _, _, t in sent],
    )


async def mark_accepted(
    conn: Conn,
    message_ids: list[UUID],
    channels: list[str],
    account_ids: list[UUID],
    channel_message_ids: list[str],
    statuses: list[str],
    at: list[datetime],
) -> list[asyncpg.Record]:
    """Outbound messages the channel accepted although the sender never recorded it (it
    died after the send): a receipt or echo names them by our id. Each still pending without
    a channel id, of this channel and account, takes the channel id and becomes 'sent' ('failed'
    receipts: only the channel id; the receipt then fails it); the rows that moved. A channel
    id already stored elsewhere is skipped (the unique index would fail the batch). A row
    locked by someone else is skipped, not waited for: the sender recording it, or another
    batch claiming it (waiting inside a long inbound batch deadlocked with them); its
    receipts then wait for a later try, which claims it again if still needed."""
    return await conn.fetch(
        f"""
        WITH v AS (
            SELECT DISTINCT ON (v.id) v.*
              FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[],
                          $6::timestamptz[]) AS v(id, channel, account_id, cmid, status, at)
             ORDER BY v.id
        ), due AS (
            SELECT x.id FROM messages x JOIN v ON v.id = x.id
              JOIN conversations xc ON xc.id = x.conversation_id
             WHERE x.channel = v.channel AND x.direction = 'outbound'
               AND x.status = 'pending' AND x.channel_message_id IS NULL
               AND xc.integration_account_id = v.account_id
               AND NOT EXISTS (SELECT 1 FROM messages o
                                WHERE o.channel = v.channel AND o.channel_message_id = v.cmid)
             ORDER BY x.id
               FOR UPDATE OF x SKIP LOCKED
        ), m AS (
            UPDATE messages x
               SET channel_message_id = v.cmid,
                   status = CASE WHEN v.status = 'failed' THEN x.status ELSE 'sent' END,
                   sent_at = CASE WHEN v.status = 'failed' THEN x.sent_at ELSE v.at END,
                   next_attempt_at = NULL, recovering_since = NULL,
                   error_code = NULL, error_reason = NULL
              FROM v, due
             WHERE x.id = due.id AND v.id = due.id
               AND x.status = 'pending' AND x.channel_message_id IS NULL
            RETURNING x.*)
        SELECT {SELECT}, {AUDIENCE}
          FROM m JOIN conversations c ON c.id = m.conversation_id
          LEFT JOIN media md ON md.id = m.media_id
        """,
        message_ids,
        channels,
        account_ids,
        channel_message_ids,
        statuses,
        at,
    )


async def mark_sent(conn: Conn, message_id: UUID, channel_message_id: str) -> asyncpg.Record | None:
    """pending -> sent with the channel's id. Wins over any lease: the channel has it."""
    return await conn.fetchrow(
        f"""
        WITH m AS (
            UPDATE messages
               SET status = 'sent', channel_message_id = $2, sent_at = now(),
                   next_attempt_at = NULL, recovering_since = NULL,
                   error_code = NULL, error_reason = NULL
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
                   error_code = $4, error_reason = $5, claimed_by = NULL
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
                   recovering_since = NULL, error_code = $3, error_reason = $4
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
