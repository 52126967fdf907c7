"""/api/v1/labels (every role reads them, admins manage them) and labels on a conversation
(/api/v1/conversations/{id}/labels: who may work it, on a conversation they may see)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.conversations.routes import COUNT_CAP
from omnistream.conversations.schemas import ConversationOut
from omnistream.conversations.service import payload
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import transaction
from omnistream.kit.openapi import problems
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of
from omnistream.labels import queries, service
from omnistream.labels.schemas import (
    ConversationLabelIn,
    LabelCount,
    LabelCounts,
    LabelCreate,
    LabelOut,
    LabelUpdate,
)

router = APIRouter(tags=["labels"])
BASE = "/api/v1/labels"
ON_CONVERSATION = "/api/v1/conversations/{conversation_id}/labels"
Reader = Annotated[Principal, requires(Perm.LABELS_READ)]
Manager = Annotated[Principal, requires(Perm.LABELS_MANAGE)]
Worker = Annotated[Principal, requires(Perm.CONVERSATIONS_WORK)]


@router.get(BASE, response_model=Page[LabelOut], summary="List labels, by name")
async def list_labels(
    ctx: Ctx,
    _: Reader,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[LabelOut]:
    after = decode_cursor(cursor, str, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        rows = await queries.search(conn, after, limit + 1)
    kept, next_cursor = page_of(rows, limit, lambda r: (r["name"], r["id"]))
    return Page[LabelOut](items=[LabelOut(**dict(r)) for r in kept], next_cursor=next_cursor)


@router.get(
    f"{BASE}/counts",
    response_model=LabelCounts,
    summary="Open conversations per label that the caller may see",
)
async def label_counts(ctx: Ctx, principal: Reader) -> LabelCounts:
    async with ctx.pool.acquire() as conn:
        rows = await queries.counts(conn, Scope.of(principal), COUNT_CAP)
    return LabelCounts(items=[LabelCount(**dict(r)) for r in rows], cap=COUNT_CAP)


@router.post(
    BASE,
    status_code=201,
    response_model=LabelOut,
    summary="Create a label",
    responses=problems(409),
)
async def create_label(ctx: Ctx, body: LabelCreate, actor: Manager) -> LabelOut:
    async with transaction(ctx.pool) as tx:
        row = await service.create(tx, actor, body)
    return LabelOut(**dict(row))


@router.patch(
    f"{BASE}/{{label_id}}",
    response_model=LabelOut,
    summary="Rename, recolour or describe a label",
    responses=problems(409),
)
async def update_label(ctx: Ctx, label_id: UUID, body: LabelUpdate, actor: Manager) -> LabelOut:
    async with transaction(ctx.pool) as tx:
        row = await service.update(tx, actor, label_id, body)
    return LabelOut(**dict(row))


@router.delete(
    f"{BASE}/{{label_id}}",
    status_code=204,
    summary="Delete a label (it leaves every conversation)",
)
async def delete_label(ctx: Ctx, label_id: UUID, actor: Manager) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.delete(tx, actor, label_id)
    return Response(status_code=204)


@router.post(
    ON_CONVERSATION,
    response_model=ConversationOut,
    summary="Add a label to a conversation (it has it already: nothing changes)",
)
async def add_label(
    ctx: Ctx, conversation_id: UUID, body: ConversationLabelIn, actor: Worker
) -> ConversationOut:
    async with transaction(ctx.pool) as tx:
        row = await service.add_to_conversation(tx, actor, conversation_id, body.label_id)
    return ConversationOut(**payload(row))


@router.delete(
    f"{ON_CONVERSATION}/{{label_id}}",
    response_model=ConversationOut,
    summary="Remove a label from a conversation (it has none: nothing changes)",
)
async def remove_label(
    ctx: Ctx, conversation_id: UUID, label_id: UUID, actor: Worker
) -> ConversationOut:
    async with transaction(ctx.pool) as tx:
        row = await service.remove_from_conversation(tx, actor, conversation_id, label_id)
    return ConversationOut(**payload(row))
