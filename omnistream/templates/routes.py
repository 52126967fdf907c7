"""/api/v1/templates (every role) and the admin's sync of an integration's templates."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.kit.openapi import problems
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of
from omnistream.templates import queries, service
from omnistream.templates.graph import SyncError
from omnistream.templates.schemas import SyncOut, TemplateOut, TemplateSummary
from omnistream.templates.worker import sync_integration

router = APIRouter(tags=["templates"])
Reader = Annotated[Principal, requires(Perm.TEMPLATES_READ)]


@router.get(
    "/api/v1/templates",
    response_model=Page[TemplateSummary],
    summary="WhatsApp templates, by name and language (keyset pages); removed ones on request",
)
async def list_templates(
    ctx: Ctx,
    _: Reader,
    integration_id: UUID | None = None,
    status: Literal["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"] | None = None,
    category: Literal["AUTHENTICATION", "MARKETING", "UTILITY"] | None = None,
    language: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name.")] = None,
    include_removed: bool = False,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[TemplateSummary]:
    after = decode_cursor(cursor, str, str, UUID) if cursor else None  # (name, language, id)
    async with ctx.pool.acquire() as conn:
        rows = await queries.search(
            conn,
            integration_id=integration_id,
            status=status,
            category=category,
            language=language.replace("-", "_") if language else None,
            q=q.strip() if q and q.strip() else None,
            include_removed=include_removed,
            after=after,
            limit=limit + 1,
        )
    kept, next_cursor = page_of(rows, limit, lambda r: (r["name"], r["language"], r["id"]))
    items = [TemplateSummary(**service.summary(r)) for r in kept]
    return Page[TemplateSummary](items=items, next_cursor=next_cursor)


@router.get(
    "/api/v1/templates/{template_id}",
    response_model=TemplateOut,
    summary="A template: its components and the parameters a send must give",
)
async def get_template(ctx: Ctx, template_id: UUID, _: Reader) -> TemplateOut:
    async with ctx.pool.acquire() as conn:
        return service.detail(await service.get(conn, template_id))


@router.post(
    "/api/v1/integrations/{integration_id}/templates/sync",
    response_model=SyncOut,
    summary="Read the integration's templates from Meta now (every page); counts of changes",
    responses=problems(409, 502),
)
async def sync_templates(
    ctx: Ctx,
    integration_id: UUID,
    actor: Annotated[Principal, requires(Perm.TEMPLATES_SYNC)],
) -> SyncOut:
    try:
        return await sync_integration(ctx.pool, ctx.settings, ctx.box, integration_id, actor)
    except SyncError as exc:  # recorded (and logged) by the sync; the admin reads why
        raise service.failed(exc) from None
