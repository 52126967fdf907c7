"""Outgoing webhooks (issue 12): committed events delivered by ONE `omnistream worker` to a
fast local receiver, alone and beside an endpoint that never answers.

Starts ONE `omnistream serve` (API only) and ONE `omnistream worker` on a scratch database
`omnistream_bench_hooks_<random>` (loopback URLs allowed), and the receivers in a process
of their own (bench/webhooks_receiver.py: a fast endpoint answering 204 at once, and one
that accepts the connection and never answers, so each request hangs until the sender's
15 s timeout). Endpoints are created over the API (POST /api/v1/webhooks, events ["*"]).
The load generator commits `message.created`-shaped events through the real path
(events.outbox.emit_many in a transaction, one every --tick seconds) at --rate events/s;
the worker's dispatcher publishes them, its fan-out turns them into deliveries, its
delivery loop sends them.

Phases (each on the same database, worker and endpoints):
1. `healthy_only`: the fast endpoint alone, --rate events/s for --duration s.
2. `max_steps` (--max-rates, e.g. 1500,2000,2500): --step-duration s each, the fast
   endpoint alone, until a step is not sustained (received < 98 % of offered, or the
   deliveries still waiting 2 s after the last commit).
3. `with_hanging`: a never-answering endpoint added, --rate events/s for --duration s.

Figures per phase and endpoint, from the receiver's records (arrival time, webhook-id =
the event id): deliveries/s (overall and per full second of generation: mean and min),
missing and duplicate deliveries, commit → first attempt (commit time taken by the
generator once COMMIT returned, attempt time = arrival at the receiver; same clock) p50 /
p95 / p99 / max and p99 per 10 s, the backlog when generation stopped (unpublished events,
events not fanned out, pending deliveries per endpoint) and how long the healthy endpoint's
took to drain, CPU per process. Prints one JSON object; progress goes to stderr.

    .venv/bin/python bench/webhooks.py                           # 1,200/s for 60 s, twice
    .venv/bin/python bench/webhooks.py --max-rates 1500,2000,2500,3000
    .venv/bin/python bench/webhooks.py --profile /tmp/worker.txt  # py-spy in .venv

Targets: >= 1,000 deliveries/s sustained for 60 s; the healthy endpoint keeps >= 90 % of
that rate beside a never-answering one; commit -> first attempt p99 <= 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import harness
import httpx

from omnistream.events.outbox import Draft, emit_many
from omnistream.events.types import EventType

console = harness.console
SECRET_KEY = "bench-webhooks-" + "k" * 40
SETTINGS = {"secret_key": SECRET_KEY, "allow_private_urls": "true"}
TARGET_RATE = 1000.0
TARGET_KEPT = 0.90
TARGET_P99_MS = 500.0
HEALTHY, HANGING = "/healthy", "/hanging"


@dataclass
class Run:
    """What the phases share: the processes, the endpoints, every batch's commit time."""

    dsn: str
    receiver: str  # the fast receiver's base URL (its /_count and /_dump)
    arrivals: Path
    pids: dict[str, list[int]]
    database: str
    endpoints: dict[str, str] = field(default_factory=dict)  # path -> webhook id
    commits: list[float] = field(default_factory=list)  # by batch number


def message_event(phase: str, batch: int) -> Draft:
    """A message.created event of the size of a real one (about 700 bytes of data)."""
    now = "2026-11-28T09:15:02.481023+00:00"
    data = {
        "message": {
            "id": str(uuid4()),
            "conversation_id": str(uuid4()),
            "direction": "inbound",
            "channel": "whatsapp",
            "type": "text",
            "content": {"text": "Halo, pesanan saya belum sampai. Bisa dicek nomor resinya?"},
            "status": "received",
            "sender": {"type": "contact", "id": str(uuid4()), "name": "Budi Santoso"},
            "channel_message_id": "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABIYIDNBQjEyMzQ1Njc4OTA",
            "created_at": now,
            "updated_at": now,
        },
        "bench": {"phase": phase, "batch": batch},
    }
    actor = {"type": "contact", "id": data["message"]["sender"]["id"], "name": "Budi Santoso"}
    return Draft(EventType.MESSAGE_CREATED, data, actor)


async def generate(run: Run, phase: str, rate: float, seconds: float, tick: float) -> float:
    """Commits rate * tick events every tick seconds (catching up when late); t0."""
    conn = await harness.connect(run.dsn)
    try:
        t0 = time.time()
        ticks = round(seconds / tick)
        for k in range(ticks):
            delay = t0 + k * tick - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            n = round(rate * (k + 1) * tick) - round(rate * k * tick)
            batch = len(run.commits)
            drafts = [message_event(phase, batch) for _ in range(n)]
            async with conn.transaction():
                await emit_many(conn, drafts)
            run.commits.append(time.time())
        return t0
    finally:
        await conn.close()


BACKLOG = """
SELECT (SELECT count(*) FROM event_outbox WHERE seq IS NULL) AS unpublished,
       (SELECT COALESCE(max(seq), 0) FROM event_outbox)
         - (SELECT position FROM event_consumers WHERE name = 'webhooks') AS not_fanned_out,
       (SELECT COALESCE(jsonb_object_agg(webhook_id::text, n), '{}')
          FROM (SELECT webhook_id, count(*) AS n FROM webhook_deliveries
                 WHERE status = 'pending' GROUP BY webhook_id) p) AS pending
"""


async def backlog(conn: asyncpg.Connection, run: Run) -> dict[str, Any]:
    row = await conn.fetchrow(BACKLOG)
    assert row is not None
    pending: dict[str, int] = json.loads(row["pending"])
    names = {v: k for k, v in run.endpoints.items()}
    return {
        "unpublished_events": row["unpublished"],
        "events_not_fanned_out": row["not_fanned_out"],
        "pending_deliveries": {names.get(k, k): v for k, v in pending.items()},
    }


async def drive(
    run: Run, phase: str, rate: float, seconds: float, args: argparse.Namespace
) -> dict[str, Any]:
    """Generation with a progress bar, the backlog when it stopped, then the drain."""
    expected = round(rate * seconds)
    async with httpx.AsyncClient(base_url=run.receiver, timeout=30) as http:
        before = (await http.get("/_count")).json().get(HEALTHY, 0)
        monitor = await harness.connect(run.dsn)
        cpu0 = harness.CpuSnapshot.take(run.pids, run.database)
        task = asyncio.get_running_loop().create_task(
            generate(run, phase, rate, seconds, args.tick)
        )
        try:
            with harness.progress(counts=True) as bar:
                line = bar.add_task(f"{phase}: {rate:g}/s", total=expected)
                while not task.done():
                    await asyncio.wait({task}, timeout=1.0)
                    got = (await http.get("/_count")).json().get(HEALTHY, 0) - before
                    bar.update(line, completed=min(got, expected))
                t0 = await task
                stopped = time.time()
                cpu1 = harness.CpuSnapshot.take(run.pids, run.database)
                at_end = await backlog(monitor, run)
                while True:
                    got = (await http.get("/_count")).json().get(HEALTHY, 0) - before
                    bar.update(line, completed=min(got, expected))
                    if got >= expected:
                        break
                    if time.time() - stopped > args.drain_timeout:
                        console.print(f"[red]{phase}: {expected - got} not received in time")
                        break
                    await asyncio.sleep(0.05)
                drained = time.time() - stopped
                cpu2 = harness.CpuSnapshot.take(run.pids, run.database)
        finally:
            await monitor.close()
    used = harness.cpu_used(cpu0, cpu1)
    cpu = {k: harness.pct_of_core(used[k], used["wall"]) for k in (*run.pids, "db_backends")}
    cpu |= {
        "load_generator": harness.pct_of_core(used["own"], used["wall"]),
        "machine": harness.pct_of_core(used["machine_busy"], used["wall"]),
        "other": harness.pct_of_core(used["other"], used["wall"]),
    }
    # Per delivery to the healthy endpoint, from the first commit until it had them all:
    # the figure least disturbed by other work on the machine.
    whole = harness.cpu_used(cpu0, cpu2)
    per = {k: round(whole[k] / max(1, got) * 1e6) for k in ("worker", "db_backends", "api")}
    return {
        "t0": t0,
        "stopped": stopped,
        "backlog_at_end": at_end,
        "drain_s": round(drained, 3),
        "cpu_pct_of_one_core": cpu,
        "cpu_us_per_delivery": per,
        "contention": {"other_cpu_pct": cpu["other"], "quiet": cpu["other"] < 25},
    }


async def event_batches(run: Run, phase: str) -> tuple[dict[str, int], list[float]]:
    """The phase's events (id -> batch) and, for the healthy endpoint, commit -> delivery
    row (created_at: the start of the fan-out's transaction), sorted: the part of the
    latency before the delivery loop."""
    conn = await harness.connect(run.dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT e.id::text AS id, (e.data->'bench'->>'batch')::int AS batch,
                   extract(epoch FROM d.created_at)::float8 AS fanned
              FROM event_outbox e
              LEFT JOIN webhook_deliveries d ON d.event_id = e.id AND d.webhook_id = $2::uuid
             WHERE e.data->'bench'->>'phase' = $1
            """,
            phase,
            run.endpoints[HEALTHY],
        )
    finally:
        await conn.close()
    fanned = sorted(r["fanned"] - run.commits[r["batch"]] for r in rows if r["fanned"] is not None)
    return {r["id"]: r["batch"] for r in rows}, fanned


def read_arrivals(run: Run) -> dict[str, list[tuple[float, str]]]:
    """Every request either receiver saw, by path: (arrival, webhook-id)."""
    httpx.get(run.receiver + "/_dump", timeout=60).raise_for_status()
    by_path: dict[str, list[tuple[float, str]]] = {}
    for line in run.arrivals.read_text().splitlines():
        at, path, webhook_id = line.split("\t")
        by_path.setdefault(path, []).append((float(at), webhook_id))
    return by_path


def pct(values: list[float], q: float) -> float:
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1) if values else 0.0


def endpoint_figures(
    run: Run, arrivals: list[tuple[float, str]], batches: dict[str, int], t0: float, seconds: float
) -> dict[str, Any]:
    first: dict[str, float] = {}
    seen: Counter[str] = Counter()  # requests per event of this phase
    for at, webhook_id in arrivals:
        if webhook_id not in batches:
            continue  # another phase's event, or the API's own (webhook.created)
        seen[webhook_id] += 1
        if webhook_id not in first or at < first[webhook_id]:
            first[webhook_id] = at
    lags = sorted(at - run.commits[batches[w]] for w, at in first.items())
    windows: dict[int, list[float]] = {}
    for w, at in first.items():
        committed = run.commits[batches[w]]
        windows.setdefault(int((committed - t0) // 10), []).append(at - committed)
    per_second = Counter(int(at - t0) for at in first.values())
    full = [per_second.get(s, 0) for s in range(1, int(seconds) - 1)]
    times = sorted(first.values())
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {
        "requests": sum(seen.values()),
        "delivered": len(first),
        "missing": len(batches) - len(first),
        "duplicates": sum(n - 1 for n in seen.values() if n > 1),
        "deliveries_per_s": round(len(first) / span, 1) if span else 0.0,
        "sustained_mean_per_s": round(sum(full) / len(full), 1) if full else 0.0,
        "sustained_min_per_s": min(full) if full else 0,
        "commit_to_first_attempt_ms": {
            "p50": pct(lags, 0.5),
            "p95": pct(lags, 0.95),
            "p99": pct(lags, 0.99),
            "max": pct(lags, 1.0),
        },
        "p99_ms_by_10s": {
            f"{w * 10}-{w * 10 + 10}s": pct(sorted(v), 0.99) for w, v in sorted(windows.items())
        },
        "per_second": [per_second.get(s, 0) for s in range(max(per_second, default=-1) + 1)],
    }


def phase(
    run: Run, name: str, rate: float, seconds: float, args: argparse.Namespace
) -> dict[str, Any]:
    driven = asyncio.run(drive(run, name, rate, seconds, args))
    batches, fanned = asyncio.run(event_batches(run, name))
    arrivals = read_arrivals(run)
    t0 = driven.pop("t0")
    driven.pop("stopped")
    endpoints = {
        path.lstrip("/"): endpoint_figures(run, arrivals.get(path, []), batches, t0, seconds)
        for path in run.endpoints
    }
    endpoints[HEALTHY.lstrip("/")]["commit_to_delivery_row_ms"] = {
        "p50": pct(fanned, 0.5),
        "p99": pct(fanned, 0.99),
        "max": pct(fanned, 1.0),
    }
    if HANGING in run.endpoints:  # 4 requests per 15 s: rates mean nothing there
        hanging = endpoints[HANGING.lstrip("/")]
        for key in ("per_second", "p99_ms_by_10s", "deliveries_per_s", "sustained_mean_per_s",
                    "sustained_min_per_s", "commit_to_first_attempt_ms"):  # fmt: skip
            hanging.pop(key)
    return {"offered_per_s": rate, "duration_s": seconds, "events": len(batches),
            "endpoints": endpoints, **driven}  # fmt: skip


def sustained(step: dict[str, Any]) -> bool:
    healthy = step["endpoints"][HEALTHY.lstrip("/")]
    waiting = step["backlog_at_end"]["pending_deliveries"].get(HEALTHY, 0)
    return bool(
        healthy["missing"] == 0
        and healthy["sustained_mean_per_s"] >= 0.98 * step["offered_per_s"]
        and step["drain_s"] <= 2.0
        and waiting + step["backlog_at_end"]["events_not_fanned_out"] <= 2 * step["offered_per_s"]
    )


def create_endpoint(base: str, token: str, url: str, concurrency: int) -> str:
    response = httpx.post(
        base + "/api/v1/webhooks",
        headers={"Authorization": f"Bearer {token}"},
        json={"url": url, "events": ["*"], "max_concurrency": concurrency},
        timeout=30,
    )
    if response.status_code != 201:
        raise harness.BenchError(f"creating {url}: {response.status_code} {response.text}")
    return str(response.json()["id"])


def login(base: str, log_path: Path) -> str:
    email, password = harness.admin_credentials(log_path)
    response = httpx.post(
        base + "/api/v1/auth/login", json={"email": email, "password": password}, timeout=30
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def bench(args: argparse.Namespace) -> dict[str, Any]:
    with harness.api_on_scratch(
        args.database_url, "omnistream_bench_hooks", settings=SETTINGS
    ) as api:
        token = login(api.base, api.server.log_path)
        reference = harness.hello_reference(
            api.base, args.reference_duration, server_pid=api.server.pid
        )
        port, hang_port = harness.free_port(), harness.free_port()
        out = api.workdir / "arrivals.tsv"
        script = str(Path(__file__).with_name("webhooks_receiver.py"))
        command = [sys.executable, script, "--port", str(port), "--hang-port", str(hang_port),
                   "--out", str(out)]  # fmt: skip
        receiving = harness.running(
            command, dict(os.environ), api.workdir / "receiver.log", "receiver"
        )
        with receiving as receiver:
            url = f"http://127.0.0.1:{port}"
            harness.wait_http(url + "/_count", receiver, timeout=20)
            env = harness.omnistream_env(api.db.dsn, None, api.workdir, **SETTINGS)
            worker_cm = harness.omnistream(
                ["worker"], env, api.workdir, "worker", profile=args.profile
            )
            with worker_cm as worker:
                time.sleep(2)  # migrations checked, loops listening
                worker.check_alive()
                pids = {"api": [api.server.pid], "worker": [worker.pid], "receiver": [receiver.pid]}
                run = Run(api.db.dsn, url, out, pids, api.db.name)
                run.endpoints[HEALTHY] = create_endpoint(
                    api.base, token, url + HEALTHY, args.max_concurrency
                )
                machine = harness.machine_info_of(api.db.dsn)
                result: dict[str, Any] = {}
                result["healthy_only"] = phase(run, "healthy_only", args.rate, args.duration, args)
                steps = []
                for rate in [float(r) for r in args.max_rates.split(",") if r.strip()]:
                    step = phase(run, f"max_{rate:g}", rate, args.step_duration, args)
                    step["sustained"] = sustained(step)
                    steps.append(step)
                    worker.check_alive()
                    if not step["sustained"]:
                        break
                if steps:
                    result["max_steps"] = steps
                run.endpoints[HANGING] = create_endpoint(
                    api.base, token, f"http://127.0.0.1:{hang_port}{HANGING}", args.max_concurrency
                )
                result["with_hanging"] = phase(run, "with_hanging", args.rate, args.duration, args)
                worker.check_alive()
    return summary(args, machine, reference, result)


def summary(
    args: argparse.Namespace,
    machine: dict[str, Any],
    reference: dict[str, Any],
    result: dict[str, Any],
) -> dict[str, Any]:
    alone = result["healthy_only"]["endpoints"][HEALTHY.lstrip("/")]
    beside = result["with_hanging"]["endpoints"][HEALTHY.lstrip("/")]
    best = [s["offered_per_s"] for s in result.get("max_steps", []) if s["sustained"]]
    rate_alone, rate_beside = alone["sustained_mean_per_s"], beside["sustained_mean_per_s"]
    p99 = max(
        alone["commit_to_first_attempt_ms"]["p99"], beside["commit_to_first_attempt_ms"]["p99"]
    )
    met = {
        "rate": rate_alone >= TARGET_RATE and alone["missing"] == 0,
        "kept_beside_hanging": rate_beside >= TARGET_KEPT * max(rate_alone, TARGET_RATE)
        and beside["missing"] == 0,
        "latency_p99": p99 <= TARGET_P99_MS,
        "no_duplicates": alone["duplicates"] == 0 and beside["duplicates"] == 0,
    }
    return {
        "benchmark": "webhooks",
        "machine": machine,
        "reference": reference,
        "settings": {
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "tick_s": args.tick,
            "max_concurrency": args.max_concurrency,
            "processes": "1 x omnistream serve (API) + 1 x omnistream worker + 1 receiver process",
        },
        "headline": {
            "healthy_alone_per_s": rate_alone,
            "healthy_beside_hanging_per_s": rate_beside,
            "kept_ratio": round(rate_beside / rate_alone, 3) if rate_alone else 0.0,
            "commit_to_first_attempt_p99_ms": p99,
            "max_sustained_offered_per_s": max(best) if best else None,
        },
        **result,
        "target": {
            "rate_per_s_at_least": TARGET_RATE,
            "kept_at_least": TARGET_KEPT,
            "p99_ms_at_most": TARGET_P99_MS,
            **met,
            "met": all(met.values()),
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, harness.server_options(), harness.profile_options())
    parser.add_argument("--rate", type=float, default=1200, help="events per second offered")
    parser.add_argument("--duration", type=float, default=60, help="seconds of generation")
    parser.add_argument("--tick", type=float, default=0.02, help="seconds between commits")
    parser.add_argument("--max-rates", default="", help="comma-separated rates to step through")
    parser.add_argument("--step-duration", type=float, default=30)
    parser.add_argument("--max-concurrency", type=int, default=4, help="per endpoint (1-32)")
    parser.add_argument("--drain-timeout", type=float, default=120)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=lambda r: 0 if r["target"]["met"] else 2))
