"""Shared set-up of the automatic assignment tests: switching it on, agents going online
(through the presence service, as the app does), and the consumer run by hand."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from omnistream.assignment.consumer import consume
from omnistream.context import AppContext
from omnistream.db.pool import transaction
from omnistream.events.dispatcher import publish_pending
from omnistream.kit.enums import Presence
from omnistream.presence.service import set_presence
from tests.conftest import Agent

URL = "/api/v1/assignment"


async def switch_on(
    client: Any, admin: Agent, *divisions: UUID, global_enabled: bool | None = None
) -> None:
    body: dict[str, Any] = {
        "divisions": [{"division_id": str(d), "enabled": True} for d in divisions]
    }
    if global_enabled is not None:
        body["global_enabled"] = global_enabled
    r = await client.put(f"{URL}/settings", headers=admin.headers, json=body)
    assert r.status_code == 200, r.text


async def capacity(
    client: Any, admin: Agent, agent_id: UUID, value: int, **channels: int
) -> dict[str, Any]:
    r = await client.put(
        f"{URL}/agents/{agent_id}",
        headers=admin.headers,
        json={"capacity": value, "channels": channels},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def presence(ctx: AppContext, agent_id: UUID, value: str = "online") -> None:
    async with transaction(ctx.pool) as tx:
        await set_presence(tx, agent_id, Presence(value))


async def run(ctx: AppContext) -> None:
    """Publish what was written and let the consumer assign all it can."""
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)
    while (await consume(ctx.pool)) not in (0, None):
        async with ctx.pool.acquire() as conn:
            await publish_pending(conn)


async def assignees(ctx: AppContext, ids: list[UUID]) -> list[UUID | None]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, assigned_agent_id FROM conversations WHERE id = ANY($1::uuid[])", ids
        )
    by_id = {r["id"]: r["assigned_agent_id"] for r in rows}
    return [by_id[i] for i in ids]


async def open_counts(ctx: AppContext) -> dict[UUID, int]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT assigned_agent_id, count(*) AS n FROM conversations "
            "WHERE status = 'open' AND assigned_agent_id IS NOT NULL GROUP BY 1"
        )
    return {r["assigned_agent_id"]: r["n"] for r in rows}
