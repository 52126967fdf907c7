"""Every SQL statement of the reports' API: rollups by period, the heatmap, error codes,
SLA outcomes from the cycle facts, the agents table, and the live unassigned count.

A caller's scope is a Filters: what they asked for (channel, inbox account, division,
agent) and what they may see (a supervisor: their divisions and conversations with none;
an agent: their own figures), both applied in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn
from omnistream.reports.rollup_queries import COUNTERS


@dataclass(frozen=True)
class Filters:
    channel: str | None = None
    account_id: UUID | None = None
    division_id: UUID | None = None
    agent_id: UUID | None = None
    divisions: tuple[UUID, ...] | None = None  # a supervisor's: theirs, and none

    @property
    def grain(self) -> int:
        """The coarsest rollup grain that has every column these filters need."""
        if self.agent_id is not None:
            return 2
        return 1 if self.division_id is not None or self.divisions is not None else 0


class _Where:
    """AND-ed conditions with numbered parameters."""

    def __init__(self, params: list[Any]) -> None:
        self.params = params
        self.terms: list[str] = []

    def arg(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, term: str) -> None:
        self.terms.append(term)

    def sql(self) -> str:
        return " AND ".join(self.terms) if self.terms else "true"


def _day_floor(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _day_ceil(at: datetime) -> datetime:
    floor = _day_floor(at)
    return floor if floor == at else floor + timedelta(days=1)


def _dims(w: _Where, f: Filters, *, agent: str = "agent_id", channel: str = "channel",
          account: str = "account_id", division: str = "division_id") -> None:  # fmt: skip
    if f.channel is not None:
        w.add(f"{channel} = {w.arg(f.channel)}")
    if f.account_id is not None:
        w.add(f"{account} = {w.arg(f.account_id)}")
    if f.division_id is not None:
        w.add(f"{division} = {w.arg(f.division_id)}")
    if f.divisions is not None:
        w.add(f"({division} = ANY({w.arg(list(f.divisions))}::uuid[]) OR {division} IS NULL)")
    if f.agent_id is not None:
        w.add(f"{agent} = {w.arg(f.agent_id)}")


async def read_settings(conn: Conn) -> None:
    """A report waits at most a moment for a lock (a full rebuild holds the tables for
    minutes: the caller answers 503 instead), aggregates in memory, and is not compiled
    by JIT (its estimated costs crossed the threshold on the bench seed: 60 ms of
    compiling for a 300 ms statement)."""
    await conn.execute(
        "SET LOCAL lock_timeout = '2s'; SET LOCAL work_mem = '64MB'; SET LOCAL jit = off"
    )


async def rollup_periods(conn: Conn, f: Filters, bounds: list[datetime]) -> list[asyncpg.Record]:
    """The counters summed per period: `i` 1 is the previous range, 1 + k period k."""
    params: list[Any] = [bounds]
    w = _Where(params)
    w.add(f"grain = {int(f.grain)}")  # a literal: the partial indexes match it
    w.add("bucket >= $1[1] AND bucket < $1[array_upper($1, 1)]")
    _dims(w, f)
    sums = ", ".join(f"sum({c})::bigint AS {c}" for c in COUNTERS)
    return await conn.fetch(
        f"SELECT width_bucket(bucket, $1::timestamptz[]) AS i, {sums} "
        f"FROM report_rollups WHERE {w.sql()} GROUP BY 1",
        *params,
    )


async def open_before(conn: Conn, f: Filters, at: datetime) -> int:
    """Conversations open at `at`: every cycle opened before it minus those resolved."""
    params: list[Any] = [at]
    w = _Where(params)
    w.add(f"grain = {int(f.grain)}")  # a literal: the partial indexes match it
    w.add("bucket < $1")
    _dims(w, f)
    value = await conn.fetchval(
        f"SELECT COALESCE(sum(opened + reopened - resolved), 0)::bigint "
        f"FROM report_rollups WHERE {w.sql()}",
        *params,
    )
    return int(value)


async def heatmap(
    conn: Conn, f: Filters, start: datetime, end: datetime, zone: str
) -> list[asyncpg.Record]:
    """Inbound messages by local ISO weekday (1 = Monday) and hour."""
    params: list[Any] = [start, end, zone]
    w = _Where(params)
    w.add(f"grain = {int(f.grain)}")  # a literal: the partial indexes match it
    w.add("bucket >= $1 AND bucket < $2 AND inbound <> 0")
    _dims(w, f)
    # Summed per bucket first: the zone's arithmetic once per bucket, not once per row.
    return await conn.fetch(
        "SELECT extract(isodow FROM bucket AT TIME ZONE $3)::int AS weekday, "
        "extract(hour FROM bucket AT TIME ZONE $3)::int AS hour, sum(inbound)::bigint AS inbound "
        f"FROM (SELECT bucket, sum(inbound) AS inbound FROM report_rollups WHERE {w.sql()} "
        "GROUP BY bucket) b GROUP BY 1, 2",
        *params,
    )


async def error_codes(
    conn: Conn, f: Filters, start: datetime, end: datetime, limit: int
) -> list[asyncpg.Record]:
    """The commonest error codes of failed outbound messages in the range."""
    params: list[Any] = [start, end]
    w = _Where(params)
    w.add(f"grain = {int(f.grain)}")  # a literal: the partial indexes match it
    w.add("bucket >= $1 AND bucket < $2")
    _dims(w, f)
    return await conn.fetch(
        f"SELECT code, sum(failed)::bigint AS failed FROM report_failure_rollups "
        f"WHERE {w.sql()} GROUP BY code HAVING sum(failed) > 0 "
        f"ORDER BY 2 DESC, 1 LIMIT {w.arg(limit)}",
        *params,
    )


async def sla_outcomes(conn: Conn, f: Filters, bounds: list[datetime]) -> list[asyncpg.Record]:
    """Per period index and SLA target: met and breached (docs/reports.md: a first response
    counts when answered or missed, next response and resolution when the cycle ends)."""
    params: list[Any] = [bounds]
    w = _Where(params)
    _dims(w, f)
    bounds_of = "($1::timestamptz[])"
    within = f"{{at}} >= {bounds_of}[1] AND {{at}} < {bounds_of}[array_upper({bounds_of}, 1)]"
    parts = (
        ("first_response", "first_response_at", "sla_first_response = 'met'"),
        ("first_response", "first_response_due_at", "sla_first_response = 'breached'"),
        ("next_response", "resolved_at", "sla_next_response IS NOT NULL"),
        ("resolution", "resolved_at", "sla_resolution IS NOT NULL"),
    )
    outcome = {"first_response": "sla_first_response", "next_response": "sla_next_response",
               "resolution": "sla_resolution"}  # fmt: skip
    selects = " UNION ALL ".join(
        f"SELECT '{target}' AS target, {outcome[target]} AS outcome, {at} AS at "
        f"FROM report_cycles WHERE {which} AND {within.format(at=at)} AND {w.sql()}"
        for target, at, which in parts
    )
    return await conn.fetch(
        f"""
        SELECT width_bucket(at, $1::timestamptz[]) AS i, target,
               count(*) FILTER (WHERE outcome = 'met') AS met,
               count(*) FILTER (WHERE outcome = 'breached') AS breached
          FROM ({selects}) o GROUP BY 1, 2
        """,
        *params,
    )


async def unassigned_now(conn: Conn, f: Filters) -> int:
    """Open conversations with no assignee now (an agent: those they could take)."""
    params: list[Any] = []
    w = _Where(params)
    w.add("status = 'open' AND assigned_agent_id IS NULL")
    _dims(w, Filters(f.channel, f.account_id, f.division_id, None, f.divisions),
          account="integration_account_id")  # fmt: skip
    value = await conn.fetchval(f"SELECT count(*) FROM conversations WHERE {w.sql()}", *params)
    return int(value)


async def agents(
    conn: Conn, divisions: tuple[UUID, ...] | None, only: UUID | None
) -> list[asyncpg.Record]:
    """The agents a report lists: all (admin), the members of these divisions (supervisor),
    or one (agent)."""
    return await conn.fetch(
        """
        SELECT a.id, a.name, a.email, a.role, a.is_active FROM agents a
         WHERE ($1::uuid IS NULL OR a.id = $1)
           AND ($2::uuid[] IS NULL OR EXISTS (
                SELECT 1 FROM agent_divisions d
                 WHERE d.agent_id = a.id AND d.division_id = ANY($2::uuid[])))
         ORDER BY a.name, a.id
        """,
        only,
        list(divisions) if divisions is not None else None,
    )


def _daily_parts(start: datetime, end: datetime) -> list[tuple[int, datetime, datetime, int]]:
    """[start, end) as (grain, from, to, sign) parts to sum: whole UTC days from the daily
    grain 3, each edge from the 15-minute grain 2, or as its whole day (grain 3) minus the
    rest of that day (grain 2) when that rest is the shorter (an edge's 15-minute rows are
    the most to read: a range ending at midnight in Jakarta, 17:00 UTC, reads today's 7
    hours after 17:00, which have not happened yet, instead of 17 hours)."""
    first_day, last_day = _day_ceil(start), _day_floor(end)
    if first_day > last_day:  # within one UTC day
        return [(2, start, end, 1)]
    parts = [(3, first_day, last_day, 1)] if first_day < last_day else []
    day = timedelta(days=1)
    if start < first_day:
        before = first_day - day
        if start - before < first_day - start:
            parts += [(3, before, first_day, 1), (2, before, start, -1)]
        else:
            parts.append((2, start, first_day, 1))
    if last_day < end:
        after = last_day + day
        if after - end < end - last_day:
            parts += [(3, last_day, after, 1), (2, end, after, -1)]
        else:
            parts.append((2, last_day, end, 1))
    return [p for p in parts if p[1] < p[2]]


async def agent_figures(
    conn: Conn, f: Filters, start: datetime, end: datetime
) -> dict[str, list[asyncpg.Record]]:
    """Per agent: replies sent (rollups) and CSAT answers (by the assignee at the resolve
    the survey asked about); their response times come from reports/durations.py."""
    out: dict[str, list[asyncpg.Record]] = {}
    selects = []
    params: list[Any] = []
    for grain, lo, hi, sign in _daily_parts(start, end):
        w = _Where(params)
        w.add(f"grain = {int(grain)} AND bucket >= {w.arg(lo)} AND bucket < {w.arg(hi)}")
        w.add("agent_id IS NOT NULL")
        _dims(w, f)
        selects.append(f"SELECT agent_id, {sign} * outbound FROM report_rollups WHERE {w.sql()}")
    out["replies"] = (
        await conn.fetch(
            "SELECT agent_id, sum(outbound)::bigint AS replies FROM ("
            + " UNION ALL ".join(selects)
            + ") r (agent_id, outbound) GROUP BY 1",
            *params,
        )
        if selects
        else []
    )
    params = [start, end]
    w = _Where(params)
    w.add("s.responded_at >= $1 AND s.responded_at < $2 AND s.score IS NOT NULL")
    w.add("s.agent_id IS NOT NULL")
    _dims(w, f, agent="s.agent_id", channel="s.channel", division="s.division_id",
          account="c.integration_account_id")  # fmt: skip
    out["csat"] = await conn.fetch(
        "SELECT s.agent_id, avg(s.score)::float8 AS average, count(*) AS n "
        "FROM csat_surveys s LEFT JOIN conversations c ON c.id = s.conversation_id "
        f"WHERE {w.sql()} GROUP BY 1",
        *params,
    )
    return out
