"""/api/v1/webhooks: outgoing webhooks, their secrets and their delivery log (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.db.pool import transaction
from omnistream.kit.openapi import problems
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of
from omnistream.webhooks import deliveries, delivery_queries, queries, service
from omnistream.webhooks.schemas import (
    SUBSCRIBABLE,
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    Redelivered,
    RedeliverFailed,
    WebhookCreate,
    WebhookOut,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
Admin = Annotated[Principal, requires(Perm.WEBHOOKS_MANAGE)]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.get("", response_model=Page[WebhookOut], summary="List outgoing webhooks (newest first)")
async def list_webhooks(
    ctx: Ctx,
    _: Admin,
    is_active: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[WebhookOut]:
    after = decode_cursor(cursor, datetime, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        rows = await queries.search(conn, is_active=is_active, after=after, limit=limit + 1)
    kept, next_cursor = page_of(rows, limit, lambda r: (r["created_at"], r["id"]))
    return Page[WebhookOut](items=[service.view(r) for r in kept], next_cursor=next_cursor)


@router.get(
    "/event-types",
    response_model=list[str],
    summary="The event types an endpoint may subscribe to (or * for all)",
)
async def event_types(_: Admin) -> list[str]:
    return SUBSCRIBABLE


@router.post(
    "",
    status_code=201,
    response_model=WebhookWithSecret,
    summary="Create an endpoint; the answer holds its signing secret, shown only this once",
)
async def create_webhook(ctx: Ctx, body: WebhookCreate, actor: Admin) -> WebhookWithSecret:
    await service.check_url(body.url, ctx.settings)  # DNS: before the transaction
    async with transaction(ctx.pool) as tx:
        return await service.create(tx, ctx.box, actor, body)


@router.get("/{webhook_id}", response_model=WebhookOut, summary="Get an endpoint")
async def get_webhook(ctx: Ctx, webhook_id: UUID, _: Admin) -> WebhookOut:
    async with ctx.pool.acquire() as conn:
        return await service.get(conn, webhook_id)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="Change an endpoint (only the fields given); is_active=false disables it",
)
async def update_webhook(
    ctx: Ctx, webhook_id: UUID, body: WebhookUpdate, actor: Admin
) -> WebhookOut:
    if body.url is not None:
        await service.check_url(body.url, ctx.settings)
    async with transaction(ctx.pool) as tx:
        return await service.update(tx, actor, webhook_id, body)


@router.delete("/{webhook_id}", status_code=204, summary="Delete an endpoint and its delivery log")
async def delete_webhook(ctx: Ctx, webhook_id: UUID, actor: Admin) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.delete(tx, actor, webhook_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    summary="A new signing secret (shown only now); the old one stays valid for 24 hours",
)
async def rotate_secret(ctx: Ctx, webhook_id: UUID, actor: Admin) -> WebhookWithSecret:
    async with transaction(ctx.pool) as tx:
        return await service.rotate(tx, ctx.box, actor, webhook_id)


@router.post(
    "/{webhook_id}/test",
    status_code=202,
    response_model=DeliveryOut,
    summary="Send a webhook.ping test event now (its delivery is in the log)",
    responses=problems(409),
)
async def send_test_event(ctx: Ctx, webhook_id: UUID, actor: Admin) -> DeliveryOut:
    async with transaction(ctx.pool) as tx:
        return await deliveries.send_test(tx, actor, webhook_id)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[DeliveryOut],
    summary="An endpoint's deliveries, newest first, by status, event type and time",
)
async def list_deliveries(
    ctx: Ctx,
    webhook_id: UUID,
    _: Admin,
    status: DeliveryStatus | None = None,
    event_type: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[datetime | None, Query(description="created at or after")] = None,
    until: Annotated[datetime | None, Query(description="created before")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DeliveryOut]:
    after = decode_cursor(cursor, datetime, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        await service.get(conn, webhook_id)
        rows = await delivery_queries.search(
            conn,
            webhook_id,
            status=status,
            event_type=event_type,
            since=since,
            until=until,
            after=after,
            limit=limit + 1,
        )
    kept, next_cursor = page_of(rows, limit, lambda r: (r["created_at"], r["id"]))
    return Page[DeliveryOut](items=[deliveries.out(r) for r in kept], next_cursor=next_cursor)


@router.get(
    "/{webhook_id}/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    summary="One delivery with its payload and every attempt",
)
async def get_delivery(ctx: Ctx, webhook_id: UUID, delivery_id: UUID, _: Admin) -> DeliveryDetail:
    async with ctx.pool.acquire() as conn:
        return await deliveries.detail(conn, webhook_id, delivery_id)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
    summary="Send a finished delivery again now, with a fresh retry schedule",
    responses=problems(409),
)
async def redeliver(ctx: Ctx, webhook_id: UUID, delivery_id: UUID, actor: Admin) -> DeliveryOut:
    async with transaction(ctx.pool) as tx:
        return await deliveries.redeliver_one(tx, actor, webhook_id, delivery_id)


@router.post(
    "/{webhook_id}/redeliver-failed",
    status_code=202,
    response_model=Redelivered,
    summary="Send again every failed delivery created since a time",
    responses=problems(409),
)
async def redeliver_failed(
    ctx: Ctx, webhook_id: UUID, body: RedeliverFailed, actor: Admin
) -> Redelivered:
    async with transaction(ctx.pool) as tx:
        count = await deliveries.redeliver_failed(tx, actor, webhook_id, body.since)
    return Redelivered(redelivered=count)
