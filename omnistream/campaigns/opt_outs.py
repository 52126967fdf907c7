"""/api/v1/campaign-opt-outs: the numbers campaigns never send to, and
/api/v1/contacts/{id}/opt-out for an agent in a conversation. A number is also opted out by
itself (a STOP button or message, inbound hook) and by Meta's 131050 (the sender). Every
change is announced live (opt_out_service.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.campaigns import opt_out_queries
from omnistream.campaigns.opt_out_service import opt_in, opt_out
from omnistream.campaigns.schemas import ContactOptOut, OptOutIn, OptOutOut
from omnistream.contacts.service import check_visible, normalise_phone
from omnistream.context import Ctx
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import transaction
from omnistream.kit.errors import Conflict, NotFound, Unprocessable
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of

router = APIRouter(tags=["campaigns"])
PATH = "/api/v1/campaign-opt-outs"
Manager = Annotated[Principal, requires(Perm.CAMPAIGNS_MANAGE)]


@router.get(PATH, response_model=Page[OptOutOut], summary="Opted-out numbers, newest first")
async def list_opt_outs(
    ctx: Ctx,
    _: Manager,
    q: Annotated[str | None, Query(max_length=40, description="Digits of the number")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[OptOutOut]:
    after = decode_cursor(cursor, datetime, str) if cursor else None
    digits = "".join(c for c in q or "" if c.isdigit()) or None
    async with ctx.pool.acquire() as conn:
        rows = await opt_out_queries.opt_outs(conn, digits, after, limit + 1)
    kept, next_cursor = page_of(rows, limit, lambda r: (r["created_at"], r["phone"]))
    return Page[OptOutOut](items=[OptOutOut(**dict(r)) for r in kept], next_cursor=next_cursor)


@router.post(
    PATH,
    status_code=201,
    response_model=OptOutOut,
    summary="Opt a number out of every campaign",
    responses={409: {"description": "The number is opted out already"}},
)
async def add_opt_out(ctx: Ctx, body: OptOutIn, actor: Manager) -> OptOutOut:
    phone = normalise_phone(body.phone, ctx.settings.default_region)
    async with transaction(ctx.pool) as tx:
        row = await opt_out(tx.conn, actor, phone, "api", body.note)
        if row is None:
            raise Conflict(f"{phone} is opted out already")
    return OptOutOut(**dict(row))


@router.delete(
    PATH + "/{phone}",
    status_code=204,
    summary="Let campaigns reach a number again (only with the customer's consent)",
)
async def remove_opt_out(ctx: Ctx, phone: str, actor: Manager) -> Response:
    digits = "".join(c for c in phone if c.isdigit())
    async with transaction(ctx.pool) as tx:
        if not digits or not await opt_in(tx.conn, actor, digits):
            raise NotFound(f"{phone} is not opted out")
    return Response(status_code=204)


@router.get(
    "/api/v1/contacts/{contact_id}/opt-out",
    response_model=ContactOptOut,
    summary="Whether a contact's number is opted out of campaigns",
)
async def contact_opt_out(
    ctx: Ctx,
    contact_id: UUID,
    principal: Annotated[Principal, requires(Perm.CONTACTS_READ)],
) -> ContactOptOut:
    async with ctx.pool.acquire() as conn:
        await check_visible(conn, Scope.of(principal), contact_id)
        phone = await opt_out_queries.contact_phone(conn, contact_id)
        row = await opt_out_queries.opt_out(conn, phone) if phone else None
    return ContactOptOut(
        contact_id=contact_id,
        phone=phone,
        opted_out=row is not None,
        opt_out=OptOutOut(**dict(row)) if row else None,
    )


@router.put(
    "/api/v1/contacts/{contact_id}/opt-out",
    response_model=OptOutOut,
    summary="Opt a contact's WhatsApp number out of campaigns (the customer asked)",
)
async def opt_out_contact(
    ctx: Ctx,
    contact_id: UUID,
    actor: Annotated[Principal, requires(Perm.CONTACTS_WRITE)],
) -> OptOutOut:
    async with transaction(ctx.pool) as tx:
        conn = tx.conn
        await check_visible(conn, Scope.of(actor), contact_id)
        phone = await opt_out_queries.contact_phone(conn, contact_id)
        if not phone:
            raise Unprocessable.field("contact_id", "the contact has no WhatsApp number")
        row = await opt_out(conn, actor, phone, "agent")
        row = row or await opt_out_queries.opt_out(conn, phone)
    assert row is not None
    return OptOutOut(**dict(row))
