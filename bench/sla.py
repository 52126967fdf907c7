"""SLA clocks at scale (issue 14): the breach loop's idle pass, a minute of due breaches, and
inbound end to end with the SLA applied.

    .venv/bin/python bench/sla.py --figure all                  # the three figures
    .venv/bin/python bench/sla.py --figure pass,due             # 1 and 2 on one seed
    .venv/bin/python bench/sla.py --figure pass --scale 0.02    # 20,000 conversations
    .venv/bin/python bench/sla.py --figure due --scale 0.02 --due 2000
    .venv/bin/python bench/sla.py --figure inbound --inbound-duration 60

Figures `pass` and `due` share one scratch database `omnistream_bench_sla_<random>`
(created on --database-url's server, dropped at the end): bench/seed.py's inbox at --scale
(1.0: 1,000,000 conversations, 10,000,000 messages), every conversation reopened and given a
running clock of a 24/7 default policy (bench/sla_seed.py), then ANALYZE.

1. pass (bench/sla_pass.py): a breach-loop pass with nothing due (check_due + next_check,
   the loop's idle tick), timed over --passes passes: p50 / p99 / max; EXPLAIN (ANALYZE,
   BUFFERS) of both statements. Target: at most 50 ms, the check index used.
2. due (bench/sla_due.py): --due conversations' first responses due within one minute
   from --lead s on; one, then two real `omnistream worker` processes. Target: each logged
   within 10 s of its due time; exactly --due logs and sla.breached events, none twice.
3. inbound (bench/sla_inbound.py): bench/inbound_e2e.py without the SLA loops
   (OMNISTREAM_WORKER_LOOPS_OFF) and with them plus a default 24/7 policy, same run.
   Target: with >= 90 % of without.

JSON on stdout (machine facts, the hello-world reference of this run, each figure and its
target); Rich progress on stderr. Exit code 2 when a target is missed, 1 when the bench
failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any
from uuid import UUID

import harness
import sla_due
import sla_inbound
import sla_pass
import sla_seed

FIGURES = ("pass", "due", "inbound")


def seeded_figures(args: argparse.Namespace, wanted: list[str]) -> dict[str, Any]:
    """Figures 1 and 2 on one seeded scratch database."""
    out: dict[str, Any] = {}
    with (
        harness.work_folder("omnistream-sla-") as work,
        harness.scratch_database(
            harness.server_dsn(args.database_url), "omnistream_bench_sla"
        ) as db,
    ):
        load = harness.load_average()
        started = time.monotonic()
        out["setup"] = asyncio.run(sla_seed.prepare(db.dsn, args.scale, args.seed))
        out["setup"]["wall_s"] = round(time.monotonic() - started, 1)
        out["machine"] = harness.machine_info_of(db.dsn) | {"load_avg_1m_at_start": load}
        out["reference"] = harness.reference_on(db.dsn, work, args.reference_duration)
        if "pass" in wanted:
            out["pass"] = asyncio.run(sla_pass.measure(db.dsn, args.passes, args.pass_interval))
        if "due" in wanted:
            policy = UUID(out["setup"]["policy"]["id"])
            out["due"] = sla_due.measure(db, work, policy, args)
    return out


def bench(args: argparse.Namespace) -> dict[str, Any]:
    wanted = list(FIGURES) if args.figure == ["all"] else args.figure
    harness.wrk_path()  # fail before anything starts
    result: dict[str, Any] = {"benchmark": "sla", "figures": wanted}
    if "pass" in wanted or "due" in wanted:
        result |= seeded_figures(args, wanted)
    if "inbound" in wanted:
        if "reference" in result:  # measured once, at the start of the run
            args.reference_duration = 0
        inbound = sla_inbound.measure(args)
        result["inbound"] = inbound
        result.setdefault("reference", inbound["reference"])
        if "machine" not in result:
            first = inbound["runs"][0]
            result["machine"] = first.get("full", {}).get("machine") or harness.machine_facts(
                "see inbound runs", first["load_avg_1m_at_start"]
            )
    result["machine"]["load_avg_1m_at_end"] = harness.load_average()
    result["settings"] = {
        "scale": args.scale,
        "conversations": round(1_000_000 * args.scale),
        "passes": args.passes,
        "due": args.due,
        "workers": args.workers,
        "lead_s": args.lead,
        "spread_s": args.spread,
    }
    result["met"] = {f: result[f]["target"]["met"] for f in wanted}
    return result


def exit_code(result: dict[str, Any]) -> int:
    return 0 if all(result["met"].values()) else 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, harness.server_options())
    parser.add_argument(
        "--figure",
        type=lambda v: v.split(","),
        default=["all"],
        help=f"all, or some of {', '.join(FIGURES)} comma-separated",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="seed size (1.0: 1,000,000 conversations)"
    )
    parser.add_argument("--seed", type=int, default=3, help="random seed of bench/seed.py")
    parser.add_argument("--passes", type=int, default=2000, help="timed breach-loop passes")
    parser.add_argument("--pass-interval", type=float, default=0.01, help="seconds between passes")
    parser.add_argument("--due", type=int, default=10_000, help="breaches due per run")
    parser.add_argument(
        "--workers",
        type=lambda v: [int(n) for n in v.split(",")],
        default=[1, 2],
        help="worker processes per due run, comma-separated (default 1,2)",
    )
    parser.add_argument("--lead", type=float, default=30.0, help="s until the first due time")
    parser.add_argument("--spread", type=float, default=60.0, help="s the due times span")
    parser.add_argument("--timeout", type=float, default=60.0, help="s after the last due time")
    parser.add_argument("--inbound-rate", type=int, default=2000, help="webhooks per second")
    parser.add_argument("--inbound-duration", type=int, default=60, help="s of posting")
    parser.add_argument("--inbound-contacts", type=int, default=5000)
    parser.add_argument(
        "--inbound-modes",
        type=lambda v: v.split(","),
        default=["rate", "backlog"],
        help="rate and/or backlog, comma-separated (default both)",
    )
    parser.add_argument("--inbound-repeats", type=int, default=1, help="pairs per mode")
    parser.add_argument(
        "--inbound-full", action="store_true", help="keep each inbound_e2e result whole"
    )
    args = parser.parse_args(argv)
    if args.figure != ["all"] and not set(args.figure) <= set(FIGURES):
        parser.error(f"--figure: all, or some of {', '.join(FIGURES)}")
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    if any(m not in ("rate", "backlog") for m in args.inbound_modes):
        parser.error("--inbound-modes: rate, backlog")
    return args


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=exit_code))
