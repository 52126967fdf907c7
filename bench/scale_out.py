"""Scale-out (issue 18 figures): 1 API + 1 worker vs 2 APIs + 2 workers, in ONE run on this
machine, both behind HAProxy (bench/harness/topology.py: a PostgreSQL primary and its
pg_basebackup replica, which serves the APIs' lag-tolerant reads in both set-ups).

For each set-up a fresh topology (same settings, same empty primary) is started, then:
1. the hello-world reference: wrk on GET /healthz through HAProxy;
2. inbound end to end, as bench/inbound_e2e.py measures it but through HAProxy and at
   capacity: --messages signed WhatsApp webhooks posted as fast as --connections keep-alive
   connections take them (--rate caps it), until every message row is stored and its
   message.created event published; the figure is messages / (last event published - first
   POST), with the lag percentiles of inbound_e2e;
3. GET /api/v1/conversations?limit=50 with wrk through HAProxy, as an agent (created over
   the API) on the conversations step 2 opened (one per --contacts).
During each phase the CPU of every process tree is sampled from /proc (each API, each
worker, HAProxy, the primary and the replica with their backends, the load generator, wrk)
and the busiest kind of process is named. The JSON gives both set-ups, the ratios 2+2 / 1+1
and `uptime` before and after. On 2 cores a gain may be small: the machine is then the
bottleneck, which the CPU figures show.

    .venv/bin/python bench/scale_out.py [--messages 60000] [--duration 15]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import harness
import httpx
import webhook_ack as ack
from auth_me import sign_in_agent
from harness.pgcluster import psql
from harness.scaling import (
    bottleneck,
    cpu_shares,
    haproxy_downs,
    topology_cpu,
    topology_cpu_ms_per_unit,
    uptime,
)
from harness.topology import Topology, running_topology
from inbound_e2e import Load, drive, outcome, requests

console = harness.console
LIST = "/api/v1/conversations?limit=50"


def inbound(topo: Topology, args: argparse.Namespace) -> dict[str, Any]:
    """Inbound end to end at capacity through HAProxy (phase 2)."""
    port = int(topo.url.rsplit(":", 1)[1])
    built = requests(args.messages, args.contacts, port)
    load = Load(port, built, args.rate, args.connections)
    phases = [topology_cpu(topo)]
    drained = asyncio.run(
        drive(topo.primary_dsn, load, args.drain_timeout, lambda: phases.append(topology_cpu(topo)))
    )
    phases.append(topology_cpu(topo))
    posted_s = phases[1].at - phases[0].at
    result = asyncio.run(outcome(topo.primary_dsn, load, args.contacts))
    end_to_end_s = posted_s + drained["drained_s_after_last_post"]
    shares = cpu_shares(phases[0], phases[2])
    return {
        "messages": args.messages,
        "http_status": load.status,
        "messages_per_s_end_to_end": round(args.messages / end_to_end_s, 1),
        "posted_per_s": round(args.messages / posted_s, 1),
        "drained_s_after_last_post": drained["drained_s_after_last_post"],
        "stored": result["messages_stored"],
        "with_published_event": result["messages_with_published_event"],
        "duplicates": result["duplicates"],
        "conversations": result["conversations"],
        "lag_ms": result["lag_ms"],
        "cpu_pct_of_one_core": shares,
        "topology_cpu_ms_per_message": topology_cpu_ms_per_unit(shares, args.messages),
        "bottleneck": bottleneck(shares),
    }


def conversations(topo: Topology, args: argparse.Namespace) -> dict[str, Any]:
    """GET /api/v1/conversations with wrk through HAProxy as an agent (phase 3)."""
    token, _me = sign_in_agent(topo.url, topo.admin_email, topo.admin_password)
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.get(topo.url + LIST, headers=headers, timeout=30)
    r.raise_for_status()
    items = len(r.json()["items"])
    if items == 0:
        raise harness.BenchError("the agent sees no conversation")
    common: dict[str, Any] = {"connections": args.wrk_connections, "threads": 2}
    harness.run_wrk(topo.url + LIST, seconds=2, headers=headers, **common)  # warm-up
    before = topology_cpu(topo)
    result = harness.run_wrk(topo.url + LIST, seconds=args.duration, headers=headers, **common)
    shares = cpu_shares(before, topology_cpu(topo))
    return {
        "route": f"GET {LIST}",
        "items_per_page": items,
        "requests_per_s": result.requests_per_s,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "requests": result.requests,
        "non_2xx": result.non_2xx,
        "socket_errors": result.socket_errors,
        **common,
        "cpu_pct_of_one_core": shares,
        "topology_cpu_ms_per_request": topology_cpu_ms_per_unit(shares, result.requests),
        "bottleneck": bottleneck(shares),
    }


def one_setup(n: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    console.rule(f"{n} API + {n} worker")
    with running_topology(work / f"{n}x{n}", apis=n, workers=n, progress=console.print) as topo:
        ack.set_up_integration(topo.url, topo.admin_email, topo.admin_password)
        reference = harness.hello_reference(topo.url, args.reference_duration)
        reference["through"] = "HAProxy"
        time.sleep(1)  # the workers' loops listening
        figures = {
            "processes": f"{n} x omnistream serve + {n} x omnistream worker, behind HAProxy",
            "postgres": psql(topo.primary_dsn, "SHOW server_version"),
            "reference": reference,
            "inbound_e2e": inbound(topo, args),
            "conversations_list": conversations(topo, args),
        }
        figures["haproxy_health_check_downs"] = haproxy_downs(topo)
        return figures


def _ratio(a: float, b: float) -> float:
    return round(b / a, 2) if a else 0.0


def bench(args: argparse.Namespace) -> dict[str, Any]:
    harness.wrk_path()  # fail before anything starts
    before = uptime()
    load_at_start = harness.load_average()
    with harness.work_folder("scale-out-", keep=args.keep) as work:
        setups = {n: one_setup(n, work, args) for n in args.order}
        one, two = setups[1], setups[2]
    return {
        "benchmark": "scale_out",
        "machine": harness.machine_facts(str(one["postgres"]), load_at_start),
        "uptime_before": before,
        "uptime_after": uptime(),
        "settings": {
            "messages": args.messages,
            "contacts": args.contacts,
            "connections": args.connections,
            "rate_cap_per_s": args.rate,
            "wrk_seconds": args.duration,
            "wrk_connections": args.wrk_connections,
            "order": [f"{n}+{n}" for n in args.order],
        },
        "1+1": one,
        "2+2": two,
        "ratio_2+2_over_1+1": {
            "inbound_e2e_messages_per_s": _ratio(
                one["inbound_e2e"]["messages_per_s_end_to_end"],
                two["inbound_e2e"]["messages_per_s_end_to_end"],
            ),
            "conversations_list_requests_per_s": _ratio(
                one["conversations_list"]["requests_per_s"],
                two["conversations_list"]["requests_per_s"],
            ),
            "reference_requests_per_s": _ratio(
                one["reference"].get("requests_per_s", 0.0),
                two["reference"].get("requests_per_s", 0.0),
            ),
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__)
    parser.add_argument("--messages", type=int, default=60_000, help="inbound webhooks per set-up")
    parser.add_argument("--contacts", type=int, default=5000, help="distinct customers")
    parser.add_argument("--connections", type=int, default=32, help="posting connections")
    parser.add_argument("--rate", type=int, default=20_000, help="posting rate cap (per s)")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--duration", type=int, default=15, help="seconds of wrk on the list")
    parser.add_argument("--wrk-connections", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument(
        "--order",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="which set-up runs first: 1,2 (default) or 2,1 (does the order move the ratio?)",
    )
    args = parser.parse_args(argv)
    if sorted(args.order) != [1, 2]:
        parser.error("--order: 1,2 or 2,1")
    return args


def _valid(result: dict[str, Any]) -> int:
    """2 when a figure rests on failed work (non-2xx answers, socket errors, lost or
    duplicated messages): the run is then no measurement of capacity."""
    for setup in (result["1+1"], result["2+2"]):
        inbound, listing = setup["inbound_e2e"], setup["conversations_list"]
        if listing["non_2xx"] or any(listing["socket_errors"].values()):
            return 2
        if inbound["duplicates"] or inbound["with_published_event"] != inbound["messages"]:
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=_valid))
