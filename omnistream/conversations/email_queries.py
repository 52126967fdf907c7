"""SQL of starting email conversations (email_start.py): the accounts agents send from."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

_ACTIVE_EMAIL = """
    SELECT a.id, a.external_id AS address,
           NULLIF(btrim(i.credentials_json->>'from_name'), '') AS from_name,
           i.name AS integration_name
      FROM integration_accounts a JOIN integrations i ON i.id = a.integration_id
     WHERE i.channel = 'email' AND i.is_active
"""


async def email_accounts(conn: Conn) -> list[asyncpg.Record]:
    """The accounts of active email integrations (from_name is stored unsealed)."""
    return await conn.fetch(_ACTIVE_EMAIL + " ORDER BY lower(a.external_id), a.id")


async def email_account(conn: Conn, account_id: UUID) -> asyncpg.Record | None:
    """One account of an active email integration, or None."""
    return await conn.fetchrow(_ACTIVE_EMAIL + " AND a.id = $1", account_id)
