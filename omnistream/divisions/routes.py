"""/api/v1/divisions: CRUD and membership (admin); supervisors may read."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.db.pool import transaction
from omnistream.divisions import queries, service
from omnistream.divisions.schemas import DivisionCreate, DivisionOut, DivisionUpdate, MemberOut
from omnistream.kit.openapi import problems
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of

router = APIRouter(prefix="/api/v1/divisions", tags=["divisions"])
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.get("", response_model=Page[DivisionOut], summary="List divisions")
async def list_divisions(
    ctx: Ctx,
    _: Annotated[Principal, requires(Perm.DIVISIONS_READ)],
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DivisionOut]:
    after = decode_cursor(cursor, str, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        rows = await queries.search(conn, q, after, limit + 1)
    kept, next_cursor = page_of(rows, limit, lambda r: (r["name"], r["id"]))
    return Page[DivisionOut](items=[DivisionOut(**dict(r)) for r in kept], next_cursor=next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=DivisionOut,
    summary="Create a division",
    responses=problems(409),
)
async def create_division(
    ctx: Ctx, body: DivisionCreate, actor: Annotated[Principal, requires(Perm.DIVISIONS_MANAGE)]
) -> DivisionOut:
    async with transaction(ctx.pool) as tx:
        row = await service.create(tx, actor, body)
    return DivisionOut(**dict(row))


@router.get("/{division_id}", response_model=DivisionOut, summary="Get a division")
async def get_division(
    ctx: Ctx, division_id: UUID, _: Annotated[Principal, requires(Perm.DIVISIONS_READ)]
) -> DivisionOut:
    async with ctx.pool.acquire() as conn:
        return DivisionOut(**dict(await service.get(conn, division_id)))


@router.patch(
    "/{division_id}",
    response_model=DivisionOut,
    summary="Rename or describe a division",
    responses=problems(409),
)
async def update_division(
    ctx: Ctx,
    division_id: UUID,
    body: DivisionUpdate,
    actor: Annotated[Principal, requires(Perm.DIVISIONS_MANAGE)],
) -> DivisionOut:
    async with transaction(ctx.pool) as tx:
        row = await service.update(tx, ctx, actor, division_id, body)
    return DivisionOut(**dict(row))


@router.delete(
    "/{division_id}",
    status_code=204,
    summary="Delete a division",
    responses=problems(409),
)
async def delete_division(
    ctx: Ctx, division_id: UUID, actor: Annotated[Principal, requires(Perm.DIVISIONS_MANAGE)]
) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.delete(tx, ctx, actor, division_id)
    return Response(status_code=204)


@router.get(
    "/{division_id}/members", response_model=Page[MemberOut], summary="A division's members"
)
async def list_members(
    ctx: Ctx,
    division_id: UUID,
    _: Annotated[Principal, requires(Perm.DIVISIONS_READ)],
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[MemberOut]:
    after = decode_cursor(cursor, str, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        await service.get(conn, division_id)
        rows = await queries.members(conn, division_id, after, limit + 1)
    kept, next_cursor = page_of(rows, limit, lambda r: (r["name"], r["id"]))
    return Page[MemberOut](items=[MemberOut(**dict(r)) for r in kept], next_cursor=next_cursor)


@router.put("/{division_id}/members/{agent_id}", status_code=204, summary="Add a member")
async def add_member(
    ctx: Ctx,
    division_id: UUID,
    agent_id: UUID,
    actor: Annotated[Principal, requires(Perm.DIVISIONS_MANAGE)],
) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.add_member(tx, ctx, actor, division_id, agent_id)
    return Response(status_code=204)


@router.delete("/{division_id}/members/{agent_id}", status_code=204, summary="Remove a member")
async def remove_member(
    ctx: Ctx,
    division_id: UUID,
    agent_id: UUID,
    actor: Annotated[Principal, requires(Perm.DIVISIONS_MANAGE)],
) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.remove_member(tx, ctx, actor, division_id, agent_id)
    return Response(status_code=204)
