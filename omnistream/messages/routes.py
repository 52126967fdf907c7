"""/api/v1 routes of messages: timeline, replies, uploads, media, retries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.conversations.service import get_visible
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import transaction
from omnistream.kit.errors import Conflict, NotFound
from omnistream.kit.openapi import problems, upload_body
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of
from omnistream.messages import media, queries, service
from omnistream.messages.presentation import message_payload
from omnistream.messages.schemas import MediaOut, MessageCreate, MessageOut

router = APIRouter(tags=["messages"])
CONVERSATION = "/api/v1/conversations/{conversation_id}"
UPLOAD_BODY = upload_body()


def _out(row: asyncpg.Record) -> MessageOut:
    return MessageOut(**message_payload(row))


@router.get(
    CONVERSATION + "/messages",
    response_model=Page[MessageOut],
    summary="A conversation's messages (keyset pages, newest first unless order=asc)",
)
async def list_messages(
    ctx: Ctx,
    conversation_id: UUID,
    principal: Annotated[Principal, requires(Perm.CONVERSATIONS_READ)],
    order: Literal["desc", "asc"] = "desc",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[MessageOut]:
    after = decode_cursor(cursor, datetime, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        await get_visible(conn, Scope.of(principal), conversation_id)
        rows = await queries.timeline(
            conn, conversation_id, after, limit + 1, ascending=order == "asc"
        )
    kept, next_cursor = page_of(rows, limit, lambda r: (r["created_at"], r["id"]))
    return Page[MessageOut](items=[_out(r) for r in kept], next_cursor=next_cursor)


@router.post(
    CONVERSATION + "/messages",
    status_code=201,
    response_model=MessageOut,
    summary="Reply: stored as pending and sent in the background",
)
async def send_message(
    ctx: Ctx,
    conversation_id: UUID,
    body: MessageCreate,
    actor: Annotated[Principal, requires(Perm.MESSAGES_SEND)],
) -> MessageOut:
    async with transaction(ctx.pool) as tx:
        row = await service.send(
            tx, actor, conversation_id, body, assign_on_reply=ctx.settings.assign_on_reply
        )
    return _out(row)


@router.get("/api/v1/messages/{message_id}", response_model=MessageOut, summary="Get a message")
async def get_message(
    ctx: Ctx, message_id: UUID, principal: Annotated[Principal, requires(Perm.CONVERSATIONS_READ)]
) -> MessageOut:
    async with ctx.pool.acquire() as conn:
        row = await queries.get_visible(conn, Scope.of(principal), message_id)
    if row is None:
        raise NotFound(f"no message with id {message_id}")
    return _out(row)


@router.post(
    "/api/v1/messages/{message_id}/retry",
    response_model=MessageOut,
    summary="Send a failed outbound message again",
    responses=problems(409),
)
async def retry_message(
    ctx: Ctx, message_id: UUID, actor: Annotated[Principal, requires(Perm.MESSAGES_SEND)]
) -> MessageOut:
    async with transaction(ctx.pool) as tx:
        row = await service.retry(tx, actor, message_id)
    return _out(row)


@router.post(
    CONVERSATION + "/uploads",
    status_code=201,
    response_model=MediaOut,
    summary="Upload a file to send in this conversation (multipart field 'file')",
    openapi_extra=UPLOAD_BODY,
)
async def upload(
    ctx: Ctx,
    request: Request,
    conversation_id: UUID,
    actor: Annotated[Principal, requires(Perm.MESSAGES_SEND)],
) -> MediaOut:
    media.check_length(request, ctx.settings)
    async with ctx.pool.acquire() as conn:  # 404 before a byte of the body is read
        await get_visible(conn, Scope.of(actor), conversation_id)
    stored = await media.receive_upload(request, ctx.settings)
    try:
        async with transaction(ctx.pool) as tx:
            row = await service.add_upload(tx, actor, conversation_id, stored)
    except BaseException:
        await media.discard(stored)
        raise
    return MediaOut(**dict(row), url=f"/api/v1/media/{row['id']}")


@router.get(
    "/api/v1/media/{media_id}",
    response_class=FileResponse,
    summary="Download a file of a conversation one may see",
    responses={
        200: {
            "description": "The file, with its own Content-Type",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        **problems(409),
    },
)
async def get_media(
    ctx: Ctx, media_id: UUID, principal: Annotated[Principal, requires(Perm.CONVERSATIONS_READ)]
) -> FileResponse:
    async with ctx.pool.acquire() as conn:
        row = await queries.visible_media(conn, Scope.of(principal), media_id)
    if row is None:
        raise NotFound(f"no media with id {media_id}")
    if row["status"] == "pending":
        raise Conflict("the file is still being fetched from the channel; try again shortly")
    if row["status"] != "ready":
        raise NotFound(f"the file of media {media_id} could not be fetched from the channel")
    return media.file_response(ctx.settings, row)
