"""/api/v1/agents: admin management of agents; supervisors may read."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from omnistream.agents import queries, service
from omnistream.agents.schemas import AgentCreate, AgentOut, AgentUpdate, DivisionRef, PasswordReset
from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.db.pool import transaction
from omnistream.kit.enums import Role
from omnistream.kit.openapi import problems
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


@router.get(
    "", response_model=Page[AgentOut], summary="List agents (search, filters, keyset pages)"
)
async def list_agents(
    ctx: Ctx,
    _: Annotated[Principal, requires(Perm.AGENTS_READ)],
    q: Annotated[str | None, Query(max_length=200, description="Part of name or email")] = None,
    role: Role | None = None,
    is_active: bool | None = None,
    division_id: UUID | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[AgentOut]:
    after = decode_cursor(cursor, str, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        rows = await queries.search(
            conn,
            q=q,
            role=role,
            is_active=is_active,
            division_id=division_id,
            after=after,
            limit=limit + 1,
        )
    kept, next_cursor = page_of(rows, limit, lambda r: (r["name"], r["id"]))
    return Page[AgentOut](items=[AgentOut(**dict(r)) for r in kept], next_cursor=next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=AgentOut,
    summary="Create an agent",
    responses=problems(409),
)
async def create_agent(
    ctx: Ctx, body: AgentCreate, actor: Annotated[Principal, requires(Perm.AGENTS_MANAGE)]
) -> AgentOut:
    async with transaction(ctx.pool) as tx:
        row = await service.create(tx, ctx.passwords, actor, body)
    return AgentOut(**dict(row))


@router.get("/{agent_id}", response_model=AgentOut, summary="Get an agent")
async def get_agent(
    ctx: Ctx, agent_id: UUID, _: Annotated[Principal, requires(Perm.AGENTS_READ)]
) -> AgentOut:
    async with ctx.pool.acquire() as conn:
        return AgentOut(**dict(await service.get(conn, agent_id)))


@router.patch(
    "/{agent_id}",
    response_model=AgentOut,
    summary="Update name, role or active state",
    responses=problems(409),
)
async def update_agent(
    ctx: Ctx,
    agent_id: UUID,
    body: AgentUpdate,
    actor: Annotated[Principal, requires(Perm.AGENTS_MANAGE)],
) -> AgentOut:
    async with transaction(ctx.pool) as tx:
        row = await service.update(tx, ctx, actor, agent_id, body)
    return AgentOut(**dict(row))


@router.post("/{agent_id}/password", status_code=204, summary="Reset an agent's password")
async def reset_password(
    ctx: Ctx,
    agent_id: UUID,
    body: PasswordReset,
    actor: Annotated[Principal, requires(Perm.AGENTS_MANAGE)],
) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.reset_password(tx, ctx, actor, agent_id, body.password)
    return Response(status_code=204)


@router.get(
    "/{agent_id}/divisions", response_model=list[DivisionRef], summary="An agent's divisions"
)
async def agent_divisions(
    ctx: Ctx, agent_id: UUID, _: Annotated[Principal, requires(Perm.AGENTS_READ)]
) -> list[DivisionRef]:
    async with ctx.pool.acquire() as conn:
        await service.get(conn, agent_id)
        rows = await queries.divisions_of(conn, agent_id)
    return [DivisionRef(**dict(r)) for r in rows]
