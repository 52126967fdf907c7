"""SQL of bulk actions: the batch's one visibility read, which also locks the rows."""

from __future__ import annotations

from uuid import UUID

from omnistream.conversations.visibility import Scope, visible_sql
from omnistream.db.pool import Conn


async def lock_visible(conn: Conn, scope: Scope, ids: list[UUID]) -> set[UUID]:
    """The ids of these conversations the caller may see, each row locked FOR UPDATE in id
    order: two bulk actions over overlapping sets then wait for each other instead of
    deadlocking, and a row seen visible here stays so until the transaction ends."""
    rows = await conn.fetch(
        "SELECT c.id FROM conversations c "
        f"WHERE c.id = ANY($1::uuid[]) AND {visible_sql('c', 2, 3, 4)} "
        "ORDER BY c.id FOR UPDATE",
        ids,
        *scope.params(),
    )
    return {r["id"] for r in rows}
