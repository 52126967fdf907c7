"""SQL of automatic assignment: settings, capacities, the pool of agents, the waiting queue,
the assignments themselves and the consumer's position."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from omnistream.conversations.queries import COLUMNS as CONVERSATION_COLUMNS
from omnistream.db.pool import Conn
from omnistream.webhooks.delivery_queries import lock_consumer

CONSUMER = "assignment"  # the consumer's row in event_consumers


# Settings --------------------------------------------------------------------------------------


async def enabled_scopes(conn: Conn) -> list[UUID | None]:
    """The divisions taking part (None: the conversations without a division)."""
    rows = await conn.fetch("SELECT division_id FROM assignment_settings WHERE enabled")
    return [r["division_id"] for r in rows]


async def settings(conn: Conn) -> list[asyncpg.Record]:
    """Every division with its setting (off when it has no row), by name; the global row
    is read by global_setting."""
    return await conn.fetch(
        """
        SELECT d.id AS division_id, d.name, COALESCE(s.enabled, false) AS enabled,
               s.updated_at
          FROM divisions d LEFT JOIN assignment_settings s ON s.division_id = d.id
         ORDER BY d.name, d.id
        """
    )


async def global_setting(conn: Conn) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT enabled, updated_at FROM assignment_settings WHERE division_id IS NULL"
    )


async def lock_setting(conn: Conn, division_id: UUID | None) -> bool:
    """A setting (off when it has no row), its row locked for this transaction."""
    enabled: bool | None = await conn.fetchval(
        "SELECT enabled FROM assignment_settings WHERE division_id IS NOT DISTINCT FROM $1 "
        "FOR UPDATE",
        division_id,
    )
    return bool(enabled)


async def save_setting(
    conn: Conn, division_id: UUID | None, enabled: bool, by: UUID | None
) -> None:
    await conn.execute(
        """
        INSERT INTO assignment_settings (division_id, enabled, updated_by)
        VALUES ($1, $2, $3)
        ON CONFLICT (division_id) DO UPDATE
           SET enabled = EXCLUDED.enabled, updated_by = EXCLUDED.updated_by, updated_at = now()
        """,
        division_id,
        enabled,
        by,
    )


async def division_exists(conn: Conn, division_id: UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM divisions WHERE id = $1)", division_id
    )
    return found


# Capacities ------------------------------------------------------------------------------------


async def capacities(conn: Conn, agent_ids: list[UUID] | None = None) -> list[asyncpg.Record]:
    """Active agents (or those of `agent_ids`) with their capacity, per-channel capacities
    ({channel: n}), presence and open conversations, by name."""
    return await conn.fetch(
        """
        SELECT a.id, a.name, a.email, a.role, a.presence, a.capacity,
               COALESCE((SELECT jsonb_object_agg(k.channel, k.capacity)
                           FROM agent_channel_capacities k WHERE k.agent_id = a.id), '{}')
                 AS channels,
               (SELECT count(*) FROM conversations c
                 WHERE c.assigned_agent_id = a.id AND c.status = 'open') AS open
          FROM agents a
         WHERE CASE WHEN $1::uuid[] IS NULL THEN a.is_active ELSE a.id = ANY($1) END
         ORDER BY a.name, a.id
        """,
        agent_ids,
    )


async def lock_agent(conn: Conn, agent_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, capacity FROM agents WHERE id = $1 FOR NO KEY UPDATE", agent_id
    )


async def set_capacity(conn: Conn, agent_id: UUID, capacity: int) -> None:
    await conn.execute(
        "UPDATE agents SET capacity = $2, updated_at = now() WHERE id = $1", agent_id, capacity
    )


async def channel_capacities(conn: Conn, agent_id: UUID) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT channel, capacity FROM agent_channel_capacities WHERE agent_id = $1", agent_id
    )
    return {r["channel"]: r["capacity"] for r in rows}


async def replace_channel_capacities(conn: Conn, agent_id: UUID, values: dict[str, int]) -> None:
    await conn.execute("DELETE FROM agent_channel_capacities WHERE agent_id = $1", agent_id)
    await conn.execute(
        """
        INSERT INTO agent_channel_capacities (agent_id, channel, capacity)
        SELECT $1, k, v FROM unnest($2::text[], $3::int[]) AS t(k, v)
        """,
        agent_id,
        list(values),
        list(values.values()),
    )


# The pool and the queue --------------------------------------------------------------------------


async def pool(conn: Conn, division_id: UUID | None) -> list[asyncpg.Record]:
    """The agents who may receive a division's conversations now (None: those without a
    division: every agent): active, online, capacity above 0; with their open conversations
    in all and per channel, and their turn (0: never assigned automatically). The rows are
    locked, so the capacity counted against is the one in force."""
    return await conn.fetch(
        """
        SELECT a.id, a.capacity, COALESCE(t.turn, 0) AS turn,
               COALESCE((SELECT jsonb_object_agg(k.channel, k.capacity)
                           FROM agent_channel_capacities k WHERE k.agent_id = a.id), '{}')
                 AS channel_capacity,
               COALESCE((SELECT jsonb_object_agg(o.channel, o.n)
                           FROM (SELECT c.channel, count(*) AS n FROM conversations c
                                  WHERE c.assigned_agent_id = a.id AND c.status = 'open'
                                  GROUP BY c.channel) o), '{}') AS open_by_channel
          FROM agents a LEFT JOIN assignment_turns t ON t.agent_id = a.id
         WHERE a.presence = 'online' AND a.is_active AND a.capacity > 0
           AND ($1::uuid IS NULL OR EXISTS (SELECT 1 FROM agent_divisions m
                                             WHERE m.agent_id = a.id AND m.division_id = $1))
         ORDER BY a.id
           FOR NO KEY UPDATE OF a
        """,
        division_id,
    )


async def waiting(conn: Conn, division_id: UUID | None, limit: int) -> list[asyncpg.Record]:
    """The oldest open unassigned conversations of a division (None: without one), locked;
    one a transaction holds now (a manual assignment, a message) is skipped this time."""
    where = "division_id IS NULL" if division_id is None else "division_id = $2"
    args: list[Any] = [limit] if division_id is None else [limit, division_id]
    return await conn.fetch(
        f"""
        SELECT id, channel FROM conversations
         WHERE {where} AND status = 'open' AND assigned_agent_id IS NULL
         ORDER BY created_at, id
         LIMIT $1
           FOR UPDATE SKIP LOCKED
        """,
        *args,
    )


async def assign(
    conn: Conn, conversation_ids: list[UUID], agent_ids: list[UUID]
) -> list[asyncpg.Record]:
    """Give each conversation its agent, only while still open and unassigned (they are
    locked: all are); the conversations after, in the order given."""
    return await conn.fetch(
        f"""
        WITH u AS (SELECT * FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY
                                 AS u(id, agent_id, ord)),
             c AS (UPDATE conversations c SET assigned_agent_id = u.agent_id, updated_at = now()
                     FROM u
                    WHERE c.id = u.id AND c.assigned_agent_id IS NULL AND c.status = 'open'
                   RETURNING c.*)
        SELECT {CONVERSATION_COLUMNS} FROM c JOIN u ON u.id = c.id ORDER BY u.ord
        """,
        conversation_ids,
        agent_ids,
    )


async def last_turn(conn: Conn) -> int:
    value: int = await conn.fetchval("SELECT COALESCE(max(turn), 0) FROM assignment_turns")
    return value


async def save_turns(conn: Conn, agent_ids: list[UUID], turns: list[int]) -> None:
    await conn.execute(
        """
        INSERT INTO assignment_turns (agent_id, turn)
        SELECT * FROM unnest($1::uuid[], $2::bigint[])
        ON CONFLICT (agent_id) DO UPDATE SET turn = EXCLUDED.turn
        """,
        agent_ids,
        turns,
    )


async def record_assignments(conn: Conn, conversation_ids: list[UUID], metadata: list[str]) -> None:
    """One activity entry per automatic assignment (no agent: the system did it); metadata
    as JSON text."""
    await conn.execute(
        """
        INSERT INTO activity_logs (agent_id, action, target_type, target_id, metadata_json)
        SELECT NULL, 'assign_conversation', 'conversation', t, m::jsonb
          FROM unnest($1::uuid[], $2::text[]) AS u(t, m)
        """,
        conversation_ids,
        metadata,
    )


# The consumer ----------------------------------------------------------------------------------

# Events after which someone may be assigned: a conversation starts waiting (created,
# reopened, unassigned or moved: conversation.assigned to nobody, transferred), an agent's
# load drops (resolved, a manual reassignment away: conversation.assigned by someone), an
# agent comes online (agent.presence), a division switched on (assignment_settings.updated).
# The consumer's own assignments (actor system) are left out: they never free anyone.
_TRIGGERS = """
    type IN ('conversation.created', 'conversation.reopened', 'conversation.transferred',
             'conversation.resolved', 'conversation.snoozed', 'conversation.unsnoozed',
             'agent.presence', 'assignment_settings.updated')
    OR (type = 'conversation.assigned' AND actor->>'type' IS DISTINCT FROM 'system')
"""


async def lock_position(conn: Conn) -> int | None:
    return await lock_consumer(conn, CONSUMER)


async def top_seq(conn: Conn) -> int:
    value: int = await conn.fetchval("SELECT COALESCE(max(seq), 0) FROM event_outbox")
    return value


async def triggered(conn: Conn, after: int, upto: int) -> bool:
    """Whether an event with after < seq <= upto may let someone be assigned."""
    found: bool = await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM event_outbox WHERE seq > $1 AND seq <= $2 "
        f"AND ({_TRIGGERS}))",
        after,
        upto,
    )
    return found
