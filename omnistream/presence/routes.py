"""/api/v1/me/presence: the signed-in agent's availability (docs/inbox.md#availability)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import APIRouter

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.db.pool import transaction
from omnistream.kit.openapi import problems
from omnistream.presence import queries, service
from omnistream.presence.schemas import PresenceIn, PresenceOut

router = APIRouter(prefix="/api/v1/me/presence", tags=["presence"])


def _out(row: asyncpg.Record) -> PresenceOut:
    return PresenceOut(
        agent_id=row["id"],
        presence=row["presence"],
        choice=row["presence_choice"],
        changed_at=row["presence_changed_at"],
    )


@router.get("", response_model=PresenceOut, summary="My availability")
async def get_presence(ctx: Ctx, me: Annotated[Principal, requires(Perm.SELF)]) -> PresenceOut:
    async with ctx.pool.acquire() as conn:
        row = await queries.current(conn, me.agent_id)
    assert row is not None  # a signed-in principal's agent exists
    return _out(row)


@router.put(
    "",
    response_model=PresenceOut,
    summary="Set my availability (online, away, offline), or report idling automatically",
    responses=problems(422),
)
async def set_presence(
    ctx: Ctx, body: PresenceIn, me: Annotated[Principal, requires(Perm.SELF)]
) -> PresenceOut:
    async with transaction(ctx.pool) as tx:
        if body.automatic:
            row = await service.automatic(tx, me, body.presence)
        else:
            row = await service.choose(tx, me, body.presence)
    return _out(row)
