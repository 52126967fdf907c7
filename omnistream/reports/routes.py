"""/api/v1/reports: conversations, responsiveness, messages, agents and the traffic
heatmap, each as JSON and as CSV (`.csv`), over a date range in a time zone, grouped by
day, week or month, filtered by channel, division, agent and inbox account
(docs/reports.md). One permission, reports.read; what each role sees is service.scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.db.pool import Conn
from omnistream.kit.enums import Channel
from omnistream.kit.errors import Unavailable, Unprocessable
from omnistream.kit.openapi import problems
from omnistream.reports import export, queries, service
from omnistream.reports.periods import Grouping, RangeError, ReportRange, zone_of
from omnistream.reports.queries import Filters
from omnistream.reports.schemas import (
    AgentReport,
    ConversationReport,
    HeatmapReport,
    MessageReport,
    ResponsivenessReport,
)

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
Reader = Annotated[Principal, requires(Perm.REPORTS_READ)]
DEFAULT_ZONE = "Asia/Jakarta"
T = TypeVar("T", bound=BaseModel)


class Asked:
    """The query parameters every report takes."""

    def __init__(
        self,
        since: Annotated[
            date | None,
            Query(alias="from", description="First local date (default: 29 days before `to`)"),
        ] = None,
        until: Annotated[
            date | None,
            Query(alias="to", description="Last local date, inclusive (default: today)"),
        ] = None,
        tz: Annotated[
            str, Query(max_length=64, description="IANA time zone of the dates and periods")
        ] = DEFAULT_ZONE,
        group: Annotated[Grouping, Query(description="Periods: day, week (Monday) or month")] = (
            Grouping.DAY
        ),
        channel: Channel | None = None,
        division_id: UUID | None = None,
        agent_id: UUID | None = None,
        account_id: Annotated[UUID | None, Query(description="An inbox account")] = None,
    ) -> None:
        try:
            today = datetime.now(zone_of(tz)).date()
            self.range = ReportRange.of(since, until, tz, group, today)
        except RangeError as exc:
            raise Unprocessable.field(exc.field, str(exc), exc.kind) from None
        self.filters = service.Asked(
            channel.value if channel else None, account_id, division_id, agent_id
        )


Params = Annotated[Asked, Depends()]
Builder = Callable[[Conn, Filters, ReportRange], Awaitable[T]]


async def _build(ctx: Ctx, actor: Principal, asked: Asked, build: Builder[T]) -> T:
    f = service.scope(actor, asked.filters)
    try:
        async with (
            ctx.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            await queries.read_settings(conn)
            return await build(conn, f, asked.range)
    except asyncpg.LockNotAvailableError:  # a full rebuild holds the tables (rebuild.py)
        raise Unavailable(
            "the reports are being rebuilt; try again in a minute",
            headers={"Retry-After": "30"},
            extra={"retry_after": 30},
        ) from None


def _csv(name: str, report: BaseModel, asked: Asked) -> StreamingResponse:
    return export.response(name, report, asked.range.first, asked.range.last)


CSV: dict[Any, Any] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
FORBIDDEN = problems(403, 503)


@router.get(
    "/conversations",
    response_model=ConversationReport,
    responses=FORBIDDEN,
    summary="Opened, resolved, reopened, open at each period's end, unassigned now",
)
async def conversations(ctx: Ctx, actor: Reader, asked: Params) -> ConversationReport:
    return await _build(ctx, actor, asked, service.conversations)


@router.get(
    "/conversations.csv",
    response_class=StreamingResponse,
    responses={**CSV, **FORBIDDEN},
    summary="The conversations report as CSV, one row per period",
)
async def conversations_csv(ctx: Ctx, actor: Reader, asked: Params) -> StreamingResponse:
    return _csv("conversations", await _build(ctx, actor, asked, service.conversations), asked)


@router.get(
    "/responsiveness",
    response_model=ResponsivenessReport,
    responses=FORBIDDEN,
    summary="First response and resolution times, SLA compliance",
)
async def responsiveness(ctx: Ctx, actor: Reader, asked: Params) -> ResponsivenessReport:
    return await _build(ctx, actor, asked, service.responsiveness)


@router.get(
    "/responsiveness.csv",
    response_class=StreamingResponse,
    responses={**CSV, **FORBIDDEN},
    summary="The responsiveness report as CSV",
)
async def responsiveness_csv(ctx: Ctx, actor: Reader, asked: Params) -> StreamingResponse:
    report = await _build(ctx, actor, asked, service.responsiveness)
    return _csv("responsiveness", report, asked)


@router.get(
    "/messages",
    response_model=MessageReport,
    responses=FORBIDDEN,
    summary="Inbound and outbound volume, outbound by status, top error codes",
)
async def messages(ctx: Ctx, actor: Reader, asked: Params) -> MessageReport:
    return await _build(ctx, actor, asked, service.messages)


@router.get(
    "/messages.csv",
    response_class=StreamingResponse,
    responses={**CSV, **FORBIDDEN},
    summary="The messages report as CSV, one row per period",
)
async def messages_csv(ctx: Ctx, actor: Reader, asked: Params) -> StreamingResponse:
    return _csv("messages", await _build(ctx, actor, asked, service.messages), asked)


@router.get(
    "/agents",
    response_model=AgentReport,
    responses=FORBIDDEN,
    summary="Per agent: handled, replies, response and resolution medians, CSAT",
)
async def agents(ctx: Ctx, actor: Reader, asked: Params) -> AgentReport:
    return await _build(ctx, actor, asked, _agents_of(actor))


@router.get(
    "/agents.csv",
    response_class=StreamingResponse,
    responses={**CSV, **FORBIDDEN},
    summary="The agents report as CSV, one row per agent",
)
async def agents_csv(ctx: Ctx, actor: Reader, asked: Params) -> StreamingResponse:
    return _csv("agents", await _build(ctx, actor, asked, _agents_of(actor)), asked)


def _agents_of(actor: Principal) -> Builder[AgentReport]:
    async def build(conn: Conn, f: Filters, r: ReportRange) -> AgentReport:
        return await service.agents(conn, actor, f, r)

    return build


@router.get(
    "/heatmap",
    response_model=HeatmapReport,
    responses=FORBIDDEN,
    summary="Inbound messages by local weekday and hour",
)
async def heatmap(ctx: Ctx, actor: Reader, asked: Params) -> HeatmapReport:
    return await _build(ctx, actor, asked, service.heatmap)


@router.get(
    "/heatmap.csv",
    response_class=StreamingResponse,
    responses={**CSV, **FORBIDDEN},
    summary="The heatmap as CSV, one row per weekday",
)
async def heatmap_csv(ctx: Ctx, actor: Reader, asked: Params) -> StreamingResponse:
    return _csv("heatmap", await _build(ctx, actor, asked, service.heatmap), asked)
