"""The several-process topology of issue 18 on this machine, all on loopback: a PostgreSQL
primary and a streaming replica (pg_basebackup), HAProxy in front of 2 `omnistream serve`
processes and 2 `omnistream worker` processes (bench/harness/topology.py).

    .venv/bin/python bench/topology.py            # start, print the JSON, run until Ctrl-C
    .venv/bin/python bench/topology.py --check    # start, probe every part, print, stop

The JSON names the URLs (HAProxy's front, each API), the DSNs (primary, replica), the pids,
the admin's email and password, the work folder (logs: api0.log, worker0.log, haproxy.log,
primary.log, replica.log ...) and the machine. --check also probes each part: HAProxy
reaches every API, each API signs in and a token made by one is accepted by the other, every
worker holds its liveness lock, the replica streams and a row written through HAProxy is on
the replica; its exit code is 1 when a probe failed. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import ExitStack
from typing import Any

import harness
import httpx
from harness.pgcluster import psql
from harness.topology import Topology, running_topology


def describe(topo: Topology) -> dict[str, Any]:
    return {
        "url": topo.url,
        "api_urls": topo.api_urls,
        "primary_dsn": topo.primary_dsn,
        "replica_dsn": topo.replica_dsn,
        "admin": {"email": topo.admin_email, "password": topo.admin_password},
        "pids": topo.pids(),
        "workdir": str(topo.workdir),
        "pgdir": str(topo.pgdir),
    }


def _login(base: str, topo: Topology) -> str:
    r = httpx.post(
        f"{base}/api/v1/auth/login",
        json={"email": topo.admin_email, "password": topo.admin_password},
        timeout=20,
    )
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


def _probe(name: str, probes: dict[str, Any], check: Any) -> None:
    """Runs `check()`; its value (or the error) under `name`."""
    try:
        probes[name] = {"ok": True, "value": check()}
    except Exception as exc:  # a failed probe is a result, not a crash of the script
        probes[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def check(topo: Topology) -> dict[str, Any]:
    """Probes every part of the topology (see the module's doc)."""
    probes: dict[str, Any] = {}

    def front() -> list[str]:
        seen = {httpx.get(topo.url + "/readyz").headers["x-topology-server"] for _ in range(4)}
        assert len(seen) == len(topo.api_urls), f"HAProxy reached only {sorted(seen)}"
        return sorted(seen)

    _probe("haproxy", probes, front)
    for i, base in enumerate(topo.api_urls):
        other = topo.api_urls[(i + 1) % len(topo.api_urls)]

        def api(base: str = base, other: str = other) -> str:
            token = _login(base, topo)
            me = httpx.get(other + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200, f"token of {base} refused by {other}: {me.status_code}"
            return str(me.json()["email"])

        _probe(f"api{i}", probes, api)

    def workers() -> int:
        locks = topo.worker_locks()
        assert locks == len(topo.workers), f"{locks} liveness locks for {len(topo.workers)}"
        return locks

    _probe("workers", probes, workers)

    def replica() -> dict[str, Any]:
        assert topo.replica_streaming(), "the replica's WAL receiver is not streaming"
        token = _login(topo.url, topo)
        name = f"Topology check {time.time_ns()}"
        r = httpx.post(
            topo.url + "/api/v1/divisions",
            json={"name": name},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        waited = topo.wait_replica_caught_up(timeout=15)
        found = psql(topo.replica_dsn, f"SELECT count(*) FROM divisions WHERE name = '{name}'")
        assert found == "1", "the division written through HAProxy is not on the replica"
        for base in topo.api_urls:  # a lag-tolerant read on each API (the activity log)
            r = httpx.get(base + "/api/v1/activity", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
        sessions = topo.replica_sessions()
        assert sessions > 0, "no API has a session on the replica (OMNISTREAM_READ_DATABASE_URL)"
        return {
            "caught_up_s": round(waited, 3),
            "lag_s": topo.replica_lag_seconds(),
            "api_sessions": sessions,
        }

    _probe("replica", probes, replica)
    return probes


def bench(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = harness.load_average()
    started = time.monotonic()
    with ExitStack() as stack:
        workdir = stack.enter_context(harness.work_folder("omnistream-topology-", keep=args.keep))
        with harness.console.status("starting the topology") as status:

            def step(text: str) -> None:
                harness.console.log(f"{time.monotonic() - started:5.1f} s  {text}")
                status.update(text)

            topo = stack.enter_context(
                running_topology(workdir, apis=args.apis, workers=args.workers, progress=step)
            )
        version = psql(topo.primary_dsn, "SHOW server_version") or "unknown"
        result: dict[str, Any] = {
            "benchmark": "topology",
            "machine": harness.machine_facts(version, load_at_start),
            "ready_s": round(time.monotonic() - started, 1),
            **describe(topo),
        }
        if args.check:
            result["probes"] = check(topo)
            result["ok"] = all(p["ok"] for p in result["probes"].values())
            return result
        print(json.dumps(result, indent=2, default=str), flush=True)
        harness.console.print("[green]running[/]: Ctrl-C stops everything")
        try:
            while True:
                time.sleep(1)
                for process in (topo.haproxy, *topo.apis, *topo.workers):
                    if process is not None:
                        process.check_alive()
        except KeyboardInterrupt:
            raise SystemExit(0) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, reference=False)
    parser.add_argument("--check", action="store_true", help="probe every part, then stop")
    parser.add_argument("--apis", type=int, default=2, help="API processes (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)
    if args.apis < 1 or args.workers < 0:
        parser.error("--apis must be at least 1 and --workers not negative")
    return args


if __name__ == "__main__":
    sys.exit(
        harness.main(bench, parse_args(), exit_code=lambda result: 0 if result.get("ok") else 1)
    )
