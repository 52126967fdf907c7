"""/api/v1/conversations/{id}/notes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

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
from omnistream.notes import queries, service
from omnistream.notes.schemas import MentionableAgent, NoteIn, NoteOut

router = APIRouter(prefix="/api/v1/conversations/{conversation_id}/notes", tags=["notes"])


@router.get("", response_model=Page[NoteOut], summary="A conversation's notes, newest first")
async def list_notes(
    ctx: Ctx,
    conversation_id: UUID,
    principal: Annotated[Principal, requires(Perm.CONVERSATIONS_READ)],
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[NoteOut]:
    after = decode_cursor(cursor, datetime, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        await get_visible(conn, Scope.of(principal), conversation_id)
        rows = await queries.page(conn, conversation_id, after, limit + 1)
    kept, next_cursor = page_of(rows, limit, lambda r: (r["created_at"], r["id"]))
    return Page[NoteOut](items=[NoteOut(**dict(r)) for r in kept], next_cursor=next_cursor)


@router.get(
    "/mentionable",
    response_model=list[MentionableAgent],
    summary="Agents a note here may mention: active, able to see the conversation, by name",
)
async def mentionable_agents(
    ctx: Ctx,
    conversation_id: UUID,
    principal: Annotated[Principal, requires(Perm.CONVERSATIONS_READ)],
    q: Annotated[str | None, Query(max_length=200, description="Part of the name")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
) -> list[MentionableAgent]:
    async with ctx.pool.acquire() as conn:
        rows = await service.mentionable(conn, principal, conversation_id, q, limit)
    return [MentionableAgent(**dict(r)) for r in rows]


@router.post("", status_code=201, response_model=NoteOut, summary="Add an internal note")
async def add_note(
    ctx: Ctx,
    conversation_id: UUID,
    body: NoteIn,
    actor: Annotated[Principal, requires(Perm.CONVERSATIONS_WORK)],
) -> NoteOut:
    async with transaction(ctx.pool) as tx:
        row = await service.add(tx, actor, conversation_id, body.body, body.mentions)
    return NoteOut(**dict(row))


@router.delete(
    "/{note_id}",
    status_code=204,
    summary="Delete own note (admins: any)",
    responses=problems(403),
)
async def delete_note(
    ctx: Ctx,
    conversation_id: UUID,
    note_id: UUID,
    actor: Annotated[Principal, requires(Perm.CONVERSATIONS_WORK)],
) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.delete(tx, actor, conversation_id, note_id)
    return Response(status_code=204)
