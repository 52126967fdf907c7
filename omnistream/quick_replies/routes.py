"""/api/v1/quick-replies: list, search, manage, pin and render canned replies."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import transaction
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of
from omnistream.kit.text import contains_pattern
from omnistream.quick_replies import queries, service
from omnistream.quick_replies.schemas import (
    QuickReplyCreate,
    QuickReplyOut,
    QuickReplyUpdate,
    RenderIn,
    RenderOut,
)

router = APIRouter(prefix="/api/v1/quick-replies", tags=["quick replies"])


def _prefix(shortcut: str | None) -> str | None:
    """An ILIKE pattern for titles starting with shortcut (its wildcards escaped)."""
    pattern = contains_pattern(shortcut)  # "%escaped%"
    return pattern[1:] if pattern else None


@router.get(
    "",
    response_model=Page[QuickReplyOut],
    summary="Quick replies one may use: favourites first, then by title",
)
async def list_quick_replies(
    ctx: Ctx,
    actor: Annotated[Principal, requires(Perm.QUICK_REPLIES_READ)],
    q: Annotated[
        str | None,
        Query(max_length=200, description="Words in title or body; `/ref`: titles starting ref"),
    ] = None,
    shortcut: Annotated[
        str | None, Query(max_length=200, description="Titles starting with this (as `q=/…`)")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[QuickReplyOut]:
    if q is not None and q.lstrip().startswith("/"):  # what the composer sends after "/"
        shortcut = shortcut or q.lstrip()[1:]
        q = None
    after = decode_cursor(cursor, int, str, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        rows = await queries.page(
            conn, Scope.of(actor), contains_pattern(q), _prefix(shortcut), after, limit + 1
        )
    kept, next_cursor = page_of(rows, limit, lambda r: (r["rank"], r["sort_title"], r["id"]))
    items = [QuickReplyOut(**service.out(r, actor)) for r in kept]
    return Page[QuickReplyOut](items=items, next_cursor=next_cursor)


@router.post("", status_code=201, response_model=QuickReplyOut, summary="Create a quick reply")
async def create_quick_reply(
    ctx: Ctx,
    body: QuickReplyCreate,
    actor: Annotated[Principal, requires(Perm.QUICK_REPLIES_MANAGE)],
) -> QuickReplyOut:
    async with transaction(ctx.pool) as tx:
        row = await service.create(tx, actor, body)
    return QuickReplyOut(**service.out(row, actor))


@router.get("/{quick_reply_id}", response_model=QuickReplyOut, summary="Get a quick reply")
async def get_quick_reply(
    ctx: Ctx,
    quick_reply_id: UUID,
    actor: Annotated[Principal, requires(Perm.QUICK_REPLIES_READ)],
) -> QuickReplyOut:
    async with ctx.pool.acquire() as conn:
        row = await service.get(conn, actor, quick_reply_id)
    return QuickReplyOut(**service.out(row, actor))


@router.patch("/{quick_reply_id}", response_model=QuickReplyOut, summary="Edit a quick reply")
async def update_quick_reply(
    ctx: Ctx,
    quick_reply_id: UUID,
    body: QuickReplyUpdate,
    actor: Annotated[Principal, requires(Perm.QUICK_REPLIES_MANAGE)],
) -> QuickReplyOut:
    async with transaction(ctx.pool) as tx:
        row = await service.update(tx, actor, quick_reply_id, body)
    return QuickReplyOut(**service.out(row, actor))


@router.delete("/{quick_reply_id}", status_code=204, summary="Delete a quick reply")
async def delete_quick_reply(
    ctx: Ctx,
    quick_reply_id: UUID,
    actor: Annotated[Principal, requires(Perm.QUICK_REPLIES_MANAGE)],
) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.delete(tx, actor, quick_reply_id)
    return Response(status_code=204)


@router.put("/{quick_reply_id}/favorite", status_code=204, summary="Pin as a favourite (own list)")
async def pin(
    ctx: Ctx,
    quick_reply_id: UUID,
    actor: Annotated[Principal, requires(Perm.QUICK_REPLIES_READ)],
) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.set_favorite(tx, actor, quick_reply_id, pinned=True)
    return Response(status_code=204)


@router.delete("/{quick_reply_id}/favorite", status_code=204, summary="Unpin a favourite")
async def unpin(
    ctx: Ctx,
    quick_reply_id: UUID,
    actor: Annotated[Principal, requires(Perm.QUICK_REPLIES_READ)],
) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.set_favorite(tx, actor, quick_reply_id, pinned=False)
    return Response(status_code=204)


@router.post(
    "/{quick_reply_id}/render",
    response_model=RenderOut,
    summary="The reply with its placeholders filled in for a conversation",
)
async def render(
    ctx: Ctx,
    quick_reply_id: UUID,
    body: RenderIn,
    actor: Annotated[Principal, requires(Perm.QUICK_REPLIES_READ)],
) -> RenderOut:
    async with ctx.pool.acquire() as conn:
        return RenderOut(**await service.render(conn, actor, quick_reply_id, body.conversation_id))
