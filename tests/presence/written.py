"""What presence changes wrote: agent.presence events and set_presence activity entries."""

from __future__ import annotations

from typing import Any
from uuid import UUID


async def presence_events(ctx: Any, agent_id: UUID) -> list[dict[str, Any]]:
    """The agent.presence events about `agent_id`, oldest first (data, actor, audience)."""
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT data, actor, audience FROM event_outbox "
            "WHERE type = 'agent.presence' AND data->>'agent_id' = $1 ORDER BY pos",
            str(agent_id),
        )
    return [dict(r) for r in rows]


async def presence_entries(ctx: Any, agent_id: UUID) -> list[dict[str, Any]]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT agent_id, target_type, target_id, metadata_json FROM activity_logs "
            "WHERE action = 'set_presence' AND agent_id = $1 ORDER BY created_at, id",
            agent_id,
        )
    return [dict(r) for r in rows]


async def presence_row(ctx: Any, agent_id: UUID) -> tuple[str, str]:
    """(presence, presence_choice) as stored."""
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT presence, presence_choice FROM agents WHERE id = $1", agent_id
        )
    assert row is not None
    return row["presence"], row["presence_choice"]
