"""SQL of authentication: sessions, refresh tokens, login attempts, the principal lookup."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

AUTH_CHANNEL = "omnistream_auth"


async def principal_row(conn: Conn, session_id: UUID, agent_id: UUID) -> asyncpg.Record | None:
    """The agent behind a live session, with its profile (GET /auth/me is served from it)."""
    return await conn.fetchrow(
        """
        SELECT a.id, a.email, a.name, a.role, a.is_active, a.last_seen_at, a.created_at,
               a.updated_at,
               COALESCE((SELECT jsonb_agg(jsonb_build_object('id', d.id, 'name', d.name)
                                          ORDER BY d.name, d.id)
                           FROM agent_divisions ad JOIN divisions d ON d.id = ad.division_id
                          WHERE ad.agent_id = a.id), '[]'::jsonb) AS divisions
          FROM auth_sessions s JOIN agents a ON a.id = s.agent_id
         WHERE s.id = $1 AND a.id = $2 AND a.is_active
           AND s.revoked_at IS NULL AND s.expires_at > now()
        """,
        session_id,
        agent_id,
    )


async def notify_everyone(conn: Conn) -> None:
    """Every API process drops every cached principal (e.g. a division was renamed)."""
    await conn.execute("SELECT pg_notify($1, '*')", AUTH_CHANNEL)


async def notify_auth_changed(conn: Conn, agent_id: UUID) -> None:
    """Delivered at commit to every API process, which drops its cached principal."""
    await conn.execute("SELECT pg_notify($1, $2)", AUTH_CHANNEL, str(agent_id))


async def touch_last_seen(conn: Conn, agent_id: UUID) -> None:
    await conn.execute(
        "UPDATE agents SET last_seen_at = now() WHERE id = $1 "
        "AND (last_seen_at IS NULL OR last_seen_at < now() - interval '1 minute')",
        agent_id,
    )


async def lock_email(conn: Conn, email: str) -> None:
    # Serialises attempts for one email so parallel guesses cannot slip past the limit.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", email)


async def recent_failures(
    conn: Conn, email: str, window_seconds: int, limit: int
) -> list[datetime]:
    rows = await conn.fetch(
        """
        SELECT attempted_at FROM login_attempts
         WHERE email = $1 AND NOT succeeded
           AND attempted_at > now() - make_interval(secs => $2)
           AND attempted_at > COALESCE((SELECT max(attempted_at) FROM login_attempts
                                         WHERE email = $1 AND succeeded), '-infinity')
         ORDER BY attempted_at DESC LIMIT $3
        """,
        email,
        float(window_seconds),
        limit,
    )
    return [r["attempted_at"] for r in rows]


async def record_attempt(conn: Conn, email: str, succeeded: bool, ip: str | None) -> None:
    await conn.execute(
        "INSERT INTO login_attempts (email, succeeded, ip) VALUES ($1, $2, $3)",
        email,
        succeeded,
        ip,
    )


async def db_now(conn: Conn) -> datetime:
    value: datetime = await conn.fetchval("SELECT now()")
    return value


async def agent_for_login(conn: Conn, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, password_hash, is_active, role FROM agents WHERE email = $1", email
    )


async def set_password_hash(conn: Conn, agent_id: UUID, password_hash: str) -> None:
    await conn.execute(
        "UPDATE agents SET password_hash = $2, updated_at = now() WHERE id = $1",
        agent_id,
        password_hash,
    )


async def password_hash(conn: Conn, agent_id: UUID) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT password_hash FROM agents WHERE id = $1", agent_id
    )
    return value


async def create_session(
    conn: Conn, agent_id: UUID, ttl_days: int, user_agent: str | None, ip: str | None
) -> UUID:
    value: UUID = await conn.fetchval(
        "INSERT INTO auth_sessions (agent_id, expires_at, user_agent, ip) "
        "VALUES ($1, now() + make_interval(days => $2), $3, $4) RETURNING id",
        agent_id,
        ttl_days,
        user_agent,
        ip,
    )
    return value


async def insert_refresh_token(conn: Conn, session_id: UUID, token_hash: bytes) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)",
        token_hash,
        session_id,
    )


async def claim_refresh_token(conn: Conn, token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT t.session_id, t.used_at, s.agent_id, a.is_active,
               (s.revoked_at IS NULL AND s.expires_at > now()) AS session_ok
          FROM refresh_tokens t
          JOIN auth_sessions s ON s.id = t.session_id
          JOIN agents a ON a.id = s.agent_id
         WHERE t.token_hash = $1
         FOR UPDATE OF t
        """,
        token_hash,
    )


async def mark_refresh_used(conn: Conn, token_hash: bytes, session_id: UUID) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1", token_hash
    )
    await conn.execute("UPDATE auth_sessions SET last_used_at = now() WHERE id = $1", session_id)


async def revoke_session(conn: Conn, session_id: UUID) -> None:
    await conn.execute(
        "UPDATE auth_sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        session_id,
    )


async def revoke_agent_sessions(conn: Conn, agent_id: UUID, keep: UUID | None = None) -> int:
    result: str = await conn.execute(
        "UPDATE auth_sessions SET revoked_at = now() "
        "WHERE agent_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2",
        agent_id,
        keep,
    )
    return int(result.rsplit(maxsplit=1)[-1])


async def try_tick_lock(conn: Conn, lock_id: int) -> bool:
    value: bool = await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock_id)
    return value


async def purge_ended_sessions(conn: Conn) -> int:
    result: str = await conn.execute(
        "DELETE FROM auth_sessions WHERE expires_at < now() - interval '1 day' "
        "OR revoked_at < now() - interval '1 day'"
    )
    return int(result.rsplit(maxsplit=1)[-1])


async def purge_login_attempts(conn: Conn, older_than_seconds: float) -> int:
    result: str = await conn.execute(
        "DELETE FROM login_attempts WHERE attempted_at < now() - make_interval(secs => $1)",
        older_than_seconds,
    )
    return int(result.rsplit(maxsplit=1)[-1])
