"""SQL of quick replies and agents' favourites.

Which replies one sees: admins all; everyone else the global ones (no division) and those
of their divisions. The rule is written once here (_VISIBLE) and mirrored by service.can_see.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn

# $1 role, $2 agent id, $3 the agent's divisions: the order of Scope.params().
_VISIBLE = "($1::text = 'admin' OR q.division_id IS NULL OR q.division_id = ANY($3::uuid[]))"
_COLUMNS = (
    "q.id, q.division_id, d.name AS division_name, q.title, q.body, q.media_url, "
    "q.created_by, q.created_at, q.updated_at, (f.agent_id IS NOT NULL) AS is_favorite"
)
_FROM = (
    "quick_replies q LEFT JOIN divisions d ON d.id = q.division_id "
    "LEFT JOIN agent_favorite_replies f ON f.quick_reply_id = q.id AND f.agent_id = $2::uuid"
)
# Row locks for get_visible: FOR UPDATE to change or delete, FOR KEY SHARE to pin (keeps a
# concurrent delete from removing the reply between the check and the favourite's insert).
LOCKS = {None: "", "update": " FOR UPDATE OF q", "key_share": " FOR KEY SHARE OF q"}


async def insert(
    conn: Conn,
    title: str,
    body: str,
    media_url: str | None,
    division_id: UUID | None,
    created_by: UUID,
) -> UUID:
    value: UUID = await conn.fetchval(
        "INSERT INTO quick_replies (title, body, media_url, division_id, created_by) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
        title,
        body,
        media_url,
        division_id,
        created_by,
    )
    return value


async def get_visible(
    conn: Conn, scope: Scope, quick_reply_id: UUID, lock: str | None = None
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE q.id = $4 AND {_VISIBLE}{LOCKS[lock]}",
        *scope.params(),
        quick_reply_id,
    )


async def update(
    conn: Conn,
    quick_reply_id: UUID,
    title: str,
    body: str,
    media_url: str | None,
    division_id: UUID | None,
) -> None:
    await conn.execute(
        "UPDATE quick_replies SET title = $2, body = $3, media_url = $4, division_id = $5, "
        "updated_at = now() WHERE id = $1",
        quick_reply_id,
        title,
        body,
        media_url,
        division_id,
    )


async def delete(conn: Conn, quick_reply_id: UUID) -> None:
    await conn.execute("DELETE FROM quick_replies WHERE id = $1", quick_reply_id)


async def delete_of_division(conn: Conn, division_id: UUID) -> list[asyncpg.Record]:
    """Deletes a division's replies (agents' pins go with them); returns what was deleted,
    by title. The caller holds the division's row lock, so no reply moves in meanwhile."""
    rows = await conn.fetch(
        "DELETE FROM quick_replies WHERE division_id = $1 RETURNING id, division_id, title",
        division_id,
    )
    return sorted(rows, key=lambda r: (r["title"].lower(), r["id"]))


async def page(
    conn: Conn,
    scope: Scope,
    contains: str | None,
    prefix: str | None,
    after: tuple[int, str, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Favourites first (rank 0), then by title ignoring case; keyset on (rank, title, id)."""
    return await conn.fetch(
        f"""
        SELECT * FROM (
            SELECT {_COLUMNS},
                   CASE WHEN f.agent_id IS NULL THEN 1 ELSE 0 END AS rank,
                   lower(q.title) AS sort_title
              FROM {_FROM}
             WHERE {_VISIBLE}
               AND ($4::text IS NULL OR q.title ILIKE $4 OR q.body ILIKE $4)
               AND ($5::text IS NULL OR q.title ILIKE $5)
        ) s
         WHERE ($6::int IS NULL OR (s.rank, s.sort_title, s.id) > ($6, $7::text, $8::uuid))
         ORDER BY s.rank, s.sort_title, s.id LIMIT $9
        """,
        *scope.params(),
        contains,
        prefix,
        after[0] if after else None,
        after[1] if after else None,
        after[2] if after else None,
        limit,
    )


async def add_favorite(conn: Conn, agent_id: UUID, quick_reply_id: UUID) -> bool:
    """True when it was not a favourite before."""
    result: str = await conn.execute(
        "INSERT INTO agent_favorite_replies (agent_id, quick_reply_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        agent_id,
        quick_reply_id,
    )
    return result.endswith(" 1")


async def remove_favorite(conn: Conn, agent_id: UUID, quick_reply_id: UUID) -> bool:
    result: str = await conn.execute(
        "DELETE FROM agent_favorite_replies WHERE agent_id = $1 AND quick_reply_id = $2",
        agent_id,
        quick_reply_id,
    )
    return result.endswith(" 1")
