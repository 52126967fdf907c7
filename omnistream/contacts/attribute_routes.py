"""/api/v1/contact-attributes: every role reads the definitions; admins manage them."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.contacts import attribute_queries as queries
from omnistream.contacts import attribute_service as service
from omnistream.contacts.attribute_schemas import AttributeCreate, AttributeOut, AttributeUpdate
from omnistream.context import Ctx
from omnistream.db.pool import transaction
from omnistream.kit.openapi import problems

router = APIRouter(prefix="/api/v1/contact-attributes", tags=["contacts"])
Manager = Annotated[Principal, requires(Perm.CONTACT_ATTRIBUTES_MANAGE)]


@router.get("", response_model=list[AttributeOut], summary="Every contact attribute, by label")
async def list_attributes(
    ctx: Ctx, _: Annotated[Principal, requires(Perm.CONTACTS_READ)]
) -> list[AttributeOut]:
    async with ctx.pool.acquire() as conn:
        rows = await queries.all_definitions(conn)
    return [AttributeOut(**dict(r)) for r in rows]


@router.post(
    "",
    status_code=201,
    response_model=AttributeOut,
    summary="Define a contact attribute",
    responses=problems(409),
)
async def create_attribute(ctx: Ctx, body: AttributeCreate, actor: Manager) -> AttributeOut:
    async with transaction(ctx.pool) as tx:
        return AttributeOut(**dict(await service.create(tx, actor, body)))


@router.patch(
    "/{attribute_id}",
    response_model=AttributeOut,
    summary="Relabel, retype or change the options (409 when contacts' values would not fit)",
    responses=problems(409),
)
async def update_attribute(
    ctx: Ctx, attribute_id: UUID, body: AttributeUpdate, actor: Manager
) -> AttributeOut:
    async with transaction(ctx.pool) as tx:
        return AttributeOut(**dict(await service.update(tx, actor, attribute_id, body)))


@router.delete(
    "/{attribute_id}",
    status_code=204,
    summary="Delete a contact attribute and its value on every contact",
)
async def delete_attribute(ctx: Ctx, attribute_id: UUID, actor: Manager) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.delete(tx, actor, attribute_id)
    return Response(status_code=204)
