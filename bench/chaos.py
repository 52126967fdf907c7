"""Chaos on the several-process topology (issue 18), the long version of
tests/topology/test_chaos.py: HAProxy in front of 2 `omnistream serve`, 2 `omnistream
worker`, a PostgreSQL primary and a streaming replica (bench/harness/topology.py), under
mixed load through HAProxy (customers writing in through the Graph API sandbox, an agent's
replies, a campaign, scheduled messages, an outgoing webhook to a local receiver, live-event
clients) while every 5-15 s a random API or worker process is SIGKILLed and restarted.

At the end (after every backlog drained): every inbound webhook applied once, every reply,
scheduled message and campaign recipient sent exactly once, every message.created event
delivered to the receiver (at least once, same webhook-id), every live client got every
event without a gap. The load and the check are bench/harness/chaos.py and chaos_check.py.
Prints one JSON object ("problems": [] when all held; exit code 1 otherwise).

    .venv/bin/python bench/chaos.py                 # 120 s
    .venv/bin/python bench/chaos.py --seconds 300 --seed 7 --keep
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from typing import Any

import harness
from harness.chaos import TOPOLOGY_SETTINGS, ChaosConfig, peers
from harness.chaos_check import chaos_run
from harness.topology import psql, running_topology


def bench(args: argparse.Namespace) -> dict[str, Any]:
    if args.seed is None:
        args.seed = random.randrange(2**32)
    config = ChaosConfig(
        seconds=args.seconds,
        kill_every=(args.kill_min, args.kill_max),
        inbound_per_second=args.inbound,
        replies_per_second=args.replies,
        seed=args.seed,
    )
    load = harness.load_average()
    with (
        harness.work_folder("omnistream-chaos-", keep=args.keep) as work,
        running_topology(
            work / "topology", settings=TOPOLOGY_SETTINGS, progress=harness.console.log
        ) as topo,  # fmt: skip
        peers(work) as (sandbox, receiver),
    ):
        harness.console.log(f"chaos for {args.seconds:g} s (seed {args.seed})")
        version = psql(topo.primary_dsn, "SHOW server_version") or "unknown"
        report = asyncio.run(chaos_run(topo, sandbox.url, receiver, work / "arrivals.tsv", config))
    return {
        "machine": harness.machine_facts(version, load),
        "settings": {
            "seconds": args.seconds,
            "kill_every_s": [args.kill_min, args.kill_max],
            "inbound_per_s": args.inbound,
            "replies_per_s": args.replies,
            "campaign_recipients": config.campaign_recipients,
            "scheduled": config.scheduled,
            "seed": args.seed,
            "topology": "HAProxy, 2 serve, 2 worker, PostgreSQL primary + streaming replica",
        },
        **report,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, reference=False)
    parser.add_argument("--seconds", type=float, default=120.0, help="load and kills (s)")
    parser.add_argument("--kill-min", type=float, default=5.0)
    parser.add_argument("--kill-max", type=float, default=15.0)
    parser.add_argument("--inbound", type=float, default=8.0, help="customer messages/s")
    parser.add_argument("--replies", type=float, default=3.0, help="agent replies/s")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=lambda r: 1 if r["problems"] else 0))
