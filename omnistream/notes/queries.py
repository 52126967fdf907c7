"""SQL of conversation notes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.conversations.visibility import seen_by_sql
from omnistream.db.pool import Conn

COLUMNS = """
    n.id, n.conversation_id, n.agent_id, n.body, n.created_at,
    (SELECT a.name FROM agents a WHERE a.id = n.agent_id) AS agent_name,
    (SELECT COALESCE(jsonb_agg(jsonb_build_object('id', a.id, 'name', a.name) ORDER BY m.i),
                     '[]'::jsonb)
       FROM unnest(n.mentions) WITH ORDINALITY AS m(id, i) JOIN agents a ON a.id = m.id
    ) AS mentions
"""


async def insert(
    conn: Conn, conversation_id: UUID, agent_id: UUID, body: str, mentions: list[UUID]
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH n AS (INSERT INTO conversation_notes (conversation_id, agent_id, body, mentions)
                   VALUES ($1, $2, $3, $4::uuid[]) RETURNING *)
        SELECT {COLUMNS} FROM n
        """,
        conversation_id,
        agent_id,
        body,
        mentions,
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


# Mentions ---------------------------------------------------------------------------------


async def mentionable(
    conn: Conn, conversation_id: UUID, name_like: str | None, limit: int
) -> list[asyncpg.Record]:
    """Active agents who may see the conversation, by name; `name_like` a LIKE pattern."""
    return await conn.fetch(
        f"""
        SELECT a.id, a.name, a.role FROM conversations c, agents a
         WHERE c.id = $1 AND a.is_active AND {seen_by_sql("a", "c")}
           AND ($2::text IS NULL OR a.name ILIKE $2)
         ORDER BY lower(a.name), a.id LIMIT $3
        """,
        conversation_id,
        name_like,
        limit,
    )


async def mention_checks(
    conn: Conn, conversation_id: UUID, agent_ids: list[UUID]
) -> list[asyncpg.Record]:
    """Each id in order: its agent's name (null: no such agent) and whether that agent is
    active and may see the conversation."""
    return await conn.fetch(
        f"""
        SELECT m.id, a.name, COALESCE(a.is_active AND {seen_by_sql("a", "c")}, false) AS sees
          FROM unnest($2::uuid[]) WITH ORDINALITY AS m(id, i)
          LEFT JOIN agents a ON a.id = m.id
          LEFT JOIN conversations c ON c.id = $1
         ORDER BY m.i
        """,
        conversation_id,
        agent_ids,
    )
