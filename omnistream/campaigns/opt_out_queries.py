"""SQL of the opt-out list: the numbers no campaign sends to (campaign_opt_outs, keyed by
the normalised number, so a number is out whichever contact or campaign it is in)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.campaigns.queries import like
from omnistream.db.pool import Conn


async def add_opt_outs(
    conn: Conn,
    phones: list[str],
    reason: str,
    note: str = "",
    created_by: UUID | None = None,
    campaign_id: UUID | None = None,
) -> list[asyncpg.Record]:
    """Opt these numbers out (a number already out keeps its first reason); the new rows."""
    return await conn.fetch(
        """
        INSERT INTO campaign_opt_outs (phone, reason, note, created_by, campaign_id)
        SELECT p, $2, $3, $4, $5 FROM unnest($1::text[]) AS p
        ON CONFLICT (phone) DO NOTHING RETURNING *
        """,
        phones,
        reason,
        note,
        created_by,
        campaign_id,
    )


async def opt_out(conn: Conn, phone: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM campaign_opt_outs WHERE phone = $1", phone)


async def remove_opt_out(conn: Conn, phone: str) -> asyncpg.Record | None:
    """The removed row (None: the number was not opted out)."""
    return await conn.fetchrow("DELETE FROM campaign_opt_outs WHERE phone = $1 RETURNING *", phone)


async def opt_outs(
    conn: Conn, q: str | None, after: tuple[datetime, str] | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT * FROM campaign_opt_outs
         WHERE ($1::text IS NULL OR phone LIKE $1)
           AND ($2::timestamptz IS NULL OR (created_at, phone) < ($2, $3::text))
         ORDER BY created_at DESC, phone DESC LIMIT $4
        """,
        like(q),
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def contact_phone(conn: Conn, contact_id: UUID) -> str | None:
    phone: str | None = await conn.fetchval("SELECT phone FROM contacts WHERE id = $1", contact_id)
    return phone


async def contact_with_phone(conn: Conn, phone: str) -> UUID | None:
    """The contact whose number this is (numbers are unique among contacts)."""
    found: UUID | None = await conn.fetchval("SELECT id FROM contacts WHERE phone = $1", phone)
    return found
