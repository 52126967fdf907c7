"""/api/v1/integrations: channels, their credentials and accounts, the connection test (admin)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.db.pool import transaction
from omnistream.integrations import probes, queries, service
from omnistream.integrations.schemas import (
    AccountCreate,
    AccountOut,
    AccountUpdate,
    ConnectionTest,
    IntegrationCreate,
    IntegrationOut,
    IntegrationUpdate,
)
from omnistream.kit.enums import Channel
from omnistream.kit.openapi import problems
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of

router = APIRouter(prefix="/api/v1/integrations", tags=["integrations"])
Admin = Annotated[Principal, requires(Perm.INTEGRATIONS_MANAGE)]


@router.get("", response_model=Page[IntegrationOut], summary="List integrations")
async def list_integrations(
    ctx: Ctx,
    _: Admin,
    channel: Channel | None = None,
    is_active: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[IntegrationOut]:
    after = decode_cursor(cursor, str, UUID) if cursor else None  # (name, id)
    async with ctx.pool.acquire() as conn:
        rows = await queries.search(
            conn, channel=channel, is_active=is_active, after=after, limit=limit + 1
        )
        kept, next_cursor = page_of(rows, limit, lambda r: (r["name"], r["id"]))
        items = await service.views(conn, kept)
    return Page[IntegrationOut](items=items, next_cursor=next_cursor)


@router.post("", status_code=201, response_model=IntegrationOut, summary="Create an integration")
async def create_integration(ctx: Ctx, body: IntegrationCreate, actor: Admin) -> IntegrationOut:
    async with transaction(ctx.pool) as tx:
        integration_id = await service.create(tx, ctx.box, actor, body)
        return await service.view(tx.conn, integration_id)


@router.get("/{integration_id}", response_model=IntegrationOut, summary="Get an integration")
async def get_integration(ctx: Ctx, integration_id: UUID, _: Admin) -> IntegrationOut:
    async with ctx.pool.acquire() as conn:
        return await service.view(conn, integration_id)


@router.patch(
    "/{integration_id}",
    response_model=IntegrationOut,
    summary="Rename, (de)activate, or change credentials (only the fields given)",
)
async def update_integration(
    ctx: Ctx, integration_id: UUID, body: IntegrationUpdate, actor: Admin
) -> IntegrationOut:
    async with transaction(ctx.pool) as tx:
        await service.update(tx, ctx.box, actor, integration_id, body)
        return await service.view(tx.conn, integration_id)


@router.delete(
    "/{integration_id}",
    status_code=204,
    summary="Delete an integration and its accounts (conversations are kept)",
)
async def delete_integration(ctx: Ctx, integration_id: UUID, actor: Admin) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.delete(tx, actor, integration_id)
    return Response(status_code=204)


@router.post(
    "/{integration_id}/test",
    response_model=ConnectionTest,
    summary="Test the stored credentials and record the integration's health",
    description="WhatsApp, Messenger, Instagram: a Graph API call with the stored token. "
    "Email: IMAP (connect, TLS, login, the folder) then SMTP (connect, TLS, EHLO, AUTH) of "
    "the default account's mailbox; a failure names its side and step (\"IMAP login failed: "
    '..."). 409: the test cannot run (no account, a credential not set or unusable).',
    responses=problems(409),
)
async def test_connection(ctx: Ctx, integration_id: UUID, actor: Admin) -> ConnectionTest:
    async with ctx.pool.acquire() as conn:
        target = await probes.probe_target(conn, ctx.box, integration_id)
    # No transaction is open while the channel is called.
    outcome = await probes.run_probe(target, allow_private=ctx.settings.allow_private_urls)
    async with transaction(ctx.pool) as tx:
        return await probes.record_test(tx, actor, integration_id, outcome)


# Accounts -----------------------------------------------------------------------------------


@router.get(
    "/{integration_id}/accounts",
    response_model=list[AccountOut],
    summary="An integration's accounts (oldest first)",
)
async def list_accounts(ctx: Ctx, integration_id: UUID, _: Admin) -> list[AccountOut]:
    async with ctx.pool.acquire() as conn:
        await service.get(conn, integration_id)
        rows = await queries.accounts_of(conn, [integration_id])
    return [AccountOut(**dict(r)) for r in rows]


@router.post(
    "/{integration_id}/accounts",
    status_code=201,
    response_model=AccountOut,
    summary="Add an account (phone_number_id / page id / IG account id / mailbox)",
    responses=problems(409),
)
async def create_account(
    ctx: Ctx, integration_id: UUID, body: AccountCreate, actor: Admin
) -> AccountOut:
    async with transaction(ctx.pool) as tx:
        row = await service.create_account(tx, actor, integration_id, body)
    return AccountOut(**dict(row))


@router.get(
    "/{integration_id}/accounts/{account_id}", response_model=AccountOut, summary="Get an account"
)
async def get_account(ctx: Ctx, integration_id: UUID, account_id: UUID, _: Admin) -> AccountOut:
    async with ctx.pool.acquire() as conn:
        return AccountOut(**dict(await service.get_account(conn, integration_id, account_id)))


@router.patch(
    "/{integration_id}/accounts/{account_id}",
    response_model=AccountOut,
    summary="Change an account; is_default=true makes it the integration's default",
    responses=problems(409),
)
async def update_account(
    ctx: Ctx, integration_id: UUID, account_id: UUID, body: AccountUpdate, actor: Admin
) -> AccountOut:
    async with transaction(ctx.pool) as tx:
        row = await service.update_account(tx, actor, integration_id, account_id, body)
    return AccountOut(**dict(row))


@router.delete(
    "/{integration_id}/accounts/{account_id}",
    status_code=204,
    summary="Delete an account (deleting the default promotes the oldest other one)",
)
async def delete_account(
    ctx: Ctx, integration_id: UUID, account_id: UUID, actor: Admin
) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.delete_account(tx, actor, integration_id, account_id)
    return Response(status_code=204)
