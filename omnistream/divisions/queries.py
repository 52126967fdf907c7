"""SQL of divisions and memberships."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn
from omnistream.kit.text import contains_pattern

COLUMNS = (
    "d.id, d.name, d.description, d.created_at, d.updated_at, "
    "(SELECT count(*) FROM agent_divisions m WHERE m.division_id = d.id)::int AS member_count"
)


async def insert(conn: Conn, name: str, description: str) -> UUID | None:
    """None when the name is taken (names are unique ignoring case)."""
    value: UUID | None = await conn.fetchval(
        "INSERT INTO divisions (name, description) VALUES ($1, $2) "
        "ON CONFLICT ((lower(name))) DO NOTHING RETURNING id",
        name,
        description,
    )
    return value


async def get(conn: Conn, division_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM divisions d WHERE d.id = $1", division_id)


async def lock(conn: Conn, division_id: UUID) -> bool:
    """Row-locks the division for its deletion (False: it is gone). A quick reply created in
    or moved into it meanwhile waits on the lock (its foreign key check), then fails."""
    found = await conn.fetchval("SELECT id FROM divisions WHERE id = $1 FOR UPDATE", division_id)
    return found is not None


async def conversation_count(conn: Conn, division_id: UUID) -> int:
    """How many conversations (open or resolved) belong to the division."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM conversations WHERE division_id = $1", division_id
    )
    return count


async def name_taken(conn: Conn, name: str, except_id: UUID) -> bool:
    value: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM divisions WHERE lower(name) = lower($1) AND id <> $2)",
        name,
        except_id,
    )
    return value


async def update(conn: Conn, division_id: UUID, name: str | None, description: str | None) -> None:
    await conn.execute(
        "UPDATE divisions SET name = COALESCE($2, name), description = COALESCE($3, description), "
        "updated_at = now() WHERE id = $1",
        division_id,
        name,
        description,
    )


async def delete(conn: Conn, division_id: UUID) -> list[UUID]:
    """Deletes the division; returns the agents who were its members."""
    rows = await conn.fetch(
        "SELECT agent_id FROM agent_divisions WHERE division_id = $1", division_id
    )
    await conn.execute("DELETE FROM divisions WHERE id = $1", division_id)
    return [r["agent_id"] for r in rows]


async def search(
    conn: Conn, q: str | None, after: tuple[str, UUID] | None, limit: int
) -> list[asyncpg.Record]:
    pattern = contains_pattern(q)
    return await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM divisions d
         WHERE ($1::text IS NULL OR d.name ILIKE $1 OR d.description ILIKE $1)
           AND ($2::text IS NULL OR (d.name, d.id) > ($2, $3::uuid))
         ORDER BY d.name, d.id LIMIT $4
        """,
        pattern,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def add_member(conn: Conn, division_id: UUID, agent_id: UUID) -> bool:
    """True when the agent was not a member before."""
    result: str = await conn.execute(
        "INSERT INTO agent_divisions (agent_id, division_id) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        agent_id,
        division_id,
    )
    return result.endswith(" 1")


async def remove_member(conn: Conn, division_id: UUID, agent_id: UUID) -> bool:
    result: str = await conn.execute(
        "DELETE FROM agent_divisions WHERE agent_id = $1 AND division_id = $2",
        agent_id,
        division_id,
    )
    return result.endswith(" 1")


async def members(
    conn: Conn, division_id: UUID, after: tuple[str, UUID] | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT a.id, a.email, a.name, a.role, a.is_active, m.created_at AS joined_at
          FROM agent_divisions m JOIN agents a ON a.id = m.agent_id
         WHERE m.division_id = $1
           AND ($2::text IS NULL OR (a.name, a.id) > ($2, $3::uuid))
         ORDER BY a.name, a.id LIMIT $4
        """,
        division_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
