"""Response-time figures from the duration blocks (migration 0024), computed in memory.

A year of the bench seed is ~1.5 million durations; PostgreSQL sorted all of them per
request (percentile_cont, ~0.75 s per kind). Here the blocks' packed columns are read as
they are (a few thousand rows) and numpy selects the order statistics without a full
sort (np.partition), in a worker thread so the event loop keeps serving. The results equal
PostgreSQL's: the median and p90 interpolate as percentile_cont does, over the same values.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import numpy as np
import numpy.typing as npt

from omnistream.db.pool import Conn
from omnistream.reports import duration_queries as queries
from omnistream.reports.queries import Filters

FIRST_RESPONSE, RESOLUTION = 1, 2
_NAN8 = np.array([math.nan], ">f8").tobytes()
_RUN = np.dtype([("agent", "S16"), ("count", ">i4")])
_DAY = 86_400
T = TypeVar("T")

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Stats:
    """Median, p90 and average of some durations (seconds); None without any."""

    count: int
    median: float | None
    p90: float | None
    average: float | None

    @classmethod
    def of(cls, values: F64) -> Stats:
        n = len(values)
        if n == 0:
            return cls(0, None, None, None)
        median, p90 = percentiles(values, (0.5, 0.9))
        return cls(n, median, p90, float(values.mean()))


def percentiles(values: F64, fractions: Sequence[float]) -> list[float]:
    """PostgreSQL's percentile_cont: the value at rank f * (n - 1), interpolated linearly
    between the two values around it (the same arithmetic, so the same float)."""
    n = len(values)
    positions = [f * (n - 1) for f in fractions]
    ranks = sorted({r for p in positions for r in (math.floor(p), math.ceil(p))})
    picked = np.partition(values, ranks)
    out = []
    for f in fractions:
        at = f * (n - 1)
        lo, hi = math.floor(at), math.ceil(at)
        first, second = float(picked[lo]), float(picked[hi])
        out.append(first if lo == hi else first + (second - first) * (at - lo))
    return out


@dataclass(frozen=True)
class Values:
    """Durations in time order within each block: when (whole Unix seconds), how long
    (wall-clock and business seconds, NaN without) and whose (index into `agents`)."""

    at: I64
    wall: F64
    business: F64
    agent: npt.NDArray[np.intp]
    agents: list[UUID | None]
    has_business: bool  # False: none has one (and `business` is empty)

    def where(self, keep: npt.NDArray[np.bool_]) -> Values:
        return Values(
            self.at[keep],
            self.wall[keep],
            self.business[keep] if self.has_business else self.business,
            self.agent[keep],
            self.agents,
            self.has_business,
        )


def _column(rows: Sequence[asyncpg.Record], name: str, dtype: Any) -> npt.NDArray[Any]:
    return np.frombuffer(b"".join(r[name] for r in rows), dtype)


def decode(rows: Sequence[asyncpg.Record], f: Filters) -> Values:
    """The blocks' values kept by the channel and account filters (the others were applied
    in SQL: division per block, agent per slice)."""
    counts = np.fromiter((r["n"] for r in rows), np.int64, len(rows))
    days = np.fromiter((int(r["day"].timestamp()) for r in rows), np.int64, len(rows))
    at = np.repeat(days, counts) + _column(rows, "at", ">i4").astype(np.int64)
    wall = _column(rows, "wall", ">f8").astype(np.float64)
    has_business = any(r["business"] is not None for r in rows)
    business = (
        np.frombuffer(b"".join(r["business"] or _NAN8 * r["n"] for r in rows), ">f8").astype(
            np.float64
        )
        if has_business
        else np.empty(0, np.float64)
    )
    runs = _column(rows, "agent_runs", _RUN)
    ids, index = np.unique(runs["agent"], return_inverse=True)
    agent = np.repeat(index.astype(np.intp), runs["count"].astype(np.int64))
    agents = [UUID(bytes=bytes(i).ljust(16, b"\0")) if bytes(i) else None for i in ids]
    values = Values(at, wall, business, agent, agents, has_business)
    keep = np.ones(len(at), np.bool_)
    if f.channel is not None:
        code = queries.CHANNELS.index(f.channel)
        keep &= _column(rows, "channel", ">i2") == code
    if f.account_id is not None:
        keep &= _column(rows, "account", "S16") == np.bytes_(f.account_id.bytes)
    return values if keep.all() else values.where(keep)


async def _read(
    conn: Conn, f: Filters, kind: int, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    columns = ["at", "wall", "business"]
    if f.channel is not None:
        columns.append("channel")
    if f.account_id is not None:
        columns.append("account")
    return await queries.read(
        conn,
        kind,
        _utc_midnight(start),
        end,
        division_id=f.division_id,
        divisions=f.divisions,
        agent_id=f.agent_id,
        columns=columns,
    )


async def _both_kinds(
    conn: Conn, f: Filters, start: datetime, end: datetime, compute: Callable[[Values], T]
) -> asyncio.Future[tuple[T, T]]:
    """Read each kind's blocks (first response, resolution) and start `compute` over each in
    a worker thread (numpy releases the GIL): the first kind's computes while the second is
    read, and the caller may use the connection while both compute. Await the result."""

    def work(rows: list[asyncpg.Record]) -> T:
        return compute(decode(rows, f))

    first = asyncio.ensure_future(
        asyncio.to_thread(work, await _read(conn, f, FIRST_RESPONSE, start, end))
    )
    try:
        rows = await _read(conn, f, RESOLUTION, start, end)
    except BaseException:
        first.cancel()
        raise
    return asyncio.gather(first, asyncio.to_thread(work, rows))


def _utc_midnight(at: datetime) -> datetime:
    """The start of the UTC day `at` is in (the first block to read)."""
    seconds = math.floor(at.timestamp())
    return datetime.fromtimestamp(seconds - seconds % _DAY, UTC)


@dataclass(frozen=True)
class PeriodStats:
    """Per period index i (as queries.rollup_periods: 1 the previous range, 1 + k period
    k), and over the whole range (periods 2 on, not their combination)."""

    wall: dict[int, Stats]
    business: dict[int, Stats]
    whole_wall: Stats
    whole_business: Stats


def by_period(values: Values, bounds: Sequence[datetime]) -> PeriodStats:
    edges = np.array([math.ceil(b.timestamp()) for b in bounds], np.int64)
    # width_bucket's index: 0 before the first edge, len(edges) from the last one on
    index = np.searchsorted(edges, values.at, side="right").astype(np.int16)
    order = np.argsort(index, kind="stable")  # a radix sort: few distinct small keys
    cuts = np.searchsorted(index[order], np.arange(len(edges) + 1))
    wall = values.wall[order]
    business = values.business[order] if values.has_business else None
    per_wall, per_business = {}, {}
    for i in range(1, len(edges)):
        lo, hi = int(cuts[i]), int(cuts[i + 1])
        if lo == hi:
            continue
        per_wall[i] = Stats.of(wall[lo:hi])
        if business is not None:
            per_business[i] = Stats.of(_present(business[lo:hi]))
    lo, hi = int(cuts[2]), int(cuts[len(edges)])  # periods 2 on: the range itself
    whole_business = Stats.of(_present(business[lo:hi]) if business is not None else wall[:0])
    return PeriodStats(per_wall, per_business, Stats.of(wall[lo:hi]), whole_business)


def _present(values: F64) -> F64:
    return values[~np.isnan(values)]


async def response_times(
    conn: Conn, f: Filters, bounds: list[datetime]
) -> asyncio.Future[tuple[PeriodStats, PeriodStats]]:
    """First response and resolution times per period of `bounds` (read now, computed by
    the time the future is awaited)."""
    return await _both_kinds(conn, f, bounds[0], bounds[-1], lambda v: by_period(v, bounds))


@dataclass(frozen=True)
class AgentStats:
    count: int
    median: float


def by_agent(values: Values, start: datetime, end: datetime) -> dict[UUID, AgentStats]:
    """Per agent (none left out): how many values from `start` to before `end`, and their
    median."""
    inside = (values.at >= math.ceil(start.timestamp())) & (values.at < math.ceil(end.timestamp()))
    agent, wall = values.agent[inside], values.wall[inside]
    order = np.argsort(agent, kind="stable")
    agent, wall = agent[order], wall[order]
    cuts = np.searchsorted(agent, np.arange(len(values.agents) + 1))
    out: dict[UUID, AgentStats] = {}
    for k, who in enumerate(values.agents):
        lo, hi = int(cuts[k]), int(cuts[k + 1])
        if who is not None and hi > lo:
            out[who] = AgentStats(hi - lo, percentiles(wall[lo:hi], (0.5,))[0])
    return out


async def agent_times(
    conn: Conn, f: Filters, start: datetime, end: datetime
) -> asyncio.Future[tuple[dict[UUID, AgentStats], dict[UUID, AgentStats]]]:
    """First response and resolution times per agent, from `start` to before `end` (read
    now, computed by the time the future is awaited)."""
    return await _both_kinds(conn, f, start, end, lambda v: by_agent(v, start, end))
