"""GET /api/v1/directory: the names an inbox needs (assign, transfer, who wrote a reply).

Agents may not read /agents or /divisions (emails, settings), yet they transfer
conversations to colleagues and divisions and see who answered: this is that much, no more.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.directory import queries
from omnistream.directory.schemas import Colleague, Directory, DivisionName

router = APIRouter(tags=["directory"])


@router.get(
    "/api/v1/directory",
    response_model=Directory,
    summary="Active agents (name, role, divisions) and divisions, for assigning and transferring",
)
async def directory(
    ctx: Ctx, _: Annotated[Principal, requires(Perm.CONVERSATIONS_READ)]
) -> Directory:
    async with ctx.pool.acquire() as conn:
        agents = await queries.active_agents(conn)
        divisions = await queries.divisions(conn)
    return Directory(
        agents=[Colleague(**dict(r)) for r in agents],
        divisions=[DivisionName(**dict(r)) for r in divisions],
    )
