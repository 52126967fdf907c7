"""The reports: who sees what, and each report built from the rollups and facts.

Scope (docs/reports.md): admins see everything; supervisors the conversations of their
divisions and those with none (the inbox's rule), and only their divisions' members in the
agents table; agents only their own figures (conversations assigned to them, messages
they sent and inbound ones of conversations assigned to them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.auth.principal import Principal
from omnistream.db.pool import Conn
from omnistream.kit.enums import Role
from omnistream.kit.errors import Forbidden
from omnistream.reports import durations, queries
from omnistream.reports.durations import PeriodStats, Stats
from omnistream.reports.periods import ReportRange
from omnistream.reports.queries import Filters
from omnistream.reports.rollup_queries import COUNTERS
from omnistream.reports.schemas import (
    AgentReport,
    AgentRow,
    ConversationCounts,
    ConversationPeriod,
    ConversationReport,
    Durations,
    ErrorCount,
    HeatmapReport,
    MessageCounts,
    MessagePeriod,
    MessageReport,
    RangeOut,
    ResponsivenessFigures,
    ResponsivenessPeriod,
    ResponsivenessReport,
    SlaCompliance,
    TimeFigures,
)

TOP_ERRORS = 10
TARGETS = ("first_response", "next_response", "resolution")


@dataclass(frozen=True)
class Asked:
    channel: str | None
    account_id: UUID | None
    division_id: UUID | None
    agent_id: UUID | None


def scope(actor: Principal, asked: Asked) -> Filters:
    """What the caller asked for, within what they may see (403 naming the filter that
    reaches beyond it)."""
    if actor.role is Role.ADMIN:
        return Filters(asked.channel, asked.account_id, asked.division_id, asked.agent_id)
    if actor.role is Role.SUPERVISOR:
        if asked.division_id is not None and asked.division_id not in actor.division_ids:
            raise Forbidden.field("division_id", "not one of your divisions", "not_your_division")
        divisions = tuple(sorted(actor.division_ids))
        return Filters(
            asked.channel, asked.account_id, asked.division_id, asked.agent_id, divisions
        )
    if asked.agent_id is not None and asked.agent_id != actor.agent_id:
        raise Forbidden.field("agent_id", "agents see only their own figures", "not_your_figures")
    return Filters(asked.channel, asked.account_id, asked.division_id, actor.agent_id)


def range_out(r: ReportRange) -> RangeOut:
    return RangeOut.model_validate(
        {
            "from": r.first,
            "to": r.last,
            "tz": r.zone.key,
            "group": r.grouping,
            "previous_from": r.first - timedelta(days=r.days),
            "previous_to": r.first - timedelta(days=1),
        }
    )


def _by_index(rows: list[asyncpg.Record]) -> dict[int, asyncpg.Record]:
    return {r["i"]: r for r in rows if r["i"] is not None}


def _counts(row: asyncpg.Record | None) -> dict[str, int]:
    return {c: int(row[c] or 0) if row is not None else 0 for c in COUNTERS}


async def conversations(conn: Conn, f: Filters, r: ReportRange) -> ConversationReport:
    bounds = r.boundaries()
    rows = _by_index(await queries.rollup_periods(conn, f, bounds))
    open_now = await queries.open_before(conn, f, r.previous_start)
    previous = _counts(rows.get(1))
    open_now += previous["opened"] + previous["reopened"] - previous["resolved"]
    previous_out = ConversationCounts(
        opened=previous["opened"],
        resolved=previous["resolved"],
        reopened=previous["reopened"],
        open_at_end=open_now,
    )
    series: list[ConversationPeriod] = []
    for k, period in enumerate(r.periods):
        c = _counts(rows.get(k + 2))
        open_now += c["opened"] + c["reopened"] - c["resolved"]
        series.append(
            ConversationPeriod(
                period=period.label,
                opened=c["opened"],
                resolved=c["resolved"],
                reopened=c["reopened"],
                open_at_end=open_now,
            )
        )
    totals = ConversationCounts(
        opened=sum(p.opened for p in series),
        resolved=sum(p.resolved for p in series),
        reopened=sum(p.reopened for p in series),
        open_at_end=open_now,
    )
    return ConversationReport(
        range=range_out(r),
        totals=totals,
        previous=previous_out,
        unassigned_now=await queries.unassigned_now(conn, f),
        series=series,
    )


def _messages(c: dict[str, int]) -> dict[str, int]:
    return {
        k: c[k] for k in ("inbound", "outbound", "pending", "sent", "delivered", "read", "failed")
    }


async def messages(conn: Conn, f: Filters, r: ReportRange) -> MessageReport:
    rows = _by_index(await queries.rollup_periods(conn, f, r.boundaries()))
    series = [
        MessagePeriod(period=p.label, **_messages(_counts(rows.get(k + 2))))
        for k, p in enumerate(r.periods)
    ]
    totals = {k: sum(getattr(p, k) for p in series) for k in _messages(_counts(None))}
    errors = await queries.error_codes(conn, f, r.start, r.end, TOP_ERRORS)
    return MessageReport(
        range=range_out(r),
        totals=MessageCounts(**totals),
        previous=MessageCounts(**_messages(_counts(rows.get(1)))),
        top_errors=[ErrorCount(code=e["code"], failed=e["failed"]) for e in errors],
        series=series,
    )


def _durations(stats: Stats | None) -> Durations:
    if stats is None or not stats.count:
        return Durations(count=0, median=None, p90=None, average=None)
    return Durations(
        count=stats.count,
        median=_tenths(stats.median),
        p90=_tenths(stats.p90),
        average=_tenths(stats.average),
    )


def _tenths(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _compliance(rows: list[asyncpg.Record]) -> SlaCompliance:
    out: dict[str, float | None] = {}
    for target in TARGETS:
        met = sum(r["met"] for r in rows if r["target"] == target)
        breached = sum(r["breached"] for r in rows if r["target"] == target)
        out[target] = round(100 * met / (met + breached), 1) if met + breached else None
    return SlaCompliance(**out)


def _figures(
    first: tuple[Stats | None, Stats | None],
    resolution: tuple[Stats | None, Stats | None],
    sla: list[asyncpg.Record],
) -> dict[str, Any]:
    """From (wall-clock, business) durations of each kind, and SLA outcomes."""
    return {
        "first_response": TimeFigures(wall=_durations(first[0]), business=_durations(first[1])),
        "resolution": TimeFigures(
            wall=_durations(resolution[0]), business=_durations(resolution[1])
        ),
        "sla_compliance": _compliance(sla),
    }


def _period(stats: PeriodStats, i: int) -> tuple[Stats | None, Stats | None]:
    return stats.wall.get(i), stats.business.get(i)


async def responsiveness(conn: Conn, f: Filters, r: ReportRange) -> ResponsivenessReport:
    bounds = r.boundaries()
    # Per period, and over the whole range (its percentiles are not the periods' combined).
    times = await durations.response_times(conn, f, bounds)
    sla = await queries.sla_outcomes(conn, f, bounds)  # while the times compute
    first, resolved = await times
    series = [
        ResponsivenessPeriod(
            period=p.label,
            **_figures(
                _period(first, k + 2),
                _period(resolved, k + 2),
                [s for s in sla if s["i"] == k + 2],
            ),
        )
        for k, p in enumerate(r.periods)
    ]
    return ResponsivenessReport(
        range=range_out(r),
        totals=ResponsivenessFigures(
            **_figures(
                (first.whole_wall, first.whole_business),
                (resolved.whole_wall, resolved.whole_business),
                [s for s in sla if s["i"] >= 2],
            )
        ),
        previous=ResponsivenessFigures(
            **_figures(_period(first, 1), _period(resolved, 1), [s for s in sla if s["i"] == 1])
        ),
        series=series,
    )


async def agents(conn: Conn, actor: Principal, f: Filters, r: ReportRange) -> AgentReport:
    if actor.role is Role.AGENT:
        listed = await queries.agents(conn, None, actor.agent_id)
    elif actor.role is Role.SUPERVISOR:
        listed = await queries.agents(conn, f.divisions, f.agent_id)
    else:
        listed = await queries.agents(conn, None, f.agent_id)
    # The listed agents' figures (one agent's when the list is one: an agent, or a filter).
    times = await durations.agent_times(conn, f, r.start, r.end)
    figures = await queries.agent_figures(conn, f, r.start, r.end)  # while the times compute
    replies = {x["agent_id"]: x["replies"] for x in figures["replies"]}
    csat = {x["agent_id"]: x for x in figures["csat"]}
    responded, resolved = await times
    rows = []
    for a in listed:
        done, answered, rated = resolved.get(a["id"]), responded.get(a["id"]), csat.get(a["id"])
        rows.append(
            AgentRow(
                agent_id=a["id"],
                name=a["name"],
                email=a["email"],
                role=a["role"],
                is_active=a["is_active"],
                conversations_handled=done.count if done else 0,
                replies_sent=int(replies.get(a["id"], 0)),
                first_response_median=_tenths(answered.median) if answered else None,
                resolution_median=_tenths(done.median) if done else None,
                csat_average=round(rated["average"], 2) if rated else None,
                csat_responses=rated["n"] if rated else 0,
            )
        )
    return AgentReport(range=range_out(r), agents=rows)


async def heatmap(conn: Conn, f: Filters, r: ReportRange) -> HeatmapReport:
    cells = [[0] * 24 for _ in range(7)]
    for row in await queries.heatmap(conn, f, r.start, r.end, r.zone.key):
        cells[row["weekday"] - 1][row["hour"]] += int(row["inbound"])
    return HeatmapReport(range=range_out(r), cells=cells, total=sum(map(sum, cells)))
