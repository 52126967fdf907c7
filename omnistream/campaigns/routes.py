"""/api/v1/campaigns: broadcast campaigns, their audience, progress and recipients; and
/api/v1/campaign-opt-outs, the numbers never sent to. Permission campaigns.manage (admins;
supervisors for their divisions' campaigns), except an agent opting a contact out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.campaigns import audience, content, export, queries, service
from omnistream.campaigns.schemas import (
    AudienceCount,
    AudienceReport,
    CampaignCreate,
    CampaignOut,
    CampaignStats,
    CampaignStatus,
    CampaignUpdate,
    ContactsFilter,
    RecipientOut,
    RecipientStatus,
    ScheduleIn,
    SendingAccount,
    Variables,
)
from omnistream.campaigns.upload import read_upload
from omnistream.context import Ctx, Reads
from omnistream.db.pool import transaction
from omnistream.kit.errors import Unprocessable
from omnistream.kit.openapi import problems, upload_body
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of
from omnistream.templates.schemas import HeaderValue

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])
Manager = Annotated[Principal, requires(Perm.CAMPAIGNS_MANAGE)]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
CSV_BODY = upload_body(phone_column={"type": "string", "maxLength": 100})


def _out(row: Any, counts: dict[str, int] | None = None) -> CampaignOut:
    return CampaignOut(**service.payload(row, counts))


@router.get("", response_model=Page[CampaignOut], summary="Campaigns one manages, newest first")
async def list_campaigns(
    ctx: Ctx,
    principal: Manager,
    status: CampaignStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[CampaignOut]:
    after = decode_cursor(cursor, datetime, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        rows = await queries.page(
            conn, *service.scope(principal), status=status, after=after, limit=limit + 1
        )
    kept, next_cursor = page_of(rows, limit, lambda r: (r["created_at"], r["id"]))
    return Page[CampaignOut](items=[_out(r) for r in kept], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=CampaignOut, summary="Create a draft campaign")
async def create_campaign(ctx: Ctx, body: CampaignCreate, actor: Manager) -> CampaignOut:
    async with transaction(ctx.pool) as tx:
        return _out(await service.create(tx, actor, body))


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: UUID
    variables: Variables
    header: HeaderValue | None = None
    row: dict[str, str] | None = None


class PreviewOut(BaseModel):
    text: str
    header_text: str | None
    footer: str | None


@router.post(
    "/preview",
    response_model=PreviewOut,
    summary="The template rendered with these variables (columns from `row`, else [column])",
)
async def preview(ctx: Ctx, body: PreviewIn, _: Manager) -> PreviewOut:
    async with ctx.pool.acquire() as conn:
        template = await queries.template(conn, body.template_id)
    if template is None:
        raise Unprocessable.field("template_id", "no such template")
    variables = {k: v.model_dump(exclude_none=True) for k, v in body.variables.items()}
    header = body.header.model_dump(exclude_none=True) if body.header else None
    content.check(template, variables, header)
    rendered = content.render(template, variables, header, body.row or {}, sample=True)
    return PreviewOut(
        text=rendered["text"],
        header_text=rendered.get("header_text"),
        footer=rendered.get("footer"),
    )


@router.post(
    "/audience-count",
    response_model=AudienceCount,
    summary="How many contacts a contacts filter selects (opted-out numbers left out)",
)
async def audience_count(ctx: Ctx, body: ContactsFilter, _: Manager) -> AudienceCount:
    async with ctx.pool.acquire() as conn:
        found = await queries.count_contacts(
            conn, body.q, body.division_id, body.inbound_within_days
        )
    return AudienceCount(count=found["count"], opted_out=found["opted_out"])


@router.get(
    "/accounts",
    response_model=list[SendingAccount],
    summary="The WhatsApp numbers a campaign may send from (for supervisors too)",
)
async def sending_accounts(ctx: Ctx, _: Manager) -> list[SendingAccount]:
    async with ctx.pool.acquire() as conn:
        rows = await queries.whatsapp_accounts(conn)
    return [SendingAccount(**dict(r)) for r in rows]


@router.get("/{campaign_id}", response_model=CampaignOut, summary="Get a campaign")
async def get_campaign(ctx: Ctx, campaign_id: UUID, principal: Manager) -> CampaignOut:
    async with ctx.pool.acquire() as conn:
        row = await service.get(conn, principal, campaign_id)
        return _out(row, await queries.count(conn, campaign_id))


@router.patch(
    "/{campaign_id}",
    response_model=CampaignOut,
    summary="Edit a draft or scheduled campaign (only the fields given)",
    responses=problems(409),
)
async def update_campaign(
    ctx: Ctx, campaign_id: UUID, body: CampaignUpdate, actor: Manager
) -> CampaignOut:
    async with transaction(ctx.pool) as tx:
        return _out(await service.update(tx, actor, campaign_id, body))


@router.delete(
    "/{campaign_id}",
    status_code=204,
    summary="Delete a campaign that is not scheduled, running or paused",
    responses=problems(409),
)
async def delete_campaign(ctx: Ctx, campaign_id: UUID, actor: Manager) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.delete(tx, actor, campaign_id)
    return Response(status_code=204)


@router.put(
    "/{campaign_id}/audience/csv",
    response_model=AudienceReport,
    summary="Set the audience from a CSV file (multipart field 'file'); replaces any earlier",
    openapi_extra=CSV_BODY,
    responses=problems(409),
)
async def upload_audience(
    ctx: Ctx, request: Request, campaign_id: UUID, actor: Manager
) -> AudienceReport:
    async with ctx.pool.acquire() as conn:  # 404 / 409 before the body is read
        row = await service.get(conn, actor, campaign_id)
    service.editable(row, "given a new audience")
    data, phone_column = await read_upload(request, ctx.settings.campaign_csv_max_bytes)
    parsed = await audience.read_csv(
        data, audience.mapped_columns(row), ctx.settings.default_region, phone_column
    )
    async with transaction(ctx.pool) as tx:
        row = await service.get(tx.conn, actor, campaign_id, lock=True)
        service.editable(row, "given a new audience")
        return AudienceReport(**await audience.store_csv(tx, actor, row, parsed))


@router.put(
    "/{campaign_id}/audience/contacts",
    response_model=AudienceReport,
    summary="Set the audience to the contacts matching a filter; replaces any earlier",
    responses=problems(409),
)
async def contacts_audience(
    ctx: Ctx, campaign_id: UUID, body: ContactsFilter, actor: Manager
) -> AudienceReport:
    async with transaction(ctx.pool) as tx:
        row = await service.get(tx.conn, actor, campaign_id, lock=True)
        service.editable(row, "given a new audience")
        return AudienceReport(**await audience.store_contacts(tx, actor, row, body))


@router.post(
    "/{campaign_id}/schedule",
    response_model=CampaignOut,
    summary="Start a draft now, or at scheduled_at (a scheduled one: move its start)",
    responses=problems(409),
)
async def schedule_campaign(
    ctx: Ctx, campaign_id: UUID, body: ScheduleIn, actor: Manager
) -> CampaignOut:
    async with transaction(ctx.pool) as tx:
        return _out(await service.schedule(tx, actor, campaign_id, body.scheduled_at))


def _move(verb: Literal["pause", "resume", "cancel"], summary: str) -> None:
    @router.post(
        f"/{{campaign_id}}/{verb}",
        response_model=CampaignOut,
        summary=summary,
        responses=problems(409),
        name=f"{verb}_campaign",
    )
    async def move(ctx: Ctx, campaign_id: UUID, actor: Manager) -> CampaignOut:
        async with transaction(ctx.pool) as tx:
            return _out(await service.move(tx, actor, campaign_id, verb))


_move("pause", "Pause a running campaign (sends stop within a second)")
_move("resume", "Resume a paused campaign")
_move("cancel", "Cancel a campaign: recipients not sent yet never will be")


@router.get(
    "/{campaign_id}/stats",
    response_model=CampaignStats,
    summary="Recipients per status, reply and delivery rates, failures by error code",
)
async def campaign_stats(ctx: Ctx, campaign_id: UUID, principal: Manager) -> CampaignStats:
    async with ctx.pool.acquire() as conn:
        row = await service.get(conn, principal, campaign_id)
        return CampaignStats(**await service.stats(conn, row))


@router.get(
    "/{campaign_id}/recipients",
    response_model=Page[RecipientOut],
    summary="A campaign's recipients (keyset pages), by status",
)
async def list_recipients(
    ctx: Ctx,
    campaign_id: UUID,
    principal: Manager,
    status: RecipientStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[RecipientOut]:
    after = decode_cursor(cursor, UUID)[0] if cursor else None
    async with ctx.pool.acquire() as conn:
        await service.get(conn, principal, campaign_id)
        rows = await queries.recipients(conn, campaign_id, status, after, limit + 1)
    kept, next_cursor = page_of(rows, limit, lambda r: (r["id"],))
    return Page[RecipientOut](
        items=[RecipientOut(**dict(r)) for r in kept], next_cursor=next_cursor
    )


@router.get(
    "/{campaign_id}/recipients.csv",
    summary="Every recipient with status, times and errors as CSV (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_recipients(
    ctx: Ctx,
    reads: Reads,
    campaign_id: UUID,
    principal: Manager,
    status: RecipientStatus | None = None,
) -> StreamingResponse:
    async with ctx.pool.acquire() as conn:
        row = await service.get(conn, principal, campaign_id)
    return export.response(reads.connection, row, status)  # the replica's when fit
