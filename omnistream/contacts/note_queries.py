"""SQL of notes about a contact."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

COLUMNS = "n.id, n.contact_id, n.author_id, a.name AS author_name, n.body, n.created_at"
_FROM = "contact_notes n LEFT JOIN agents a ON a.id = n.author_id"


async def insert(conn: Conn, contact_id: UUID, author_id: UUID, body: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH n AS (INSERT INTO contact_notes (contact_id, author_id, body)
                   VALUES ($1, $2, $3) RETURNING *)
        SELECT {COLUMNS} FROM n LEFT JOIN agents a ON a.id = n.author_id
        """,
        contact_id,
        author_id,
        body,
    )
    assert row is not None
    return row


async def page(
    conn: Conn, contact_id: UUID, after: tuple[datetime, UUID] | None, limit: int
) -> list[asyncpg.Record]:
    """Newest first."""
    return await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM {_FROM}
         WHERE n.contact_id = $1
           AND ($2::timestamptz IS NULL OR (n.created_at, n.id) < ($2, $3::uuid))
         ORDER BY n.created_at DESC, n.id DESC
         LIMIT $4
        """,
        contact_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def get(conn: Conn, contact_id: UUID, note_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM {_FROM} WHERE n.id = $1 AND n.contact_id = $2 FOR UPDATE OF n",
        note_id,
        contact_id,
    )


async def delete(conn: Conn, note_id: UUID) -> None:
    await conn.execute("DELETE FROM contact_notes WHERE id = $1", note_id)


async def move(conn: Conn, from_id: UUID, to_id: UUID) -> int:
    """A merge: the notes follow the contact kept; how many moved."""
    moved: int = await conn.fetchval(
        "WITH n AS (UPDATE contact_notes SET contact_id = $2 WHERE contact_id = $1 RETURNING 1) "
        "SELECT count(*) FROM n",
        from_id,
        to_id,
    )
    return moved
