"""/api/v1/assignment: the automatic assignment settings and agents' capacities (admins)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter

from omnistream.assignment import service
from omnistream.assignment.schemas import (
    AgentCapacities,
    AgentCapacity,
    AgentCapacityIn,
    AssignmentSettings,
    AssignmentSettingsIn,
)
from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.db.pool import transaction
from omnistream.kit.openapi import problems

router = APIRouter(tags=["assignment"])
BASE = "/api/v1/assignment"
Manager = Annotated[Principal, requires(Perm.ASSIGNMENT_MANAGE)]


@router.get(
    f"{BASE}/settings",
    response_model=AssignmentSettings,
    summary="Automatic assignment: the global setting and each division's",
)
async def get_settings(ctx: Ctx, _: Manager) -> AssignmentSettings:
    async with ctx.pool.acquire() as conn:
        return await service.get_settings(conn)


@router.put(
    f"{BASE}/settings",
    response_model=AssignmentSettings,
    summary="Switch automatic assignment on or off, globally and per division",
    responses=problems(422),
)
async def put_settings(ctx: Ctx, body: AssignmentSettingsIn, actor: Manager) -> AssignmentSettings:
    async with transaction(ctx.pool) as tx:
        return await service.update_settings(tx, actor, body)


@router.get(
    f"{BASE}/agents",
    response_model=AgentCapacities,
    summary="Active agents with their capacity, presence and open conversations",
)
async def list_capacities(ctx: Ctx, _: Manager) -> AgentCapacities:
    async with ctx.pool.acquire() as conn:
        return await service.capacities(conn)


@router.put(
    f"{BASE}/agents/{{agent_id}}",
    response_model=AgentCapacity,
    summary="Set an agent's capacity (in all, and per channel)",
    responses=problems(422),
)
async def put_capacity(
    ctx: Ctx, agent_id: UUID, body: AgentCapacityIn, actor: Manager
) -> AgentCapacity:
    async with transaction(ctx.pool) as tx:
        return await service.set_capacity(tx, actor, agent_id, body)
