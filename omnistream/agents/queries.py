"""SQL of agents."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn
from omnistream.kit.text import contains_pattern

# The profile (GET /auth/me, served from the principal cache) leaves presence out: it changes
# far more often than the cache is evicted (GET /api/v1/me/presence reads it live).
PROFILE_COLUMNS = "id, email, name, role, is_active, last_seen_at, created_at, updated_at"
COLUMNS = f"{PROFILE_COLUMNS}, presence, presence_changed_at"


async def insert(
    conn: Conn, email: str, name: str, role: str, password_hash: str
) -> asyncpg.Record | None:
    """None when the email is taken."""
    return await conn.fetchrow(
        f"INSERT INTO agents (email, name, role, password_hash) VALUES ($1, $2, $3, $4) "
        f"ON CONFLICT (email) DO NOTHING RETURNING {COLUMNS}",
        email,
        name,
        role,
        password_hash,
    )


async def get(conn: Conn, agent_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM agents WHERE id = $1", agent_id)


async def get_for_update(conn: Conn, agent_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM agents WHERE id = $1 FOR UPDATE", agent_id)


async def lock_active_admins(conn: Conn) -> list[UUID]:
    # Row locks on every active admin serialise concurrent demotions / deactivations.
    rows = await conn.fetch(
        "SELECT id FROM agents WHERE role = 'admin' AND is_active ORDER BY id FOR UPDATE"
    )
    return [r["id"] for r in rows]


async def update(
    conn: Conn, agent_id: UUID, name: str | None, role: str | None, is_active: bool | None
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        UPDATE agents SET name = COALESCE($2, name), role = COALESCE($3, role),
               is_active = COALESCE($4, is_active), updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}
        """,
        agent_id,
        name,
        role,
        is_active,
    )
    assert row is not None
    return row


async def search(
    conn: Conn,
    *,
    q: str | None,
    role: str | None,
    is_active: bool | None,
    division_id: UUID | None,
    after: tuple[str, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    pattern = contains_pattern(q)
    return await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM agents a
         WHERE ($1::text IS NULL OR a.name ILIKE $1 OR a.email ILIKE $1)
           AND ($2::text IS NULL OR a.role = $2)
           AND ($3::boolean IS NULL OR a.is_active = $3)
           AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM agent_divisions d
                                             WHERE d.agent_id = a.id AND d.division_id = $4))
           AND ($5::text IS NULL OR (a.name, a.id) > ($5, $6::uuid))
         ORDER BY a.name, a.id
         LIMIT $7
        """,
        pattern,
        role,
        is_active,
        division_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def divisions_of(conn: Conn, agent_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT d.id, d.name FROM agent_divisions ad JOIN divisions d ON d.id = ad.division_id "
        "WHERE ad.agent_id = $1 ORDER BY d.name, d.id",
        agent_id,
    )


async def count(conn: Conn) -> int:
    value: int = await conn.fetchval("SELECT count(*) FROM agents")
    return value


async def profile(conn: Conn, agent_id: UUID) -> asyncpg.Record | None:
    """The agent and its divisions in one round trip (GET /auth/me is hot)."""
    return await conn.fetchrow(
        f"""
        SELECT {PROFILE_COLUMNS},
               COALESCE((SELECT jsonb_agg(jsonb_build_object('id', d.id, 'name', d.name)
                                          ORDER BY d.name, d.id)
                           FROM agent_divisions ad JOIN divisions d ON d.id = ad.division_id
                          WHERE ad.agent_id = a.id), '[]'::jsonb) AS divisions
          FROM agents a WHERE a.id = $1
        """,
        agent_id,
    )


async def lock_agents_table(conn: Conn) -> None:
    # Two first starts at once: the second waits, then sees the first's admin.
    await conn.execute("LOCK TABLE agents IN SHARE ROW EXCLUSIVE MODE")


async def try_session_lock(conn: Conn, lock_id: int) -> bool:
    """A lock held until released or the connection ends (a crashed process lets go too)."""
    value: bool = await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_id)
    return value


async def first_admin_awaiting_sign_in(conn: Conn) -> asyncpg.Record | None:
    """The active admin the first start created, while nobody has ever signed in.

    The activity log is the record: it is never purged (sessions and login attempts are),
    and the first start's create_agent row carries bootstrap=true."""
    return await conn.fetchrow(
        """
        SELECT a.id, a.email FROM agents a
         WHERE a.role = 'admin' AND a.is_active
           AND EXISTS (SELECT 1 FROM activity_logs l
                        WHERE l.action = 'create_agent' AND l.target_type = 'agent'
                          AND l.target_id = a.id AND l.metadata_json @> '{"bootstrap": true}')
           AND NOT EXISTS (SELECT 1 FROM activity_logs l WHERE l.action = 'login')
         ORDER BY a.created_at LIMIT 1
        """
    )
