"""Figure 2 of bench/sla.py: --due conversations of the seeded database falling due within
the same minute, breached and logged by real `omnistream worker` processes (all loops; the
breach loop is the one at work), first with one worker, then with two side by side.

Each run takes its own --due conversations (picked by a hash of the id, spread through the
table), starts its workers, waits until each has logged "worker started", and then gives
them the clock the SLA consumer would store for a conversation whose first response is due
in that minute: started = due - first_response minutes, no response yet, the 80 % warning
already sent (sla_warned = {first_response}), so the next check is the due time itself;
due times evenly spaced over --spread seconds from --lead seconds on (the database's
clock). Every clock is checked with omnistream.sla.clock to be what it would store.

Measured: per breach, its log's breached_at (the breach loop's transaction time) and the
moment this script first saw the committed row (polled every POLL_S) against its due time;
the time from the minute's last due time to the last log; the sla.breached events (count,
distinct conversations, published_at - due). Target: every one logged within 10 s of its
due time, exactly --due logs and --due events per run, none twice.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import harness
import sla_seed

from omnistream.db.pool import init_connection

TARGET_S = 10.0
POLL_S = 0.1

PICK_SQL = """
SELECT id FROM conversations
 ORDER BY hashtextextended(id::text, 11), id
 OFFSET $1 LIMIT $2
"""
DUE_SQL = """
WITH b AS MATERIALIZED (SELECT clock_timestamp() AS t0), d AS (
    SELECT id, b.t0 + make_interval(secs => $2::float8 + $3::float8 * (n - 1)) AS due
      FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n), b
), moved AS (
    UPDATE conversations c
       SET status = 'open', resolved_at = NULL,
           sla_policy_id = $4, sla_division_id = c.division_id, sla_cycle = 1,
           sla_started_at = d.due - make_interval(mins => $5::int),
           sla_first_response_at = NULL, sla_waiting_since = NULL,
           sla_first_response_due_at = d.due, sla_next_response_due_at = NULL,
           sla_resolution_due_at = d.due - make_interval(mins => $5::int)
                                   + make_interval(mins => $6::int),
           sla_warned = '{first_response}', sla_breached = '{}'
      FROM d WHERE c.id = d.id
    RETURNING c.id, d.due
), scheduled AS (
    INSERT INTO sla_schedule (conversation_id, check_at, due_at)
    SELECT id, due, due FROM moved
    ON CONFLICT (conversation_id) DO UPDATE SET check_at = EXCLUDED.check_at,
                                                due_at = EXCLUDED.due_at
)
SELECT extract(epoch FROM due)::float8 AS due FROM moved
"""
FIGURES_SQL = """
SELECT l.conversation_id, extract(epoch FROM l.due_at)::float8 AS due,
       extract(epoch FROM l.breached_at)::float8 AS breached
  FROM sla_breach_logs l WHERE l.conversation_id = ANY($1::uuid[])
"""
EVENTS_SQL = """
SELECT e.conversation_id, e.type, extract(epoch FROM e.published_at)::float8 AS published,
       extract(epoch FROM (e.data ->> 'due_at')::timestamptz)::float8 AS due
  FROM event_outbox e
 WHERE e.conversation_id = ANY($1::uuid[]) AND e.type IN ('sla.breached', 'sla.warning')
"""


def stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    return {
        "min": round(ordered[0], 3),
        "p50": round(ordered[len(ordered) // 2], 3),
        "p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3),
        "max": round(ordered[-1], 3),
    }


async def pick(dsn: str, run: int, count: int) -> list[UUID]:
    conn = await asyncpg.connect(dsn)
    try:
        ids = [r["id"] for r in await conn.fetch(PICK_SQL, run * count, count)]
    finally:
        await conn.close()
    if len(ids) < count:
        raise harness.BenchError(f"the seed has too few conversations for --due {count}")
    return ids


async def set_due(
    dsn: str, ids: list[UUID], policy: UUID, lead: float, spread: float
) -> list[float]:
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    try:
        step = spread / len(ids)  # all within [lead, lead + spread)
        rows = await conn.fetch(
            DUE_SQL,
            ids,
            lead,
            step,
            policy,
            sla_seed.FIRST_RESPONSE_MINUTES,
            sla_seed.RESOLUTION_MINUTES,
        )
        await sla_seed.clocks_unchanged(conn, ids[:: max(1, len(ids) // 500)])
    finally:
        await conn.close()
    return sorted(r["due"] for r in rows)


async def watch(
    dsn: str, ids: list[UUID], deadline: float, workers: list[Any]
) -> dict[UUID, float]:
    """Polls the breach logs of `ids`: when each was first seen (epoch seconds)."""
    conn = await asyncpg.connect(dsn)
    seen: dict[UUID, float] = {}
    try:
        with harness.progress(counts=True) as progress:
            task = progress.add_task("breaches logged", total=len(ids))
            wanted = set(ids)
            since = 0.0  # epoch: only logs from TARGET_S before the newest one seen
            while len(seen) < len(ids) and time.time() < deadline:
                rows = await conn.fetch(
                    "SELECT conversation_id, extract(epoch FROM breached_at)::float8 AS at "
                    "FROM sla_breach_logs WHERE breached_at >= to_timestamp($1)",
                    since,
                )
                at = time.time()
                for r in rows:
                    if r["conversation_id"] in wanted:
                        seen.setdefault(r["conversation_id"], at)
                        since = max(since, r["at"] - TARGET_S)
                progress.update(task, completed=len(seen))
                for worker in workers:
                    worker.check_alive()
                await asyncio.sleep(POLL_S)
        # The events go out after commit (the dispatcher): give them a moment.
        until = time.time() + 15
        while time.time() < until:
            pending = await conn.fetchval(
                "SELECT count(*) FROM event_outbox WHERE conversation_id = ANY($1::uuid[]) "
                "AND published_at IS NULL",
                ids,
            )
            if pending == 0:
                break
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    return seen


async def collect(dsn: str, ids: list[UUID], seen: dict[UUID, float]) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        logs = await conn.fetch(FIGURES_SQL, ids)
        events = await conn.fetch(EVENTS_SQL, ids)
        all_logs = await conn.fetchval("SELECT count(*) FROM sla_breach_logs")
    finally:
        await conn.close()
    breached = [e for e in events if e["type"] == "sla.breached"]
    by_id = {r["conversation_id"]: r for r in logs}
    log_lag = [r["breached"] - r["due"] for r in logs]
    seen_lag = [seen[i] - by_id[i]["due"] for i in seen if i in by_id]
    published = [e["published"] - e["due"] for e in breached if e["published"] is not None]
    last_due = max((r["due"] for r in logs), default=0.0)
    return {
        "logs": len(logs),
        "logs_distinct_conversations": len(by_id),
        "logs_in_database_total": all_logs,
        "events_breached": len(breached),
        "events_breached_distinct": len({e["conversation_id"] for e in breached}),
        "events_breached_unpublished": sum(1 for e in breached if e["published"] is None),
        "events_warning": len(events) - len(breached),
        "logged_within_target": sum(1 for lag in seen_lag if lag <= TARGET_S),
        "breached_at_minus_due_s": stats(log_lag),
        "seen_minus_due_s": stats(seen_lag),
        "published_minus_due_s": stats(published),
        "last_due_to_last_log_s": round(max((r["breached"] for r in logs), default=0) - last_due, 3)
        if logs
        else None,
        "last_due_to_last_seen_s": round(max(seen.values()) - last_due, 3) if seen else None,
    }


def one_run(
    db: harness.ScratchDatabase,
    work: Path,
    policy: UUID,
    workers: int,
    run: int,
    args: Any,
) -> dict[str, Any]:
    ids = asyncio.run(pick(db.dsn, run, args.due))
    env = harness.omnistream_env(db.dsn, None, work, log_level="INFO")
    with ExitStack() as stack:
        procs = [
            stack.enter_context(harness.omnistream(["worker"], env, work, f"worker-{run}-{k}"))
            for k in range(workers)
        ]
        with harness.console.status(f"starting {workers} worker(s)"):
            wait_started(procs)
        cpu_before = sum(harness.proc_cpu_seconds(p.pid) for p in procs)
        load = harness.load_average()
        dues = asyncio.run(set_due(db.dsn, ids, policy, args.lead, args.spread))
        harness.console.print(
            f"{len(ids):,} first responses due from {args.lead:g} s on, over {args.spread:g} s"
        )
        seen = asyncio.run(watch(db.dsn, ids, dues[-1] + args.timeout, procs))
        cpu = sum(harness.proc_cpu_seconds(p.pid) for p in procs) - cpu_before
    figures = asyncio.run(collect(db.dsn, ids, seen))
    met = (
        figures["logs"] == args.due
        and figures["logs_distinct_conversations"] == args.due
        and figures["events_breached"] == args.due
        and figures["events_breached_distinct"] == args.due
        and figures["logged_within_target"] == args.due
        and figures["logs_in_database_total"] == (run + 1) * args.due  # no other breach
    )
    return {
        "workers": workers,
        "due": args.due,
        "due_span_s": round(dues[-1] - dues[0], 3),
        "load_avg_1m_at_start": load,
        **figures,
        "workers_cpu_s": round(cpu, 2),
        "met": met,
    }


def wait_started(procs: list[harness.Process], timeout: float = 90) -> None:
    """Until every worker logged "worker started" (migrations checked, loops running)."""
    deadline = time.monotonic() + timeout
    for proc in procs:
        while "worker started" not in proc.log_path.read_text(errors="replace"):
            proc.check_alive()
            if time.monotonic() > deadline:
                raise harness.BenchError(
                    f"the {proc.label} did not start:\n{harness.tail(proc.log_path)}"
                )
            time.sleep(0.1)


def measure(db: harness.ScratchDatabase, work: Path, policy: UUID, args: Any) -> dict[str, Any]:
    runs = [one_run(db, work, policy, n, i, args) for i, n in enumerate(args.workers)]
    return {
        "lead_s": args.lead,
        "spread_s": args.spread,
        "poll_s": POLL_S,
        "runs": runs,
        "target": {"within_s": TARGET_S, "met": all(r["met"] for r in runs)},
    }
