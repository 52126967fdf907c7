"""SQL of a conversation's priority (the list's priority filter and sort are in queries.py)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.conversations.queries import COLUMNS
from omnistream.db.pool import Conn
from omnistream.kit.enums import Priority


async def set_priority(conn: Conn, conversation_id: UUID, priority: Priority) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH c AS (UPDATE conversations SET priority = $2, updated_at = now()
                    WHERE id = $1 RETURNING *)
        SELECT {COLUMNS} FROM c
        """,
        conversation_id,
        priority.value,
    )
    assert row is not None
    return row
