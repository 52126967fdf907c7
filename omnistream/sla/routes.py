"""/api/v1/sla: SLA policies (first response, next response and resolution targets in
business hours) and the public-holiday calendars to fill their hours with (admin)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.db.pool import transaction
from omnistream.kit.errors import Unprocessable
from omnistream.kit.openapi import problems
from omnistream.sla import policy_service as service
from omnistream.sla.hours import public_holidays
from omnistream.sla.schemas import HolidayOut, SlaPolicyCreate, SlaPolicyOut, SlaPolicyUpdate

router = APIRouter(prefix="/api/v1/sla", tags=["sla"])
Admin = Annotated[Principal, requires(Perm.SLA_MANAGE)]
POLICIES = "/policies"


@router.get(
    POLICIES,
    response_model=list[SlaPolicyOut],
    summary="Every SLA policy, most specific first (one per channel and division: never many)",
)
async def list_policies(ctx: Ctx, _: Admin) -> list[SlaPolicyOut]:
    async with ctx.pool.acquire() as conn:
        return await service.list_all(conn)


@router.post(
    POLICIES,
    status_code=201,
    response_model=SlaPolicyOut,
    summary="Create a policy for a channel and/or division (both null: the default policy)",
    responses=problems(409),
)
async def create_policy(ctx: Ctx, body: SlaPolicyCreate, actor: Admin) -> SlaPolicyOut:
    async with transaction(ctx.pool) as tx:
        return await service.create(tx, actor, body)


@router.get(POLICIES + "/{policy_id}", response_model=SlaPolicyOut, summary="Get a policy")
async def get_policy(ctx: Ctx, policy_id: UUID, _: Admin) -> SlaPolicyOut:
    async with ctx.pool.acquire() as conn:
        return await service.get(conn, policy_id)


@router.patch(
    POLICIES + "/{policy_id}",
    response_model=SlaPolicyOut,
    summary="Change a policy (only the fields given); open conversations get its new terms",
    responses=problems(409),
)
async def update_policy(
    ctx: Ctx, policy_id: UUID, body: SlaPolicyUpdate, actor: Admin
) -> SlaPolicyOut:
    async with transaction(ctx.pool) as tx:
        return await service.update(tx, actor, policy_id, body)


@router.delete(
    POLICIES + "/{policy_id}",
    status_code=204,
    summary="Delete a policy; its open conversations get the next most specific one",
)
async def delete_policy(ctx: Ctx, policy_id: UUID, actor: Admin) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.delete(tx, actor, policy_id)
    return Response(status_code=204)


@router.get(
    "/holidays",
    response_model=list[HolidayOut],
    summary="A country's public holidays in a year, by date, for a policy's business_hours",
)
async def holidays(
    _: Admin,
    country: Annotated[
        str,
        Query(
            min_length=2,
            max_length=3,
            pattern="^[A-Za-z]{2,3}$",
            description="ISO 3166-1 country code (ID, SG, MY, US, …).",
        ),
    ],
    year: Annotated[int, Query(ge=2000, le=2100)],
    subdivision: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=10,
            pattern="^[A-Za-z0-9-]+$",
            description="A province or state code where holidays differ (e.g. US: CA).",
        ),
    ] = None,
) -> list[HolidayOut]:
    try:
        found = public_holidays(country.upper(), year, subdivision)
    except ValueError as exc:
        field = "subdivision" if subdivision and "subdivision" in str(exc).lower() else "country"
        raise Unprocessable.field(field, str(exc)) from None
    return [HolidayOut(date=day, name=name) for day, name in found]
