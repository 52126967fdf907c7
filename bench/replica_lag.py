"""Replica lag under inbound load (issue 18 figures): how far the pg_basebackup streaming
replica of the topology (bench/harness/topology.py: HAProxy, --apis serve and --workers
worker processes, primary + replica) falls behind while --rate inbound WhatsApp messages a
second go through HAProxy for --duration seconds (the webhooks of bench/inbound_e2e.py).

Every 100 ms (--interval) one query on the primary reads pg_stat_replication: the WAL
position now (pg_current_wal_lsn), the replica's write and replay positions and
PostgreSQL's own replay_lag. Lag in bytes = current - replay. Lag in seconds from a
timestamp map (harness.scaling.replica_lags): when the primary's position passed the
replica's replay position of sample k, interpolated between the two samples around it; lag
= t_k - that moment (0 when replay has reached current). PostgreSQL's replay_lag (the time
between a commit flushed locally and its replay being reported) is given beside it. The JSON
has p50 / p99 / max of each over the posting window, the achieved inbound rate (messages
stored with their event published, per second) and `uptime` before and after.

    .venv/bin/python bench/replica_lag.py [--rate 2000] [--duration 30]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import harness
import webhook_ack as ack
from harness.pgcluster import psql
from harness.scaling import (
    bottleneck,
    cpu_shares,
    haproxy_downs,
    replica_lags,
    topology_cpu,
    uptime,
)
from harness.topology import Topology, running_topology
from inbound_e2e import Load, drive, outcome, requests
from realtime_analysis import percentiles

console = harness.console
SAMPLE = """
SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS current,
       pg_wal_lsn_diff(write_lsn, '0/0')::bigint AS write,
       pg_wal_lsn_diff(replay_lsn, '0/0')::bigint AS replay,
       extract(epoch FROM replay_lag)::float8 AS replay_lag_s
  FROM pg_stat_replication
"""


class Sampler:
    """pg_stat_replication on the primary every `interval` seconds until stopped."""

    def __init__(self, dsn: str, interval: float) -> None:
        self.dsn, self.interval = dsn, interval
        self.rows: list[dict[str, Any]] = []  # t (wall clock), current, write, replay, lag
        self.stopped = asyncio.Event()
        self.missing = 0  # samples with no replica connected

    async def run(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            next_at = time.monotonic()
            while not self.stopped.is_set():
                row = await conn.fetchrow(SAMPLE)
                if row is None:
                    self.missing += 1
                else:
                    self.rows.append({"t": time.time(), **dict(row)})
                next_at += self.interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            await conn.close()


async def measure(topo: Topology, load: Load, args: argparse.Namespace) -> dict[str, Any]:
    sampler = Sampler(topo.primary_dsn, args.interval)
    task = asyncio.get_running_loop().create_task(sampler.run())
    posted: list[float] = []
    try:
        await asyncio.sleep(1)  # a quiet baseline first
        drained = await drive(
            topo.primary_dsn, load, args.drain_timeout, lambda: posted.append(time.time())
        )
        await asyncio.to_thread(topo.wait_replica_caught_up, 60)
    finally:
        sampler.stopped.set()
        await task
    lags = replica_lags(sampler.rows, load.t0, posted[0])
    return {
        "drained": drained,
        "posting_s": round(posted[0] - load.t0, 2),
        "samples": len(lags["ms"]),
        "samples_without_replica": sampler.missing,
        "lag_ms": percentiles(lags["ms"]),
        "lag_bytes": percentiles(lags["bytes"]),
        "replay_lag_ms_postgres": percentiles(lags["replay_lag_ms"]),
        "caught_up_s_after_last_post": round(time.time() - posted[0], 2),
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    before = uptime()
    load_at_start = harness.load_average()
    with (
        harness.work_folder("replica-lag-", keep=args.keep) as work,
        running_topology(
            Path(work), apis=args.apis, workers=args.workers, progress=console.print
        ) as topo,
    ):
        postgres = psql(topo.primary_dsn, "SHOW server_version")
        ack.set_up_integration(topo.url, topo.admin_email, topo.admin_password)
        reference = harness.hello_reference(topo.url, args.reference_duration)
        port = int(topo.url.rsplit(":", 1)[1])
        count = args.rate * args.duration
        console.print(f"building {count:,} signed webhooks")
        built = requests(count, args.contacts, port)
        load = Load(port, built, args.rate, args.connections)
        time.sleep(1)
        cpu_before = topology_cpu(topo)
        measured = asyncio.run(measure(topo, load, args))
        shares = cpu_shares(cpu_before, topology_cpu(topo))
        result = asyncio.run(outcome(topo.primary_dsn, load, args.contacts))
        downs = haproxy_downs(topo)
    drained = measured.pop("drained")
    return {
        "benchmark": "replica_lag",
        "machine": harness.machine_facts(str(postgres), load_at_start),
        "uptime_before": before,
        "uptime_after": uptime(),
        "reference": reference | {"through": "HAProxy"},
        "settings": {
            "processes": f"{args.apis} x serve + {args.workers} x worker behind HAProxy, "
            "primary + pg_basebackup streaming replica (asynchronous)",
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "contacts": args.contacts,
            "connections": args.connections,
            "sample_interval_s": args.interval,
        },
        "posted": count,
        "http_status": load.status,
        "achieved": {
            "posted_per_s": round(count / measured["posting_s"], 1),
            "published_per_s": result["published_per_s"],
            "sustained_min_per_s": result["sustained_min_per_s"],
            "stored": result["messages_stored"],
            "with_published_event": result["messages_with_published_event"],
            "duplicates": result["duplicates"],
            "drained_s_after_last_post": drained["drained_s_after_last_post"],
            "inbound_lag_ms": result["lag_ms"],
        },
        "replica": measured,
        "haproxy_health_check_downs": downs,
        "cpu_pct_of_one_core": shares,
        "bottleneck": bottleneck(shares),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__)
    parser.add_argument("--rate", type=int, default=2000, help="inbound messages per second")
    parser.add_argument("--duration", type=int, default=30, help="seconds of posting")
    parser.add_argument("--contacts", type=int, default=5000, help="distinct customers")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between samples")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
