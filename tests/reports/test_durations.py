"""The in-memory percentiles (reports/durations.py) give PostgreSQL's answers to the float:
percentile_cont and avg over the same values, per period as width_bucket splits them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np

from omnistream.context import AppContext
from omnistream.reports.durations import Stats, Values, by_agent, by_period, percentiles


def _values(rng: random.Random, n: int) -> list[float]:
    pool = [round(rng.uniform(0, 200_000), rng.choice((0, 1, 6))) for _ in range(max(1, n // 3))]
    return [rng.choice(pool) if rng.random() < 0.3 else rng.uniform(0, 9e5) for _ in range(n)]


async def test_percentiles_equal_percentile_cont(ctx: AppContext) -> None:
    rng = random.Random(15)
    async with ctx.pool.acquire() as conn:
        for n in [1, 2, 3, 10, 11, 101] + [rng.randint(1, 400) for _ in range(60)]:
            values = _values(rng, n)
            expected = await conn.fetchval(
                "SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY v) "
                "FROM unnest($1::float8[]) v",
                values,
            )
            assert percentiles(np.array(values), (0.5, 0.9)) == list(expected), values


async def test_periods_and_agents_equal_sql(ctx: AppContext) -> None:
    """Random times and durations split by random period bounds: each period's count,
    median, p90 and average, the whole range's, and per agent, as SQL computes them."""
    rng = random.Random(24)
    origin = datetime(2026, 3, 1, tzinfo=UTC)
    agents = [None, *(f"a{k}" for k in range(4))]
    async with ctx.pool.acquire() as conn:
        for _ in range(12):
            n = rng.randint(0, 300)
            at = sorted(rng.randint(0, 40 * 86_400) for _ in range(n))
            wall = _values(rng, n)
            business = [w if rng.random() < 0.5 else float("nan") for w in wall]
            who = [rng.randrange(len(agents)) for _ in range(n)]
            cuts = sorted({rng.randint(-86_400, 41 * 86_400) for _ in range(rng.randint(2, 9))})
            if len(cuts) < 2:
                continue
            bounds = [origin + timedelta(seconds=c) for c in cuts]
            times = [origin + timedelta(seconds=a) for a in at]
            values = Values(
                np.array([int(t.timestamp()) for t in times], np.int64),
                np.array(wall),
                np.array(business),
                np.array(who, np.intp),
                agents,  # type: ignore[arg-type]  # labels stand in for ids here
                True,
            )
            got = by_period(values, bounds)
            rows = await conn.fetch(
                """
                SELECT i, count(*) AS n,
                       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY w) AS p,
                       avg(w) AS average
                  FROM (SELECT width_bucket(t, $3::timestamptz[]) AS i, w
                          FROM unnest($1::timestamptz[], $2::float8[]) u(t, w)) d
                 WHERE i BETWEEN 1 AND array_length($3::timestamptz[], 1) - 1
                 GROUP BY i
                """,
                times,
                wall,
                bounds,
            )
            assert set(got.wall) == {r["i"] for r in rows}
            for r in rows:
                stats = got.wall[r["i"]]
                assert (stats.count, [stats.median, stats.p90]) == (r["n"], list(r["p"]))
                assert abs(stats.average - r["average"]) <= 1e-9 * abs(r["average"]) + 1e-9
            inside = [
                (w, b) for t, w, b in zip(times, wall, business, strict=True)
                if bounds[1] <= t < bounds[-1]
            ]  # fmt: skip
            assert got.whole_wall.count == len(inside)
            present = [b for _, b in inside if b == b]
            assert got.whole_business == Stats.of(np.array(present))
            if present:
                expected = await conn.fetchval(
                    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) "
                    "FROM unnest($1::float8[]) v",
                    present,
                )
                assert got.whole_business.median == expected
            per_agent = by_agent(values, bounds[0], bounds[-1])
            for k, label in enumerate(agents):
                mine = [
                    w for t, w, a in zip(times, wall, who, strict=True)
                    if a == k and bounds[0] <= t < bounds[-1]
                ]  # fmt: skip
                if label is None or not mine:
                    assert label not in per_agent
                    continue
                median = await conn.fetchval(
                    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) "
                    "FROM unnest($1::float8[]) v",
                    mine,
                )
                assert (per_agent[label].count, per_agent[label].median) == (len(mine), median)  # type: ignore[index]
