"""/api/v1/csat: survey responses (admins all; supervisors their divisions' and those
without one), the settings (admin), and a conversation's surveys (whoever sees it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.conversations.service import get_visible
from omnistream.conversations.visibility import Scope
from omnistream.csat import queries, service
from omnistream.csat.schemas import CsatSettings, CsatSummary, CsatSurveyOut
from omnistream.db.pool import transaction
from omnistream.kit.enums import Channel, Role
from omnistream.kit.errors import Unprocessable
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of

router = APIRouter(tags=["csat"])
Admin = Annotated[Principal, requires(Perm.CSAT_MANAGE)]
Reader = Annotated[Principal, requires(Perm.CSAT_READ)]


def _asked(
    since: Annotated[
        datetime | None, Query(alias="from", description="Answered at or after (ISO 8601).")
    ] = None,
    until: Annotated[datetime | None, Query(alias="to", description="Answered before.")] = None,
    agent_id: Annotated[UUID | None, Query(description="The assignee at resolve.")] = None,
    division_id: UUID | None = None,
    channel: Channel | None = None,
    score: Annotated[int | None, Query(ge=1, le=5)] = None,
) -> queries.ResponseFilter:
    """The responses' filters of the list and its summary (query parameters)."""
    for name, value in (("from", since), ("to", until)):
        if value is not None and value.tzinfo is None:
            raise Unprocessable.field(name, "must carry a time zone (e.g. Z or +07:00)")
    return queries.ResponseFilter(
        since=since,
        until=until,
        agent_id=agent_id,
        division_id=division_id,
        channel=channel.value if channel else None,
        score=score,
    )


Filter = Annotated[queries.ResponseFilter, Depends(_asked)]


@router.get(
    "/api/v1/csat",
    response_model=Page[CsatSurveyOut],
    summary="Survey responses, newest answer first (keyset pages)",
)
async def list_responses(
    ctx: Ctx,
    actor: Reader,
    asked: Filter,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[CsatSurveyOut]:
    f = _readable(actor, asked)
    after = decode_cursor(cursor, datetime, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        rows = await queries.responses(conn, f, (after[0], after[1]) if after else None, limit + 1)
    kept, next_cursor = page_of(rows, limit, lambda r: (r["responded_at"], r["id"]))
    return Page(items=[service.out(r) for r in kept], next_cursor=next_cursor)


@router.get(
    "/api/v1/csat/summary",
    response_model=CsatSummary,
    summary="Survey responses summed up: count, average, share of 4-5, each score's count",
)
async def summary(ctx: Ctx, actor: Reader, asked: Filter) -> CsatSummary:
    f = _readable(actor, asked)
    async with ctx.pool.acquire() as conn:
        row = await queries.summary(conn, f)
    n = row["responses"]
    satisfied = row["s4"] + row["s5"]
    return CsatSummary(
        responses=n,
        average=round(row["average"], 2) if n else None,
        satisfied_percent=round(100 * satisfied / n, 1) if n else None,
        scores={k: row[f"s{k}"] for k in ("1", "2", "3", "4", "5")},
    )


def _readable(actor: Principal, asked: queries.ResponseFilter) -> queries.ResponseFilter:
    """What the caller asked for, limited to what they may read (a supervisor: their
    divisions' and those without one)."""
    return replace(
        asked, divisions=None if actor.role is Role.ADMIN else sorted(actor.division_ids)
    )


@router.get(
    "/api/v1/csat/settings",
    response_model=CsatSettings,
    summary="The CSAT settings (defaults until first saved: every channel off)",
)
async def get_settings(ctx: Ctx, _: Admin) -> CsatSettings:
    async with ctx.pool.acquire() as conn:
        return await service.get_settings(conn)


@router.put(
    "/api/v1/csat/settings",
    response_model=CsatSettings,
    summary="Replace the CSAT settings: channels, interval, language, link, texts",
)
async def put_settings(ctx: Ctx, body: CsatSettings, actor: Admin) -> CsatSettings:
    async with transaction(ctx.pool) as tx:
        return await service.put_settings(tx, actor, body)


@router.get(
    "/api/v1/conversations/{conversation_id}/csat",
    response_model=list[CsatSurveyOut],
    summary="A conversation's surveys, newest first (sent, skipped and answered)",
)
async def conversation_surveys(
    ctx: Ctx,
    conversation_id: UUID,
    actor: Annotated[Principal, requires(Perm.CONVERSATIONS_READ)],
) -> list[CsatSurveyOut]:
    async with ctx.pool.acquire() as conn:
        await get_visible(conn, Scope.of(actor), conversation_id)
        return [service.out(r) for r in await queries.of_conversation(conn, conversation_id)]
