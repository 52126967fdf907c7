"""Inbound end to end (bench/inbound_e2e.py) with and without the reports' rollups and the
search indexes (issue 15), in the same run.

- without: the worker runs with OMNISTREAM_WORKER_LOOPS_OFF=reports (no facts, no
  rollups) and the search indexes of migration 0022 are dropped before the load;
- with: all loops and every index (the schema as shipped);
- `--variants` adds `search` (the indexes, no rollups) and `reports` (the rollups, no
  search indexes), to tell the two costs apart.

Each variant is a full inbound_e2e run (its own scratch database, `omnistream serve` and
worker). Modes: `rate` (--rate webhooks/s for --duration s: published per second) and
`backlog` (the worker paused while the load is posted, then the drain rate). Once drained,
"with" also waits until the reports consumer has passed every event and counts the rollups'
inbound messages (they must equal the messages stored). Repeats alternate the order.

    .venv/bin/python bench/reports_inbound.py [--modes rate,backlog] [--repeats 1]
                                              [--rate 2000] [--duration 60]

Target: with >= 85 % of without, per mode, and the rollups complete.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from typing import Any

import asyncpg
import harness
import inbound_e2e

KEPT_TARGET = 0.85
SEARCH_INDEXES = ("messages_search_idx", "conversation_notes_search_idx", "contacts_search_idx")


def drop_search_indexes(dsn: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for name in SEARCH_INDEXES:
                await conn.execute(f"DROP INDEX IF EXISTS {name}")
        finally:
            await conn.close()

    asyncio.run(run())


async def reports_state(dsn: str, wait_s: float) -> dict[str, Any]:
    """Until the reports consumer passed the newest event (at most `wait_s`), then what the
    rollups counted against the raw rows."""
    conn = await asyncpg.connect(dsn)
    try:
        passed, waited = await harness.wait_for_consumer(conn, "reports", wait_s)
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM messages WHERE direction = 'inbound') AS messages, "
            "(SELECT COALESCE(sum(inbound), 0) FROM report_rollups WHERE grain = 0) AS rolled_up"
        )
    finally:
        await conn.close()
    assert counts is not None
    return {
        "caught_up": passed,
        "caught_up_s_after_drain": round(waited, 2),
        "inbound_messages": counts["messages"],
        "inbound_in_rollups": int(counts["rolled_up"]),
    }


def one(args: argparse.Namespace, variant: str, backlog: bool, reference_s: int) -> dict[str, Any]:
    argv = [
        "--rate", str(args.rate),
        "--duration", str(args.duration),
        "--contacts", str(args.contacts),
        "--reference-duration", str(reference_s),
        *(["--database-url", args.database_url] if args.database_url else []),
        *(["--backlog"] if backlog else []),
    ]  # fmt: skip
    on = variant in ("with", "reports")  # the reports loop runs
    indexed = variant in ("with", "search")  # the search indexes exist
    harness.console.rule(f"inbound {'backlog' if backlog else 'rate'}: {variant}")
    result = inbound_e2e.bench(
        inbound_e2e.parse_args(argv),
        worker_settings={"worker_loops_off": None if on else "reports"},
        prepare_database=None if indexed else drop_search_indexes,
        after_drain=lambda dsn: asyncio.run(reports_state(dsn, 180 if on else 0)),
    )
    state = result["after_drain"]
    posted, drained = result["posted"], result["drained_s_after_last_post"]
    done_s = drained + (state["caught_up_s_after_drain"] if on else 0.0)
    return {
        "variant": variant,
        "mode": "backlog" if backlog else "rate",
        "published_per_s": result["published_per_s"],
        "drain_per_s": result.get("drain_per_s"),
        "drain_incl_reports_per_s": round(posted / max(0.001, done_s), 1) if backlog else None,
        "inbound_target_met": result["target"]["met"],
        "rollups_complete": (not on)
        or (state["caught_up"] and state["inbound_in_rollups"] == state["inbound_messages"]),
        "lag_ms": result["lag_ms"],
        "cpu_pct_of_one_core": result["cpu_pct_of_one_core"],
        "reports": state,
        "reference": result["reference"],
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    reference: dict[str, Any] | None = None
    for mode in args.modes.split(","):
        for repeat in range(args.repeats):
            order = args.variants if repeat % 2 == 0 else args.variants[::-1]
            for variant in order:
                run = one(
                    args,
                    variant,
                    mode == "backlog",
                    args.reference_duration if reference is None else 0,
                )
                reference = reference or run["reference"]
                runs.append(run)
    summary: dict[str, Any] = {}
    for mode in args.modes.split(","):
        key = "drain_incl_reports_per_s" if mode == "backlog" else "published_per_s"
        rates = {
            v: [r[key] for r in runs if r["mode"] == mode and r["variant"] == v]
            for v in args.variants
        }
        mode_runs = [r for r in runs if r["mode"] == mode]
        without = statistics.median(rates["without"]) if rates.get("without") else 0.0
        kept = {
            v: round(statistics.median(r) / without, 3) if without else None
            for v, r in rates.items()
            if v != "without"
        }
        summary[mode] = {
            "compared": key,
            "per_s": rates,
            "kept": kept,
            "met": kept.get("with") is not None
            and kept["with"] >= KEPT_TARGET
            and all(r["rollups_complete"] for r in mode_runs),
        }
    return {
        "benchmark": "reports_inbound",
        "settings": {
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "contacts": args.contacts,
            "without": "OMNISTREAM_WORKER_LOOPS_OFF=reports, search indexes dropped",
            "with": "all loops, all indexes",
        },
        "reference": reference,
        "summary": summary,
        "runs": runs,
        "target": {"kept_at_least": KEPT_TARGET, "met": all(s["met"] for s in summary.values())},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, harness.server_options())
    parser.add_argument("--modes", default="rate,backlog", help="rate, backlog or both")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--variants",
        type=lambda v: v.split(","),
        default=["without", "with"],
        help="without, with, search (indexes, no rollups), reports (rollups, no indexes)",
    )
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--contacts", type=int, default=5000)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
