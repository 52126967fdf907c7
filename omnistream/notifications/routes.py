"""/api/v1/notifications: the signed-in agent's own notifications (permission `self`: every
role has some; whose is the token's, never a parameter)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.db.pool import transaction
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, page_of
from omnistream.notifications import service
from omnistream.notifications.kinds import NotificationKind
from omnistream.notifications.schemas import (
    MarkedRead,
    NotificationOut,
    NotificationPage,
    UnreadCount,
)

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
Me = Annotated[Principal, requires(Perm.SELF)]


@router.get(
    "",
    response_model=NotificationPage,
    summary="My notifications, newest first (those about conversations I may still see)",
)
async def list_notifications(
    ctx: Ctx,
    me: Me,
    kind: Annotated[
        NotificationKind | None, Query(description="Only this kind (mention: my Mentions)")
    ] = None,
    unread: Annotated[bool, Query(description="Only unread ones")] = False,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> NotificationPage:
    after = decode_cursor(cursor, datetime, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        rows = await service.page(conn, me, kind=kind, unread=unread, after=after, limit=limit + 1)
        count = await service.unread_count(conn, me)
    kept, next_cursor = page_of(rows, limit, lambda r: (r["created_at"], r["id"]))
    return NotificationPage(
        items=[NotificationOut(**service.payload(r)) for r in kept],
        next_cursor=next_cursor,
        unread_count=count,
        cap=service.UNREAD_CAP,
    )


@router.get("/unread-count", response_model=UnreadCount, summary="How many are unread")
async def unread_count(ctx: Ctx, me: Me) -> UnreadCount:
    async with ctx.pool.acquire() as conn:
        count = await service.unread_count(conn, me)
    return UnreadCount(unread_count=count, cap=service.UNREAD_CAP)


@router.post(
    "/{notification_id}/read",
    response_model=UnreadCount,
    summary="Mark one of mine read (repeating it changes nothing)",
)
async def mark_read(ctx: Ctx, notification_id: UUID, me: Me) -> UnreadCount:
    async with transaction(ctx.pool) as tx:
        await service.mark_read(tx, me, notification_id)
        count = await service.unread_count(tx.conn, me)
    return UnreadCount(unread_count=count, cap=service.UNREAD_CAP)


@router.post("/read-all", response_model=MarkedRead, summary="Mark all of mine read")
async def mark_all_read(ctx: Ctx, me: Me) -> MarkedRead:
    async with transaction(ctx.pool) as tx:
        marked = await service.mark_all_read(tx, me)
    return MarkedRead(marked=marked, unread_count=0)
