"""/api/v1 routes of scheduled messages: schedule, list, get, edit, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Query, Response

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.conversations.service import get_visible
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import transaction
from omnistream.kit.openapi import problems
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of
from omnistream.scheduled import queries, service
from omnistream.scheduled.schemas import (
    ScheduledCreate,
    ScheduledOut,
    ScheduledStatus,
    ScheduledUpdate,
)

router = APIRouter(tags=["scheduled messages"])
CONVERSATION = "/api/v1/conversations/{conversation_id}/scheduled-messages"
ONE = "/api/v1/scheduled-messages/{scheduled_id}"
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def _out(row: asyncpg.Record) -> ScheduledOut:
    return ScheduledOut(**service.payload(row))


async def _page(
    ctx: Ctx,
    principal: Principal,
    *,
    status: ScheduledStatus | None,
    conversation_id: UUID | None,
    agent_id: UUID | None,
    order: str,
    cursor: str | None,
    limit: int,
) -> Page[ScheduledOut]:
    after = decode_cursor(cursor, datetime, UUID) if cursor else None
    scope = Scope.of(principal)
    async with ctx.pool.acquire() as conn:
        if conversation_id is not None:
            await get_visible(conn, scope, conversation_id)  # 404 for one not visible
        rows = await queries.page(
            conn,
            scope,
            status=status,
            conversation_id=conversation_id,
            agent_id=agent_id,
            after=after,
            limit=limit + 1,
            ascending=order == "asc",
        )
    kept, next_cursor = page_of(rows, limit, lambda r: (r["scheduled_at"], r["id"]))
    return Page[ScheduledOut](items=[_out(r) for r in kept], next_cursor=next_cursor)


@router.post(
    CONVERSATION,
    status_code=201,
    response_model=ScheduledOut,
    summary="Schedule a message (a reply's body plus scheduled_at)",
)
async def schedule(
    ctx: Ctx,
    conversation_id: UUID,
    body: ScheduledCreate,
    actor: Annotated[Principal, requires(Perm.MESSAGES_SCHEDULE)],
) -> ScheduledOut:
    async with transaction(ctx.pool) as tx:
        row = await service.create(tx, actor, conversation_id, body)
    return _out(row)


@router.get(
    CONVERSATION,
    response_model=Page[ScheduledOut],
    summary="A conversation's scheduled messages (keyset pages, soonest first)",
)
async def list_for_conversation(
    ctx: Ctx,
    conversation_id: UUID,
    principal: Annotated[Principal, requires(Perm.CONVERSATIONS_READ)],
    status: ScheduledStatus | None = None,
    order: Literal["asc", "desc"] = "asc",
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ScheduledOut]:
    return await _page(
        ctx,
        principal,
        status=status,
        conversation_id=conversation_id,
        agent_id=None,
        order=order,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/api/v1/scheduled-messages",
    response_model=Page[ScheduledOut],
    summary="Scheduled messages of every conversation one may see (keyset pages)",
    responses=problems(404),
)
async def list_scheduled(
    ctx: Ctx,
    principal: Annotated[Principal, requires(Perm.CONVERSATIONS_READ)],
    status: ScheduledStatus | None = None,
    conversation_id: UUID | None = None,
    agent_id: Annotated[UUID | None, Query(description="Scheduled by this agent.")] = None,
    order: Literal["asc", "desc"] = "asc",
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ScheduledOut]:
    return await _page(
        ctx,
        principal,
        status=status,
        conversation_id=conversation_id,
        agent_id=agent_id,
        order=order,
        cursor=cursor,
        limit=limit,
    )


@router.get(ONE, response_model=ScheduledOut, summary="Get a scheduled message")
async def get_scheduled(
    ctx: Ctx,
    scheduled_id: UUID,
    principal: Annotated[Principal, requires(Perm.CONVERSATIONS_READ)],
) -> ScheduledOut:
    async with ctx.pool.acquire() as conn:
        row = await service.get(conn, principal, scheduled_id)
    return _out(row)


@router.patch(
    ONE,
    response_model=ScheduledOut,
    summary="Move a pending scheduled message and/or replace its message (409 once handled)",
    responses=problems(409),
)
async def edit_scheduled(
    ctx: Ctx,
    scheduled_id: UUID,
    body: ScheduledUpdate,
    actor: Annotated[Principal, requires(Perm.MESSAGES_SCHEDULE)],
) -> ScheduledOut:
    async with transaction(ctx.pool) as tx:
        row = await service.edit(tx, actor, scheduled_id, body)
    return _out(row)


@router.post(
    ONE + "/cancel",
    response_model=ScheduledOut,
    summary="Cancel a pending scheduled message (409 once handled)",
    responses=problems(409),
)
async def cancel_scheduled(
    ctx: Ctx,
    scheduled_id: UUID,
    actor: Annotated[Principal, requires(Perm.MESSAGES_SCHEDULE)],
) -> ScheduledOut:
    async with transaction(ctx.pool) as tx:
        row = await service.cancel(tx, actor, scheduled_id)
    return _out(row)


@router.delete(
    ONE,
    status_code=204,
    summary="Cancel a pending scheduled message (the row stays, cancelled; 409 once handled)",
    responses=problems(409),
)
async def delete_scheduled(
    ctx: Ctx,
    scheduled_id: UUID,
    actor: Annotated[Principal, requires(Perm.MESSAGES_SCHEDULE)],
) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.cancel(tx, actor, scheduled_id)
    return Response(status_code=204)
