"""SQL of campaigns: the campaigns themselves and their audience. The sender's statements
are in send_queries.py, receipts and reply links in reply_queries.py, the opt-out list in
opt_out_queries.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

# A campaign with what its answers show: template, account and division names.
COLUMNS = """
    c.id, c.name, c.status, c.integration_account_id, a.display_name AS account_name,
    c.template_id, t.name AS template_name, t.language AS template_language,
    t.status AS template_status, c.variables, c.header, c.division_id,
    d.name AS division_name, c.audience_source, c.audience_columns, c.audience_filter,
    c.scheduled_at, c.started_at, c.finished_at, c.failure_reason, c.created_by,
    c.created_at, c.updated_at, c.counts
"""
FROM = """
    campaigns c
    LEFT JOIN integration_accounts a ON a.id = c.integration_account_id
    LEFT JOIN wa_templates t ON t.id = c.template_id
    LEFT JOIN divisions d ON d.id = c.division_id
"""
# Which campaigns a principal manages: admins all, supervisors their divisions' ($n, $n+1).
MANAGED = "($%d::text = 'admin' OR c.division_id = ANY($%d::uuid[]))"
COUNTED = ("pending", "sent", "delivered", "read", "failed")
RECIPIENT_COLUMNS = """
    r.id, r.phone, r.name, r.variables, r.line, r.contact_id, r.status,
    r.channel_message_id, r.error_code, r.error_message, r.attempts, r.sent_at,
    r.delivered_at, r.read_at, r.failed_at, r.replied_at, r.conversation_id
"""


def _managed(first: int) -> str:
    return MANAGED % (first, first + 1)


async def get(
    conn: Conn, campaign_id: UUID, role: str, divisions: list[UUID], lock: bool = False
) -> asyncpg.Record | None:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM {FROM} WHERE c.id = $1 AND {_managed(2)}"
        + (" FOR UPDATE OF c" if lock else ""),
        campaign_id,
        role,
        divisions,
    )
    return row


async def get_any(conn: Conn, campaign_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM {FROM} WHERE c.id = $1", campaign_id)


async def page(
    conn: Conn,
    role: str,
    divisions: list[UUID],
    *,
    status: str | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM {FROM}
         WHERE {_managed(1)} AND ($3::text IS NULL OR c.status = $3)
           AND ($4::timestamptz IS NULL OR (c.created_at, c.id) < ($4, $5::uuid))
         ORDER BY c.created_at DESC, c.id DESC LIMIT $6
        """,
        role,
        divisions,
        status,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def template(conn: Conn, template_id: UUID) -> asyncpg.Record | None:
    """A template with its integration (to check it belongs to the account's)."""
    return await conn.fetchrow("SELECT * FROM wa_templates WHERE id = $1", template_id)


async def account(conn: Conn, account_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT a.id, a.integration_id, a.channel, a.display_name, i.is_active
          FROM integration_accounts a JOIN integrations i ON i.id = a.integration_id
         WHERE a.id = $1
        """,
        account_id,
    )


async def whatsapp_accounts(conn: Conn) -> list[asyncpg.Record]:
    """The WhatsApp numbers a campaign may send from (no credentials)."""
    return await conn.fetch(
        """
        SELECT a.id, a.display_name, a.external_id, a.integration_id, i.name AS integration_name,
               a.send_rate_per_second, i.is_active, i.health
          FROM integration_accounts a JOIN integrations i ON i.id = a.integration_id
         WHERE a.channel = 'whatsapp'
         ORDER BY i.name, a.display_name, a.id
        """
    )


async def division_exists(conn: Conn, division_id: UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM divisions WHERE id = $1)", division_id
    )
    return found


async def insert(conn: Conn, values: dict[str, Any], created_by: UUID) -> UUID:
    campaign_id: UUID = await conn.fetchval(
        """
        INSERT INTO campaigns (name, integration_account_id, template_id, variables, header,
                               division_id, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
        """,
        values["name"],
        values["integration_account_id"],
        values["template_id"],
        values["variables"],
        values["header"],
        values["division_id"],
        created_by,
    )
    return campaign_id


async def update(conn: Conn, campaign_id: UUID, values: dict[str, Any]) -> None:
    await conn.execute(
        """
        UPDATE campaigns SET name = $2, integration_account_id = $3, template_id = $4,
                             variables = $5, header = $6, division_id = $7, updated_at = now()
         WHERE id = $1
        """,
        campaign_id,
        values["name"],
        values["integration_account_id"],
        values["template_id"],
        values["variables"],
        values["header"],
        values["division_id"],
    )


async def delete(conn: Conn, campaign_id: UUID) -> None:
    await conn.execute("DELETE FROM campaigns WHERE id = $1", campaign_id)


async def set_status(
    conn: Conn,
    campaign_id: UUID,
    status: str,
    from_statuses: tuple[str, ...],
    *,
    scheduled_at: datetime | None = None,
    reason: str | None = None,
) -> bool:
    """Move the campaign to `status` if it is in one of `from_statuses`; whether it moved.
    Starting stamps started_at (once); a final status stamps finished_at."""
    moved = await conn.fetchval(
        """
        UPDATE campaigns
           SET status = $2,
               scheduled_at = CASE WHEN $2 = 'scheduled' THEN $4 ELSE scheduled_at END,
               started_at = CASE WHEN $2 = 'running' THEN COALESCE(started_at, now())
                                 ELSE started_at END,
               finished_at = CASE WHEN $2 IN ('completed', 'failed', 'cancelled') THEN now()
                                  ELSE finished_at END,
               failure_reason = COALESCE($5, failure_reason),
               counts_stale = true, updated_at = now()
         WHERE id = $1 AND status = ANY($3::text[])
        RETURNING true
        """,
        campaign_id,
        status,
        list(from_statuses),
        scheduled_at,
        reason,
    )
    return bool(moved)


# Counts ------------------------------------------------------------------------------------


async def count(conn: Conn, campaign_id: UUID) -> dict[str, int]:
    """Recipients per status, their total and how many replied."""
    rows = await conn.fetch(
        """
        SELECT status, count(*)::int AS n, count(replied_at)::int AS replied
          FROM campaign_recipients WHERE campaign_id = $1 GROUP BY status
        """,
        campaign_id,
    )
    counts = dict.fromkeys(COUNTED, 0)
    replied = 0
    for row in rows:
        counts[row["status"]] = row["n"]
        replied += row["replied"]
    return {"total": sum(counts.values()), **counts, "replied": replied}


async def store_counts(conn: Conn, campaign_id: UUID, counts: dict[str, int]) -> None:
    await conn.execute(
        "UPDATE campaigns SET counts = $2, counts_stale = false, counted_at = now() WHERE id = $1",
        campaign_id,
        counts,
    )


async def claim_recount(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """Campaigns to recount (SKIP LOCKED: one worker each): those marked stale (a status
    or audience change), running or paused ones once a second, and those finished within
    a day (receipts and replies still arrive) every RECENT_SECONDS. Nothing on the hot
    paths (sends, receipts) writes the campaign row, so they never wait for each other."""
    return await conn.fetch(
        """
        SELECT c.id, c.status, c.division_id, c.counts FROM campaigns c
         WHERE c.counts_stale
            OR (c.status IN ('running', 'paused')
                AND (c.counted_at IS NULL OR c.counted_at <= now() - interval '1 s'))
            OR (c.finished_at > now() - interval '1 day'
                AND (c.counted_at IS NULL OR c.counted_at <= now() - interval '10 s'))
         ORDER BY c.counted_at NULLS FIRST LIMIT $1 FOR UPDATE SKIP LOCKED
        """,
        limit,
    )


async def failures(conn: Conn, campaign_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT COALESCE(error_code, 'unknown') AS error_code, count(*)::int AS count,
               min(error_message) AS reason
          FROM campaign_recipients WHERE campaign_id = $1 AND status = 'failed'
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50
        """,
        campaign_id,
    )


# Audience ----------------------------------------------------------------------------------


async def clear_audience(conn: Conn, campaign_id: UUID) -> None:
    await conn.execute("DELETE FROM campaign_recipients WHERE campaign_id = $1", campaign_id)


# The columns of insert_recipients' data, in order (audience_copy.copy_data writes it).
RECIPIENT_COPY_COLUMNS = ("id", "campaign_id", "contact_id", "phone", "name", "variables", "line")


async def known_numbers(conn: Conn, phones: list[str]) -> tuple[set[str], dict[str, str]]:
    """Of `phones`: those opted out, and the contact id (text) of those that are a contact's."""
    rows = await conn.fetch(
        """
        SELECT n.phone, k.id::text AS contact_id, o.phone IS NOT NULL AS opted_out
          FROM unnest($1::text[]) AS n(phone)
          LEFT JOIN contacts k ON k.phone = n.phone
          LEFT JOIN campaign_opt_outs o ON o.phone = n.phone
         WHERE k.id IS NOT NULL OR o.phone IS NOT NULL
        """,
        phones,
    )
    opted_out = {r["phone"] for r in rows if r["opted_out"]}
    return opted_out, {r["phone"]: r["contact_id"] for r in rows if r["contact_id"]}


async def insert_recipients(conn: Conn, data: Iterable[bytes]) -> None:
    """Recipients in one COPY: `data`, in pieces, is PostgreSQL's text format, a line per
    recipient with RECIPIENT_COPY_COLUMNS (contact_id filled here: an UPDATE afterwards
    would write every row a second time, index entries included)."""

    async def source() -> AsyncIterator[bytes]:
        for piece in data:
            yield piece

    await conn.copy_to_table(
        "campaign_recipients", source=source(), columns=RECIPIENT_COPY_COLUMNS, format="text"
    )


async def analyze_recipients(conn: Conn) -> None:
    """Planner statistics of the recipients as an audience just stored left them (what
    autovacuum would gather a while later, or never when it is off): without them a table
    filled by one upload is planned as if it were nearly empty, and the sender's statements
    on 100,000 pending recipients got plans that scan them all per batch. Only the columns
    the campaign statements filter, join or sort on: ≈ 0.1 s for a few 100,000
    recipients (the variables jsonb alone would add 0.2 s)."""
    await conn.execute(
        """
        ANALYZE campaign_recipients (id, campaign_id, status, next_attempt_at, phone,
                                     channel_message_id, conversation_id, sent_at, attempts)
        """
    )


async def set_audience(
    conn: Conn,
    campaign_id: UUID,
    source: str,
    columns: list[str],
    contacts_filter: dict[str, Any] | None,
    report: dict[str, Any],
) -> None:
    await conn.execute(
        """
        UPDATE campaigns SET audience_source = $2, audience_columns = $3, audience_filter = $4,
                             audience_report = $5, counts_stale = true, updated_at = now()
         WHERE id = $1
        """,
        campaign_id,
        source,
        columns,
        contacts_filter,
        report,
    )


_CONTACTS_MATCH = """
    k.phone IS NOT NULL
    AND ($1::text IS NULL OR k.name ILIKE $1 OR k.phone LIKE $1 OR k.email ILIKE $1)
    AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM conversations v
                                      WHERE v.contact_id = k.id AND v.division_id = $2))
    AND ($3::int IS NULL OR EXISTS (
            SELECT 1 FROM conversations v
             WHERE v.contact_id = k.id
               AND v.last_inbound_at >= now() - make_interval(days => $3)))
"""


def like(text: str | None) -> str | None:
    """A LIKE pattern matching `text` anywhere (its wildcards taken literally)."""
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def count_contacts(
    conn: Conn, q: str | None, division_id: UUID | None, days: int | None
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        SELECT count(*) FILTER (WHERE o.phone IS NULL)::int AS count,
               count(o.phone)::int AS opted_out
          FROM contacts k LEFT JOIN campaign_opt_outs o ON o.phone = k.phone
         WHERE {_CONTACTS_MATCH}
        """,
        like(q),
        division_id,
        days,
    )
    assert row is not None
    return row


async def insert_from_contacts(
    conn: Conn, campaign_id: UUID, q: str | None, division_id: UUID | None, days: int | None
) -> int:
    """Recipients for every matching contact that has not opted out; how many."""
    inserted: int = await conn.fetchval(
        f"""
        WITH ins AS (
            INSERT INTO campaign_recipients (campaign_id, phone, name, contact_id, variables)
            SELECT $4, k.phone, k.name, k.id,
                   jsonb_build_object('name', k.name, 'phone', k.phone)
              FROM contacts k
             WHERE {_CONTACTS_MATCH}
               AND NOT EXISTS (SELECT 1 FROM campaign_opt_outs o WHERE o.phone = k.phone)
            ON CONFLICT (campaign_id, phone) DO NOTHING RETURNING 1)
        SELECT count(*)::int FROM ins
        """,
        like(q),
        division_id,
        days,
        campaign_id,
    )
    return inserted


async def recipients(
    conn: Conn, campaign_id: UUID, status: str | None, after: UUID | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        SELECT {RECIPIENT_COLUMNS} FROM campaign_recipients r
         WHERE r.campaign_id = $1 AND ($2::text IS NULL OR r.status = $2)
           AND ($3::uuid IS NULL OR r.id > $3)
         ORDER BY r.id LIMIT $4
        """,
        campaign_id,
        status,
        after,
        limit,
    )
