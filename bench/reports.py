"""Benchmark: reports at scale (issue 15), on the database seeded by bench/seed.py.

1. `rebuild`: the reports' facts and rollups recomputed from the raw rows of the whole seed
   (1M conversations, 10M messages) by omnistream.reports.rebuild, timed (the same code as
   `omnistream reports rebuild`), with the rows it wrote.
2. `api`: ONE `omnistream serve` on the seed; signed in as the seeded admin, supervisor and
   agent; every report endpoint (conversations, responsiveness, messages, agents, heatmap)
   over the last 30 and 365 days (Asia/Jakarta, grouped by day), sequential keep-alive
   requests, p50/p95/p99; plus the app's hello-world req/s of the same run (reference).

Prints one JSON object on stdout; progress goes to stderr.

    .venv/bin/python bench/reports.py [--database-url URL] [--figure rebuild,api]
                                      [--requests 40]

Targets: rebuild <= 180 s; every report p95 <= 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import asyncpg
import harness
from inbox_common import seeded_database_options, seeded_server
from inbox_latency import load_accounts, measure, sign_in

from omnistream.db.pool import create_pool
from omnistream.reports.rebuild import rebuild

BenchError = harness.BenchError
console = harness.console
REBUILD_TARGET_S = 180.0
P95_TARGET_MS = 300.0
REPORTS = ("conversations", "responsiveness", "messages", "agents", "heatmap")
ZONE = "Asia/Jakarta"
TABLES = (
    "report_cycles", "report_messages", "report_rollups",
    "report_failure_rollups",
)  # fmt: skip


async def _rebuild(dsn: str) -> dict[str, Any]:
    pool = await create_pool(dsn, 1, 2)
    try:
        with harness.progress(counts=True) as bar:
            task = bar.add_task("rebuild", total=None)
            started = time.perf_counter()
            done = await rebuild(
                pool, None, lambda n, total: bar.update(task, completed=n, total=total)
            )
            seconds = time.perf_counter() - started
        async with pool.acquire() as conn:
            rows = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}
            await conn.execute(f"VACUUM ANALYZE {', '.join(TABLES)}")
    finally:
        await pool.close()
    return {
        "conversations": done,
        "seconds": round(seconds, 1),
        "rows": rows,
        "target_s": REBUILD_TARGET_S,
        "met": seconds <= REBUILD_TARGET_S,
    }


def _api(args: argparse.Namespace) -> dict[str, Any]:
    dsn = args.database_url
    accounts, _, _ = asyncio.run(load_accounts(dsn))
    port = args.port or harness.free_port()
    base = f"http://127.0.0.1:{port}"
    today = date.today()
    results: list[dict[str, Any]] = []
    with (
        harness.work_folder("omnistream-reports-") as workdir,
        seeded_server(dsn, port, workdir) as server,
    ):
        tokens = {role: sign_in(base, a.email) for role, a in accounts.items()}
        reference = harness.hello_reference(base, args.reference_duration, server_pid=server.pid)
        cases = [
            (role, report, days)
            for days in (30, 365)
            for role in ("admin", "supervisor", "agent")
            for report in REPORTS
            if report in args.reports.split(",")
        ]
        with harness.progress(counts=True, label_width=40) as bar:
            task = bar.add_task("reports", total=len(cases))
            for role, report, days in cases:
                bar.update(task, description=f"{role} {report} {days} d")
                query = {
                    "from": (today - timedelta(days=days - 1)).isoformat(),
                    "to": today.isoformat(),
                    "tz": ZONE,
                    "group": "day",
                }
                url = f"/api/v1/reports/{report}?{urlencode(query)}"
                timing = measure(
                    base, url, tokens[role], requests=args.requests, warmup=args.warmup,
                    concurrency=1,
                )  # fmt: skip
                server.check_alive()
                entry = {"role": role, "report": report, "days": days, **timing.summary()}
                if timing.statuses.get(200) != entry.get("n"):
                    entry["error"] = str(timing.first_body)[:300]
                results.append(entry)
                bar.advance(task)
    worst = max(results, key=lambda r: r.get("p95_ms", float("inf")))
    return {
        "reference": reference,
        "results": results,
        "worst": {k: worst.get(k) for k in ("role", "report", "days", "p95_ms")},
        "target_p95_ms": P95_TARGET_MS,
        "met": all(
            r.get("p95_ms", float("inf")) <= P95_TARGET_MS and "error" not in r for r in results
        ),
        "settings": {
            "requests_per_case": args.requests,
            "warmup_per_case": args.warmup,
            "zone": ZONE,
            "today": today.isoformat(),
            "server": "1 x `omnistream serve` (uvicorn, 1 process), access log off",
        },
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    figures = {f.strip() for f in args.figure.split(",") if f.strip()}
    if not figures <= {"rebuild", "api"}:
        raise BenchError(f"--figure: rebuild and/or api, not {args.figure!r}")
    dsn = args.database_url
    machine = harness.machine_info_of(dsn)
    out: dict[str, Any] = {
        "benchmark": "reports",
        "database": harness.database_name(dsn),
        "machine": machine,
        "zone_of_today": str(ZoneInfo(ZONE)),
    }
    try:
        if "rebuild" in figures:
            out["rebuild"] = asyncio.run(_rebuild(dsn))
        if "api" in figures:
            out["api"] = _api(args)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"{harness.shown_dsn(dsn)}: {exc}") from exc
    machine["load_avg_1m_at_end"] = harness.load_average()
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, seeded_database_options(), harness.port_options())
    parser.add_argument("--figure", default="rebuild,api", help="rebuild, api or both")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per case first")
    parser.add_argument("--reports", default=",".join(REPORTS), help="which reports to time")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests >= 1, --warmup >= 0")
    return args


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
