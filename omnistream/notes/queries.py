"""SQL of conversation notes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

COLUMNS = (
    "n.id, n.conversation_id, n.agent_id, n.body, n.created_at, "
    "(SELECT a.name FROM agents a WHERE a.id = n.agent_id) AS agent_name"
)


async def insert(conn: Conn, conversation_id: UUID, agent_id: UUID, body: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH n AS (INSERT INTO conversation_notes (conversation_id, agent_id, body)
                   VALUES ($1, $2, $3) RETURNING *)
        SELECT {COLUMNS} FROM n
        """,
        conversation_id,
        agent_id,
        body,
    )
    assert row is not None
    return row


async def get(conn: Conn, conversation_id: UUID, note_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM conversation_notes n WHERE n.id = $1 AND n.conversation_id = $2",
        note_id,
        conversation_id,
    )


async def delete(conn: Conn, note_id: UUID) -> None:
    await conn.execute("DELETE FROM conversation_notes WHERE id = $1", note_id)


async def page(
    conn: Conn, conversation_id: UUID, after: tuple[datetime, UUID] | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM conversation_notes n
         WHERE n.conversation_id = $1
           AND ($2::timestamptz IS NULL OR (n.created_at, n.id) < ($2, $3::uuid))
         ORDER BY n.created_at DESC, n.id DESC LIMIT $4
        """,
        conversation_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
