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
from omnistream.context import Reads
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


async def _build(reads: Reads, actor: Principal, asked: Asked, build: Builder[T]) -> T:
    f = service.scope(actor, asked.filters)

    async def read(conn: Conn) -> T:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await queries.read_settings(conn)
            return await build(conn, f, asked.range)

    try:
        return await reads.run(read)  # the replica's when it is fit (docs/read-replica.md)
    except asyncpg.LockNotAvailableError:  # a full rebuild holds the tables (rebuild.py)
        raise Unavailable(
            "the reports are being rebuilt; try again in a minute",
            headers={"Retry-After": "30"},
            extra={"retry_after": 30},
        ) from None


CSV: dict[Any, Any] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
FORBIDDEN = problems(403, 503)


def _agents(conn: Conn, f: Filters, r: ReportRange, actor: Principal) -> Awaitable[AgentReport]:
    return service.agents(conn, actor, f, r)


def _report(
    name: str,
    model: type[T],
    build: Callable[[Conn, Filters, ReportRange, Principal], Awaitable[T]],
    summary: str,
    rows: str,
) -> None:
    """GET /api/v1/reports/<name> (JSON) and /<name>.csv (the same report, `rows`)."""

    async def run(reads: Reads, actor: Principal, asked: Asked) -> T:
        return await _build(reads, actor, asked, lambda conn, f, r: build(conn, f, r, actor))

    async def as_json(reads: Reads, actor: Reader, asked: Params) -> Any:
        return await run(reads, actor, asked)

    async def as_csv(reads: Reads, actor: Reader, asked: Params) -> StreamingResponse:
        report = await run(reads, actor, asked)
        return export.response(name, report, asked.range.first, asked.range.last)

    as_json.__name__, as_csv.__name__ = name, f"{name}_csv"
    router.add_api_route(
        f"/{name}", as_json, methods=["GET"], response_model=model, responses=FORBIDDEN,
        summary=summary,
    )  # fmt: skip
    router.add_api_route(
        f"/{name}.csv", as_csv, methods=["GET"], response_class=StreamingResponse,
        responses={**CSV, **FORBIDDEN}, summary=f"The {name} report as CSV, {rows}",
    )  # fmt: skip


def _scoped(
    build: Callable[[Conn, Filters, ReportRange], Awaitable[T]],
) -> Callable[[Conn, Filters, ReportRange, Principal], Awaitable[T]]:
    return lambda conn, f, r, _actor: build(conn, f, r)


_report("conversations", ConversationReport, _scoped(service.conversations),
        "Opened, resolved, reopened, open at each period's end, unassigned now",
        "one row per period")  # fmt: skip
_report("responsiveness", ResponsivenessReport, _scoped(service.responsiveness),
        "First response and resolution times, SLA compliance", "one row per period")  # fmt: skip
_report("messages", MessageReport, _scoped(service.messages),
        "Inbound and outbound volume, outbound by status, top error codes",
        "one row per period")  # fmt: skip
_report("agents", AgentReport, _agents,
        "Per agent: handled, replies, response and resolution medians, CSAT",
        "one row per agent")  # fmt: skip
_report("heatmap", HeatmapReport, _scoped(service.heatmap),
        "Inbound messages by local weekday and hour", "one row per weekday")  # fmt: skip
