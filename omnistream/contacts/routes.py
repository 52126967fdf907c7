"""/api/v1/contacts: search, CRUD and merge of customers.

Admins and supervisors see every contact; an agent sees the contacts of conversations they
may see (conversations/visibility.py). A contact one may not see answers 404.
Lists are sorted by name, creation or last activity, keyset-paginated (list_queries.py).
The contacts screen's other routes are in screen_routes.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.contacts import list_queries, service
from omnistream.contacts.phones import PHONE_REGION
from omnistream.contacts.schemas import (
    ContactCreate,
    ContactListItem,
    ContactOut,
    ContactUpdate,
    MergeRequest,
)
from omnistream.context import Ctx, Reads
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn, transaction
from omnistream.kit.enums import Channel
from omnistream.kit.errors import BadRequest
from omnistream.kit.openapi import problems
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of
from omnistream.kit.text import contains_pattern

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


async def phone_region(ctx: Ctx) -> None:
    """Lets the body's validation read a national phone number in the server's region, so a
    bad phone is reported with the other bad fields (async: it runs in the request's context,
    before the body is validated)."""
    PHONE_REGION.set(ctx.settings.default_region)


@router.get(
    "", response_model=Page[ContactListItem], summary="Search and sort contacts (keyset pages)"
)
async def list_contacts(
    ctx: Ctx,
    reads: Reads,
    principal: Annotated[Principal, requires(Perm.CONTACTS_READ)],
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[^\x00]*$",
            description="Part of the name, email, phone or a channel id",
        ),
    ] = None,
    channel: Annotated[
        Channel | None, Query(description="Only contacts with a conversation on it")
    ] = None,
    division_id: Annotated[
        UUID | None, Query(description="Only contacts with a conversation in it")
    ] = None,
    sort: Annotated[
        list_queries.Sort,
        Query(description="name (A-Z), created (newest first), last_activity (newest first)"),
    ] = "name",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[ContactListItem]:
    key = {"name": "name", "created": "created_at", "last_activity": "last_activity_at"}[sort]
    after = decode_cursor(cursor, str if sort == "name" else datetime, UUID) if cursor else None
    if after and sort == "name" and "\x00" in after[0]:
        raise BadRequest.field("cursor", "is malformed; pass next_cursor from a previous page")

    async def read(conn: Conn) -> Page[ContactListItem]:
        rows = await list_queries.search(
            conn,
            Scope.of(principal),
            pattern=contains_pattern(q),
            phone_patterns=service.phone_patterns(q, ctx.settings.default_region),
            channel=channel,
            division_id=division_id,
            sort=sort,
            after=after,
            limit=limit + 1,
        )
        kept, next_cursor = page_of(rows, limit, lambda r: (r[key], r["id"]))
        items = [
            ContactListItem(**c.model_dump(), last_activity_at=r["last_activity_at"])
            for c, r in zip(await service.present(conn, kept), kept, strict=True)
        ]
        return Page[ContactListItem](items=items, next_cursor=next_cursor)

    return await reads.run(read)  # the replica's when it is fit (docs/read-replica.md)


@router.post(
    "",
    status_code=201,
    response_model=ContactOut,
    summary="Create a contact",
    dependencies=[Depends(phone_region)],
    responses=problems(409),
)
async def create_contact(
    ctx: Ctx, body: ContactCreate, actor: Annotated[Principal, requires(Perm.CONTACTS_WRITE)]
) -> ContactOut:
    async with transaction(ctx.pool) as tx:
        return await service.create(tx, actor, ctx.settings.default_region, body)


@router.get("/{contact_id}", response_model=ContactOut, summary="Get a contact")
async def get_contact(
    ctx: Ctx, contact_id: UUID, principal: Annotated[Principal, requires(Perm.CONTACTS_READ)]
) -> ContactOut:
    async with ctx.pool.acquire() as conn:
        return await service.get(conn, Scope.of(principal), contact_id)


@router.patch(
    "/{contact_id}",
    response_model=ContactOut,
    summary="Update name, phone, email, picture or attributes (null clears one)",
    dependencies=[Depends(phone_region)],
    responses=problems(409),
)
async def update_contact(
    ctx: Ctx,
    contact_id: UUID,
    body: ContactUpdate,
    actor: Annotated[Principal, requires(Perm.CONTACTS_WRITE)],
) -> ContactOut:
    async with transaction(ctx.pool) as tx:
        return await service.update(tx, actor, ctx.settings.default_region, contact_id, body)


@router.delete(
    "/{contact_id}",
    status_code=204,
    summary="Delete a contact with its identities, notes and conversations",
    responses=problems(409),
)
async def delete_contact(
    ctx: Ctx,
    contact_id: UUID,
    actor: Annotated[Principal, requires(Perm.CONTACTS_DELETE)],
    expected_conversations: Annotated[
        int | None,
        Query(ge=0, description="The count the delete preview showed: 409 if it changed"),
    ] = None,
) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.delete(tx, actor, contact_id, expected_conversations)
    return Response(status_code=204)


@router.post(
    "/{contact_id}/merge",
    response_model=ContactOut,
    summary="Merge another contact into this one (it is deleted)",
)
async def merge_contacts(
    ctx: Ctx,
    contact_id: UUID,
    body: MergeRequest,
    actor: Annotated[Principal, requires(Perm.CONTACTS_MERGE)],
) -> ContactOut:
    async with transaction(ctx.pool) as tx:
        return await service.merge(tx, actor, contact_id, body.other_contact_id)
