"""SQL of the campaign sender (worker.py): starting due campaigns, claiming recipients
under a lease, recording outcomes, finishing; and the export's cursor.

The outcome statements name their rows twice, joined to the array and as `id = ANY($1)`:
with the array alone, a table without statistics yet (just filled, before ANALYZE) got a
plan that scanned every pending recipient once per outcome (seconds per batch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn


async def start_due(conn: Conn) -> list[UUID]:
    """Scheduled campaigns whose time has come, now running."""
    rows = await conn.fetch(
        """
        UPDATE campaigns SET status = 'running', started_at = COALESCE(started_at, now()),
                             counts_stale = true, updated_at = now()
         WHERE id IN (SELECT id FROM campaigns WHERE status = 'scheduled'
                         AND scheduled_at <= now() FOR UPDATE SKIP LOCKED)
        RETURNING id
        """
    )
    return [r["id"] for r in rows]


async def running(conn: Conn) -> list[asyncpg.Record]:
    """Running campaigns with what their sending needs: the account's rate, the template."""
    return await conn.fetch(
        """
        SELECT c.id, c.integration_account_id, c.variables, c.header,
               a.send_rate_per_second, t.id AS template_id
          FROM campaigns c
          LEFT JOIN integration_accounts a ON a.id = c.integration_account_id
          LEFT JOIN wa_templates t ON t.id = c.template_id
         WHERE c.status = 'running'
         ORDER BY c.started_at, c.id
        """
    )


async def statuses(conn: Conn, campaign_ids: list[UUID]) -> dict[UUID, str]:
    rows = await conn.fetch(
        "SELECT id, status FROM campaigns WHERE id = ANY($1::uuid[])", campaign_ids
    )
    return {r["id"]: r["status"] for r in rows}


async def template(conn: Conn, template_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM wa_templates WHERE id = $1", template_id)


async def claim(
    conn: Conn, campaign_id: UUID, limit: int, lease_seconds: float, owner: int | None
) -> list[asyncpg.Record]:
    """Up to `limit` due pending recipients of a campaign (SKIP LOCKED: workers take
    disjoint sets), leased: attempts + 1, due again at the lease's end, claimed_by the
    worker. A recipient with a channel id is never claimed (a receipt recorded its send
    after the sender died). `opted_out`: the number opted out after the audience was set."""
    return await conn.fetch(
        """
        WITH due AS (
            SELECT r.id FROM campaign_recipients r
             WHERE r.campaign_id = $1 AND r.status = 'pending' AND r.next_attempt_at <= now()
               AND r.channel_message_id IS NULL
             ORDER BY r.next_attempt_at, r.id LIMIT $2
               FOR UPDATE SKIP LOCKED)
        UPDATE campaign_recipients r
           SET attempts = r.attempts + 1, claimed_by = $4,
               next_attempt_at = now() + make_interval(secs => $3)
          FROM due WHERE r.id = due.id
        RETURNING r.id, r.phone, r.name, r.variables, r.attempts,
                  EXISTS (SELECT 1 FROM campaign_opt_outs o WHERE o.phone = r.phone) AS opted_out
        """,
        campaign_id,
        limit,
        lease_seconds,
        owner,
    )


async def mark_sent(
    conn: Conn, items: list[tuple[UUID, int, str, datetime]]
) -> list[asyncpg.Record]:
    """(recipient, attempt, wamid, at): 'sent' with the channel id, if still under that
    attempt's lease and without one (a receipt may have recorded it first). The rows are
    locked in id order first, as the inbound loop's receipts lock them (no deadlock)."""
    return await conn.fetch(
        """
        WITH i AS (
            SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[])
                       AS i(id, n, wamid, at)
        ), locked AS (
            SELECT r.id FROM campaign_recipients r WHERE r.id = ANY($1::uuid[])
             ORDER BY r.id FOR UPDATE
        )
        UPDATE campaign_recipients r
           SET status = 'sent', channel_message_id = i.wamid, sent_at = i.at, claimed_by = NULL,
               error_code = NULL, error_message = NULL
          FROM i JOIN locked USING (id)
         WHERE r.id = i.id AND r.id = ANY($1::uuid[]) AND r.status = 'pending'
           AND r.attempts = i.n AND r.channel_message_id IS NULL
        RETURNING r.id
        """,
        [i[0] for i in items],
        [i[1] for i in items],
        [i[2] for i in items],
        [i[3] for i in items],
    )


async def mark_failed(conn: Conn, items: list[tuple[UUID, int, str, str]]) -> list[asyncpg.Record]:
    """(recipient, attempt, code, reason): 'failed' for good; the rows (id, phone)."""
    return await conn.fetch(
        """
        UPDATE campaign_recipients r
           SET status = 'failed', error_code = i.code, error_message = i.reason,
               failed_at = now(), claimed_by = NULL
          FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[]) AS i(id, n, code, reason)
         WHERE r.id = i.id AND r.id = ANY($1::uuid[]) AND r.status = 'pending'
           AND r.attempts = i.n AND r.channel_message_id IS NULL
        RETURNING r.id, r.phone
        """,
        [i[0] for i in items],
        [i[1] for i in items],
        [i[2] for i in items],
        [i[3] for i in items],
    )


async def mark_retry(conn: Conn, items: list[tuple[UUID, int, float, str, str]]) -> None:
    """(recipient, attempt, delay, code, reason): due again after `delay` seconds."""
    await conn.execute(
        """
        UPDATE campaign_recipients r
           SET next_attempt_at = now() + make_interval(secs => i.delay), claimed_by = NULL,
               error_code = i.code, error_message = i.reason
          FROM unnest($1::uuid[], $2::int[], $3::float8[], $4::text[], $5::text[])
               AS i(id, n, delay, code, reason)
         WHERE r.id = i.id AND r.id = ANY($1::uuid[]) AND r.status = 'pending'
           AND r.attempts = i.n
        """,
        [i[0] for i in items],
        [i[1] for i in items],
        [i[2] for i in items],
        [i[3] for i in items],
        [i[4] for i in items],
    )


async def release(conn: Conn, items: list[tuple[UUID, int]]) -> None:
    """Claimed but never sent (paused, no send slot in time, the worker stopping): due at
    once, the attempt not counted."""
    await conn.execute(
        """
        UPDATE campaign_recipients r
           SET next_attempt_at = now(), claimed_by = NULL, attempts = r.attempts - 1
          FROM unnest($1::uuid[], $2::int[]) AS i(id, n)
         WHERE r.id = i.id AND r.id = ANY($1::uuid[]) AND r.status = 'pending'
           AND r.attempts = i.n
        """,
        [i[0] for i in items],
        [i[1] for i in items],
    )


async def finish_if_done(conn: Conn, campaign_id: UUID) -> bool:
    """Completed, when running and no recipient is pending any more."""
    done = await conn.fetchval(
        """
        UPDATE campaigns SET status = 'completed', finished_at = now(), updated_at = now(),
                             counts_stale = true
         WHERE id = $1 AND status = 'running'
           AND NOT EXISTS (SELECT 1 FROM campaign_recipients
                            WHERE campaign_id = $1 AND status = 'pending')
        RETURNING true
        """,
        campaign_id,
    )
    return bool(done)


async def export_cursor(conn: Conn, campaign_id: UUID, status: str | None) -> Any:
    """A server-side cursor over the recipients, in file order (inside a transaction)."""
    return await conn.cursor(
        """
        SELECT phone, name, status, error_code, error_message, sent_at, delivered_at, read_at,
               failed_at, replied_at, conversation_id, line, channel_message_id
          FROM campaign_recipients
         WHERE campaign_id = $1 AND ($2::text IS NULL OR status = $2)
         ORDER BY line NULLS LAST, id
        """,
        campaign_id,
        status,
    )
