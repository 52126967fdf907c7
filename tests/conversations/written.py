"""Helpers of the conversation action tests (priority, labels): what an action wrote, and
the list as an agent sees it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tests.conftest import Agent

URL = "/api/v1/conversations"


async def written(ctx: Any, *actions: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The conversation.updated events and the activity entries of `actions`, oldest first."""
    async with ctx.pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT data, audience FROM event_outbox WHERE type = 'conversation.updated' "
            "ORDER BY pos"
        )
        entries = await conn.fetch(
            "SELECT action, agent_id, target_type, target_id, metadata_json FROM activity_logs "
            "WHERE action = ANY($1::text[]) ORDER BY created_at, id",
            list(actions),
        )
    return [dict(r) for r in events], [dict(r) for r in entries]


async def listed(client: Any, who: Agent, **params: Any) -> list[UUID]:
    r = await client.get(URL, headers=who.headers, params=params)
    assert r.status_code == 200, r.text
    return [UUID(i["id"]) for i in r.json()["items"]]
