"""SQL of agent availability: the agents' presence columns and the live connections that
keep an agent from going offline (presence_connections, migration 0028)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

# What a presence change answers: the agent's row after it and what it showed before.
CHANGE_COLUMNS = (
    "a.id AS agent_id, a.name, a.presence, a.presence_choice, a.presence_changed_at, "
    "o.presence AS previous, "
    "ARRAY(SELECT m.division_id FROM agent_divisions m WHERE m.agent_id = a.id "
    "      ORDER BY m.division_id) AS division_ids"
)


async def change(
    conn: Conn, agent_id: UUID, presence: str, choice: str | None
) -> asyncpg.Record | None:
    """Set presence (and, given, presence_choice); None when the row already says so (or no
    such agent). presence_changed_at moves only when presence itself changes."""
    return await conn.fetchrow(
        f"""
        WITH o AS (SELECT id, presence, presence_choice FROM agents WHERE id = $1 FOR UPDATE)
        UPDATE agents a
           SET presence = $2,
               presence_choice = COALESCE($3, a.presence_choice),
               presence_changed_at = CASE WHEN a.presence = $2 THEN a.presence_changed_at
                                          ELSE now() END
          FROM o
         WHERE a.id = o.id
           AND (o.presence, o.presence_choice)
               IS DISTINCT FROM ($2, COALESCE($3, o.presence_choice))
        RETURNING {CHANGE_COLUMNS}
        """,
        agent_id,
        presence,
        choice,
    )


async def current(conn: Conn, agent_id: UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        "SELECT id, presence, presence_choice, presence_changed_at FROM agents WHERE id = $1"
        + lock,
        agent_id,
    )


# Live connections ------------------------------------------------------------------------


async def connect(conn: Conn, agent_id: UUID, process: str) -> UUID:
    """A live socket of `agent_id` opened in API process `process`: its row's id."""
    connection_id: UUID = await conn.fetchval(
        "INSERT INTO presence_connections (agent_id, process) VALUES ($1, $2) RETURNING id",
        agent_id,
        process,
    )
    return connection_id


async def disconnect(conn: Conn, connection_id: UUID) -> None:
    """Closed: seen_at becomes the moment the agent was last connected through it."""
    await conn.execute(
        "UPDATE presence_connections SET seen_at = now(), closed_at = now() "
        "WHERE id = $1 AND closed_at IS NULL",
        connection_id,
    )


async def heartbeat(conn: Conn, connections: list[tuple[UUID, UUID]], process: str) -> None:
    """The sockets (connection id, agent id) an API process still holds are alive now; a
    row the tick deleted as stale (a long database outage) is written again."""
    await conn.execute(
        """
        INSERT INTO presence_connections (id, agent_id, process)
        SELECT c.id, c.agent_id, $3 FROM unnest($1::uuid[], $2::uuid[]) AS c (id, agent_id)
          JOIN agents a ON a.id = c.agent_id
        ON CONFLICT (id) DO UPDATE SET seen_at = now()
            WHERE presence_connections.closed_at IS NULL
        """,
        [c for c, _ in connections],
        [a for _, a in connections],
        process,
    )


async def stranded(conn: Conn, agent_ids: list[UUID]) -> list[UUID]:
    """Of agents with an open socket, those shown offline though they did not choose it."""
    rows = await conn.fetch(
        "SELECT id FROM agents WHERE id = ANY($1::uuid[]) "
        "AND presence = 'offline' AND presence_choice <> 'offline' ORDER BY id",
        agent_ids,
    )
    return [r["id"] for r in rows]


async def gone(conn: Conn, offline_seconds: float, limit: int) -> list[UUID]:
    """Agents shown online or away who were last connected (or last changed presence) more
    than offline_seconds ago, locked: open sockets are heartbeated far more often than that,
    so none of theirs qualifies, and a killed process's rows simply stop moving."""
    rows = await conn.fetch(
        """
        SELECT a.id FROM agents a
         WHERE a.presence <> 'offline'
           AND a.presence_changed_at < now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM presence_connections c
                            WHERE c.agent_id = a.id
                              AND c.seen_at >= now() - make_interval(secs => $1))
         ORDER BY a.id
         LIMIT $2
           FOR UPDATE OF a SKIP LOCKED
        """,
        offline_seconds,
        limit,
    )
    return [r["id"] for r in rows]


async def forget_old(conn: Conn, offline_seconds: float) -> int:
    """Rows that no longer keep anyone online (closed or stale for longer than the limit)."""
    result: str = await conn.execute(
        "DELETE FROM presence_connections WHERE seen_at < now() - make_interval(secs => $1)",
        offline_seconds,
    )
    return int(result.rsplit(maxsplit=1)[-1])
