"""SQL of contacts. COLUMNS is the one column list every query uses."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

COLUMNS = "k.id, k.phone, k.email, k.name, k.profile_pic_url, k.created_at, k.updated_at"


async def get(conn: Conn, contact_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM contacts k WHERE k.id = $1", contact_id)


async def find_or_create_by_phone(conn: Conn, phone: str, name: str) -> tuple[asyncpg.Record, bool]:
    """The contact with this WhatsApp id (digits), created if new; (row, created).

    A known contact without a name gets the profile name; a name set by an agent is kept.
    """
    row = await conn.fetchrow(
        f"""
        WITH ins AS (INSERT INTO contacts (phone, name) VALUES ($1, $2)
                     ON CONFLICT (phone) WHERE phone IS NOT NULL DO NOTHING RETURNING *)
        SELECT {COLUMNS}, true AS created FROM ins k
        """,
        phone,
        name,
    )
    if row is not None:
        return row, True
    row = await conn.fetchrow(
        f"""
        UPDATE contacts k SET name = $2, updated_at = now()
         WHERE k.phone = $1 AND k.name = '' AND $2 <> ''
        RETURNING {COLUMNS}, false AS created
        """,
        phone,
        name,
    ) or await conn.fetchrow(
        f"SELECT {COLUMNS}, false AS created FROM contacts k WHERE k.phone = $1", phone
    )
    assert row is not None
    return row, False


async def find_or_create_by_identity(
    conn: Conn, channel: str, external_id: str, name: str
) -> tuple[asyncpg.Record, bool]:
    """The contact behind a channel-scoped id (Instagram / Messenger user id, email address)."""
    found = await conn.fetchrow(
        f"SELECT {COLUMNS}, false AS created FROM contact_identities i "
        f"JOIN contacts k ON k.id = i.contact_id WHERE i.channel = $1 AND i.external_id = $2",
        channel,
        external_id,
    )
    if found is not None:
        return found, False
    row = await conn.fetchrow(
        f"""
        WITH k AS (INSERT INTO contacts (name) VALUES ($3) RETURNING *),
             i AS (INSERT INTO contact_identities (channel, external_id, contact_id)
                   SELECT $1, $2, id FROM k ON CONFLICT DO NOTHING RETURNING contact_id)
        SELECT {COLUMNS}, EXISTS (SELECT 1 FROM i) AS created FROM k
        """,
        channel,
        external_id,
        name,
    )
    assert row is not None
    if not row["created"]:  # a concurrent insert won: drop ours, use theirs
        await conn.execute("DELETE FROM contacts WHERE id = $1", row["id"])
        return await find_or_create_by_identity(conn, channel, external_id, name)
    return row, True
