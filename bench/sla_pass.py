"""Figure 1 of bench/sla.py: a breach-loop pass with nothing due, on the seeded database.

One pass is what omnistream/sla/worker.py breach_loop does each tick when nothing is due:
`check_due(pool, policies)` (a transaction: the database's time, the SKIP LOCKED claim,
nothing found) and then `queries.next_check` on a pooled connection, through a pool made
as the worker makes it (omnistream.db.pool.create_pool). Timed on this side, over --passes
passes after a warm-up, --pass-interval apart. Then EXPLAIN (ANALYZE, BUFFERS) of the very
statements those functions send (recorded from a connection wrapper, so the text cannot
drift from the code), in a transaction rolled back.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import harness

from omnistream.db.pool import create_pool
from omnistream.sla import queries
from omnistream.sla.engine import Policies
from omnistream.sla.worker import BATCH_SIZE, check_due

TARGET_MS = 50.0
WARMUP_PASSES = 20
INDEX = "sla_schedule_check_idx"


class Recorder:
    """Forwards fetch / fetchval to a connection and keeps each (statement, arguments)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> Any:
        self.calls.append((sql, args))
        return await self.conn.fetch(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.calls.append((sql, args))
        return await self.conn.fetchval(sql, *args)


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "max": round(ordered[-1], 3),
        "mean": round(sum(ordered) / len(ordered), 3),
    }


async def explain(conn: Any, sql: str, args: tuple[Any, ...]) -> dict[str, Any]:
    tx = conn.transaction()
    await tx.start()
    try:  # rolled back: leaves nothing locked or changed
        tx_plan = [r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)]
    finally:
        await tx.rollback()
    text = "\n".join(tx_plan)
    return {
        "statement": " ".join(sql.split()),
        "plan": tx_plan,
        "uses_index": INDEX in text,
        "seq_scan": "Seq Scan" in text,
    }


async def explain_generic(conn: Any, sql: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """The claim's generic plan: what a prepared statement (asyncpg caches them) may switch
    to after five executions. EXPLAIN EXECUTE takes no bound parameters: literals."""
    await conn.execute(f"PREPARE sla_bench_claim (timestamptz, int) AS {sql}")
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        now, limit = args
        rows = await conn.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) EXECUTE sla_bench_claim "
            f"('{now.isoformat()}'::timestamptz, {int(limit)})"
        )
    finally:
        await tx.rollback()
        await conn.execute("DEALLOCATE sla_bench_claim")
    plan = [r[0] for r in rows]
    text = "\n".join(plan)
    return {"plan": plan, "uses_index": INDEX in text, "seq_scan": "Seq Scan" in text}


async def plans(pool: Any) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the claim and of next_check, as the code sends them."""
    async with pool.acquire() as conn:
        recorder = Recorder(conn)
        async with conn.transaction():
            await queries.claim_due(recorder, BATCH_SIZE)  # type: ignore[arg-type]
        claim_sql, claim_args = next(c for c in recorder.calls if "SKIP LOCKED" in c[0])
        recorder.calls.clear()
        await queries.next_check(recorder)  # type: ignore[arg-type]
        next_sql, next_args = recorder.calls[0]
        return {
            "claim": await explain(conn, claim_sql, claim_args),
            "claim_generic_plan": await explain_generic(conn, claim_sql, claim_args),
            "next_check": await explain(conn, next_sql, next_args),
        }


async def measure(dsn: str, passes: int, interval: float) -> dict[str, Any]:
    pool = await create_pool(dsn, 2, 10)  # the worker's defaults (db_pool_min / max)
    policies = Policies()
    totals: list[float] = []
    claims: list[float] = []
    nexts: list[float] = []
    found = 0
    try:
        with harness.progress(counts=True) as progress:
            task = progress.add_task("breach-loop passes", total=WARMUP_PASSES + passes)
            for i in range(WARMUP_PASSES + passes):
                t0 = time.perf_counter()
                evaluated, _ = await check_due(pool, policies)
                t1 = time.perf_counter()
                async with pool.acquire() as conn:
                    upcoming = await queries.next_check(conn)
                t2 = time.perf_counter()
                found += evaluated
                if upcoming is None:
                    raise harness.BenchError("next_check found no clock: the seed has none")
                if i >= WARMUP_PASSES:
                    claims.append((t1 - t0) * 1000)
                    nexts.append((t2 - t1) * 1000)
                    totals.append((t2 - t0) * 1000)
                progress.advance(task, 1)
                await asyncio.sleep(interval)
        if found:
            raise harness.BenchError(f"{found} clocks were due during the passes")
        explained = await plans(pool)
        async with pool.acquire() as conn:
            upcoming = await queries.next_check(conn)
            ahead = await conn.fetchval("SELECT extract(epoch FROM $1 - now())::float8", upcoming)
    finally:
        await pool.close()
    pass_ms = quantiles(totals)
    return {
        "passes": passes,
        "warmup_passes": WARMUP_PASSES,
        "interval_s": interval,
        "pass_ms": pass_ms,
        "check_due_ms": quantiles(claims),
        "next_check_ms": quantiles(nexts),
        "next_check_in_s": round(ahead, 1),
        "explain": explained,
        "target": {
            "max_ms": TARGET_MS,
            "met": pass_ms["max"] <= TARGET_MS
            and all(p["uses_index"] and not p["seq_scan"] for p in explained.values()),
            "p99_within": pass_ms["p99"] <= TARGET_MS,
        },
    }
