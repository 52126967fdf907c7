"""Sockets of one agent opening at the same moment (a client reconnecting to several API
processes at once, or the web app in several tabs after a restart): each open records its
connection row and brings the agent back to their choice in one transaction. Found by the
topology's fail-over test (issue 18): the row's foreign key took a key-share lock on the
agent before the FOR UPDATE of the agent, so two opens deadlocked and one socket closed with
1011. The agent row is now locked first."""

from __future__ import annotations

import asyncio

from omnistream.context import AppContext
from omnistream.db.pool import transaction
from omnistream.kit.enums import Presence
from omnistream.presence import service
from tests.conftest import Actors


async def test_sockets_of_one_agent_opening_at_once_never_deadlock(
    ctx: AppContext, actors: Actors
) -> None:
    agent = await actors.make("agent")
    async with transaction(ctx.pool) as tx:
        await service.set_presence(
            tx, agent.id, Presence.OFFLINE, reason=service.Reason.DISCONNECTED
        )

    async def open_socket(n: int) -> None:
        async with transaction(ctx.pool) as tx:
            await service.connected(tx, agent.id, f"process-{n}")

    for _ in range(5):  # a deadlock needs two transactions to interleave: several rounds
        await asyncio.gather(*(open_socket(n) for n in range(6)))
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetchval(
            "SELECT count(*) FROM presence_connections WHERE agent_id = $1", agent.id
        )
        presence = await conn.fetchval("SELECT presence FROM agents WHERE id = $1", agent.id)
    assert rows == 30
    assert presence == Presence.ONLINE
