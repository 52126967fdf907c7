"""SQL of conversations. COLUMNS is the one column list every query uses."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.conversations.visibility import Scope, visible_sql
from omnistream.db.pool import Conn

COLUMNS = (
    "c.id, c.contact_id, c.assigned_agent_id, c.division_id, c.channel, "
    "c.integration_account_id, c.status, c.last_message_at, c.last_message_preview, "
    "c.last_inbound_at, c.unread_count, c.created_at, c.updated_at, c.resolved_at"
)


async def get(conn: Conn, conversation_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM conversations c WHERE c.id = $1", conversation_id
    )


async def get_visible(
    conn: Conn, scope: Scope, conversation_id: UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM conversations c "
        f"WHERE c.id = $1 AND {visible_sql('c', 2, 3, 4)}{lock}",
        conversation_id,
        *scope.params(),
    )


async def latest_for_contact(
    conn: Conn, contact_id: UUID, channel: str, integration_account_id: UUID | None
) -> asyncpg.Record | None:
    """The contact's most recent conversation on that channel and account (locked)."""
    return await conn.fetchrow(
        f"""
        SELECT {COLUMNS} FROM conversations c
         WHERE c.contact_id = $1 AND c.channel = $2
           AND c.integration_account_id IS NOT DISTINCT FROM $3
         ORDER BY c.last_message_at DESC LIMIT 1 FOR UPDATE
        """,
        contact_id,
        channel,
        integration_account_id,
    )


async def insert(
    conn: Conn,
    contact_id: UUID,
    channel: str,
    integration_account_id: UUID | None,
    division_id: UUID | None = None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH c AS (INSERT INTO conversations
                          (contact_id, channel, integration_account_id, division_id)
                   VALUES ($1, $2, $3, $4) RETURNING *)
        SELECT {COLUMNS} FROM c
        """,
        contact_id,
        channel,
        integration_account_id,
        division_id,
    )
    assert row is not None
    return row


async def set_status(conn: Conn, conversation_id: UUID, status: str) -> asyncpg.Record:
    """Resolve or reopen; resolved_at follows the status."""
    row = await conn.fetchrow(
        f"""
        WITH c AS (UPDATE conversations
                      SET status = $2,
                          resolved_at = CASE WHEN $2 = 'resolved' THEN now() END,
                          updated_at = now()
                    WHERE id = $1 RETURNING *)
        SELECT {COLUMNS} FROM c
        """,
        conversation_id,
        status,
    )
    assert row is not None
    return row
