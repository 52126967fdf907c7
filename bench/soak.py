"""Soak on the several-process topology (issue 18, "Figures"): HAProxy in front of 2
`omnistream serve`, 2 `omnistream worker`, a PostgreSQL primary and a streaming replica
(bench/harness/topology.py), under mixed load through HAProxy for `--minutes` (default 30):
customers writing in through the Graph API sandbox (signed Meta webhooks, 300/s), 200
WebSocket clients, an agent's replies (20/s), a campaign at 200 sends/s to the sandbox, and
an outgoing webhook (message.created) to a local receiver (bench/webhooks_receiver.py).

Measured per minute (harness/soak.py, harness/soak_stats.py): p50/p99 of inbound end to end
(the sandbox call's start to the message.created event's publication), the reply API's
round trip, WebSocket event delivery (arrival - occurred_at) and webhook delivery (first
arrival - occurred_at); errors (HTTP 5xx and other non-201 replies, transport errors,
WebSocket drops, resume gaps, undelivered webhooks, failed sends); resident memory of every
process. The verdicts: each p99 over the last `--window-minutes` within 20 % of the first
window's; each process's memory in the last minute at most 10 % above the warm-up's last
minute (the first window); 0 errors. Prints one JSON object (exit code 1 when a verdict
failed); Rich progress on stderr.

    .venv/bin/python bench/soak.py                            # 30 minutes, the issue's rates
    .venv/bin/python bench/soak.py --minutes 3 --window-minutes 1 --inbound 30 \\
        --ws-clients 20 --replies 5 --campaign 20             # a short validation run
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
from typing import Any

import harness
from harness.chaos import TOPOLOGY_SETTINGS, peers
from harness.soak import SoakConfig, soak_run
from harness.topology import psql, running_topology


def bench(args: argparse.Namespace) -> dict[str, Any]:
    if args.window_minutes * 2 > args.minutes:
        raise harness.BenchError("--minutes must be at least twice --window-minutes")
    seed = random.randrange(2**32) if args.seed is None else args.seed
    config = SoakConfig(
        seconds=args.minutes * 60.0,
        inbound_per_second=args.inbound,
        replies_per_second=args.replies,
        customers=args.customers,
        # The campaign takes 80 % of the number's rate, replies the rest.
        send_rate=max(1, math.ceil(max(args.campaign / 0.8, args.campaign + args.replies * 2))),
        scheduled=args.scheduled,
        live_clients=0,  # the soak's own clients (harness/soak_live.py)
        seed=seed,
        campaign_per_second=args.campaign,
        ws_clients=args.ws_clients,
        window_minutes=args.window_minutes,
        drain_within=args.drain,
    )
    # A token that outlives the run (the default lives 15 minutes).
    ttl = str(min(86400, int(args.minutes * 60 + 3600)))
    settings = TOPOLOGY_SETTINGS | {"ACCESS_TOKEN_TTL_SECONDS": ttl}
    load, uptime = harness.load_average(), _uptime()
    with (
        harness.work_folder("omnistream-soak-", keep=args.keep) as work,
        running_topology(
            work / "topology", settings=settings, progress=harness.console.log
        ) as topo,  # fmt: skip
        peers(work) as (sandbox, receiver),
    ):
        harness.console.log(f"soak for {args.minutes:g} min (seed {seed})")
        version = psql(topo.primary_dsn, "SHOW server_version") or "unknown"
        extra = {"sandbox": sandbox.pid}
        report = asyncio.run(
            soak_run(topo, sandbox.url, receiver, work / "arrivals.tsv", config, extra_pids=extra)
        )
    verdicts = report["verdicts"]
    return {
        "machine": harness.machine_facts(
            version, load, uptime_at_start=uptime, uptime_at_end=_uptime()
        ),
        "settings": {
            "minutes": args.minutes,
            "window_minutes": args.window_minutes,
            "inbound_per_s": args.inbound,
            "replies_per_s": args.replies,
            "campaign_per_s": args.campaign,
            "campaign_recipients": config.campaign_recipients,
            "number_send_rate_per_s": config.send_rate,
            "ws_clients": args.ws_clients,
            "customers": args.customers,
            "scheduled": args.scheduled,
            "seed": seed,
            "topology": "HAProxy, 2 serve, 2 worker, PostgreSQL primary + streaming replica",
        },
        "ok": all(verdicts[k]["ok"] for k in ("p99_stable", "rss_growth", "no_errors")),
        **report,
    }


def _uptime() -> str:
    return os.popen("uptime").read().strip()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, reference=False)
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the load")
    parser.add_argument("--window-minutes", type=int, default=5,
                        help="first/last window compared; the first is the warm-up")  # fmt: skip
    parser.add_argument("--inbound", type=float, default=300.0, help="customer messages/s")
    parser.add_argument("--replies", type=float, default=20.0, help="agent replies/s")
    parser.add_argument("--campaign", type=float, default=200.0, help="campaign sends/s")
    parser.add_argument("--ws-clients", type=int, default=200, help="WebSocket clients")
    parser.add_argument("--customers", type=int, default=2000, help="distinct customers")
    parser.add_argument("--scheduled", type=int, default=20, help="scheduled messages")
    parser.add_argument("--drain", type=float, default=120.0, help="max wait for backlogs (s)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=lambda r: 0 if r["ok"] else 1))
