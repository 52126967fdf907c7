"""SQL of notifications. Every read is the recipient's own rows, within their visibility."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.conversations.visibility import Scope, visible_sql
from omnistream.db.pool import Conn

# What a notification shows: the actor's and the contact's current names are read here (not
# copied when written), so a renamed contact shows its new name.
COLUMNS = """
    n.id, n.recipient_id, n.kind, n.conversation_id, n.note_id, n.actor_id, n.data,
    n.created_at, n.read_at,
    (SELECT a.name FROM agents a WHERE a.id = n.actor_id) AS actor_name,
    (SELECT ct.name FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
      WHERE c.id = n.conversation_id) AS contact_name
"""

# A notification about a conversation is listed only while the recipient may see it ($1
# role, $2 the recipient, $3 their divisions): one moved out of their sight since is neither
# listed nor counted, and its excerpt never shown.
_STILL_VISIBLE = f"""
    (n.conversation_id IS NULL
     OR EXISTS (SELECT 1 FROM conversations c
                 WHERE c.id = n.conversation_id AND {visible_sql("c", 1, 2, 3)}))
"""


async def insert(
    conn: Conn,
    recipient_id: UUID,
    kind: str,
    conversation_id: UUID | None,
    note_id: UUID | None,
    actor_id: UUID | None,
    data: dict[str, Any],
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH n AS (INSERT INTO notifications
                          (recipient_id, kind, conversation_id, note_id, actor_id, data)
                   VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING *)
        SELECT {COLUMNS} FROM n
        """,
        recipient_id,
        kind,
        conversation_id,
        note_id,
        actor_id,
        data,
    )
    assert row is not None
    return row


async def page(
    conn: Conn,
    scope: Scope,
    *,
    kind: str | None,
    unread: bool,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """The scope's agent's notifications, newest first."""
    return await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM notifications n
         WHERE n.recipient_id = $2
           AND ($4::text IS NULL OR n.kind = $4)
           AND (NOT $5::boolean OR n.read_at IS NULL)
           AND ($6::timestamptz IS NULL OR (n.created_at, n.id) < ($6, $7::uuid))
           AND {_STILL_VISIBLE}
         ORDER BY n.created_at DESC, n.id DESC LIMIT $8
        """,
        *scope.params(),
        kind,
        unread,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def unread_count(conn: Conn, scope: Scope, cap: int) -> int:
    """Unread notifications of the scope's agent, counted up to `cap`."""
    value: int = await conn.fetchval(
        f"""
        SELECT count(*) FROM (
            SELECT 1 FROM notifications n
             WHERE n.recipient_id = $2 AND n.read_at IS NULL AND {_STILL_VISIBLE}
             LIMIT $4) AS unread
        """,
        *scope.params(),
        cap,
    )
    return value


async def mark_read(conn: Conn, recipient_id: UUID, notification_id: UUID) -> bool | None:
    """True when it was unread, False when already read, None when not the recipient's."""
    row = await conn.fetchrow(
        """
        WITH mine AS (SELECT id, read_at FROM notifications
                       WHERE id = $1 AND recipient_id = $2 FOR UPDATE),
             marked AS (UPDATE notifications n SET read_at = now()
                          FROM mine WHERE n.id = mine.id AND mine.read_at IS NULL
                        RETURNING n.id)
        SELECT EXISTS (SELECT 1 FROM marked) AS marked FROM mine
        """,
        notification_id,
        recipient_id,
    )
    return None if row is None else bool(row["marked"])


async def mark_all_read(conn: Conn, recipient_id: UUID) -> list[UUID]:
    """Every unread notification of the recipient, now read: their ids."""
    rows = await conn.fetch(
        "UPDATE notifications SET read_at = now() "
        "WHERE recipient_id = $1 AND read_at IS NULL RETURNING id",
        recipient_id,
    )
    return [r["id"] for r in rows]
