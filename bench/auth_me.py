"""Benchmark: GET /api/v1/auth/me against the app's hello-world route (GET /healthz).

Creates a scratch database on a PostgreSQL server (default: the local one on
127.0.0.1:5432), starts ONE `omnistream serve` process on it, signs in over HTTP as a
freshly created agent and measures both routes with `wrk --latency` (loopback only).
Prints one JSON object on stdout; progress goes to stderr. The server is stopped and the
scratch database dropped at the end, also on failure.

    .venv/bin/python bench/auth_me.py [--duration 15] [--connections 64]

Target: requests/s of /auth/me >= 0.40 x requests/s of /healthz.

Besides requests/s and latency percentiles, each result says where the CPU went during the
run, in % of one core: server_cpu_pct (the `omnistream serve` process, all its threads; and
server_cpu_us_per_request), db_backends_cpu_pct (the PostgreSQL backends of the scratch
database), wrk_cpu_pct, interrupts_cpu_pct (irq + softirq, mostly loopback TCP) and
other_cpu_pct (everything else: other work on the machine, which makes figures noisy).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
from dataclasses import asdict
from typing import Any

import harness
import httpx

TARGET_RATIO = 0.40
QUIET_OTHER_PCT = 25.0
REFERENCE_KEYS = ("requests_per_s", "p50_ms", "p90_ms", "p99_ms", "requests", "duration_s")


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise harness.BenchError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


def sign_in_agent(base: str, admin_email: str, admin_password: str) -> tuple[str, dict[str, Any]]:
    """Sign in as the admin, create an agent, sign in as it; returns its access token."""
    with httpx.Client(base_url=base, timeout=30) as client:
        admin = _check(
            client.post(
                "/api/v1/auth/login", json={"email": admin_email, "password": admin_password}
            ),
            "admin login",
        )
        email = f"bench-{secrets.token_hex(4)}@example.com"
        password = secrets.token_urlsafe(18)
        _check(
            client.post(
                "/api/v1/agents",
                json={"email": email, "name": "Bench Agent", "role": "agent", "password": password},
                headers={"Authorization": f"Bearer {admin['access_token']}"},
            ),
            "create agent",
        )
        tokens = _check(
            client.post("/api/v1/auth/login", json={"email": email, "password": password}),
            "agent login",
        )
        token: str = tokens["access_token"]
        me = _check(
            client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}),
            "GET /api/v1/auth/me",
        )
    return token, me


# --------------------------------------------------------------------------- main


def _median_run(runs: list[harness.WrkResult]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r.requests_per_s)
    chosen = asdict(ordered[(len(ordered) - 1) // 2])
    if len(runs) > 1:
        chosen["runs_requests_per_s"] = [r.requests_per_s for r in runs]
        chosen["runs_server_cpu_us_per_request"] = [r.server_cpu_us_per_request for r in runs]
        chosen["runs_other_cpu_pct"] = [r.other_cpu_pct for r in runs]
        chosen["requests_per_s"] = round(statistics.median(r.requests_per_s for r in runs), 2)
    return chosen


def measure(
    args: argparse.Namespace, base: str, token: str, server_pid: int, database: str
) -> dict[str, list[harness.WrkResult]]:
    """A warm-up per route, then `--repeat` rounds alternating hello / me."""
    targets = {
        "hello": ("/healthz", {}),
        "me": ("/api/v1/auth/me", {"Authorization": f"Bearer {token}"}),
    }
    runs: dict[str, list[harness.WrkResult]] = {key: [] for key in targets}
    common: dict[str, Any] = {
        "connections": args.connections,
        "threads": args.threads,
        "server_pid": server_pid,
        "database": database,
    }
    with harness.progress() as progress:
        for path, headers in targets.values():
            harness.run_wrk(
                base + path,
                seconds=args.warmup,
                headers=headers,
                progress=progress,
                label=f"warm-up {path}",
                **common,
            )
        for round_no in range(1, args.repeat + 1):
            for key, (path, headers) in targets.items():
                result = harness.run_wrk(
                    base + path,
                    seconds=args.duration,
                    headers=headers,
                    progress=progress,
                    label=f"GET {path} ({round_no}/{args.repeat})",
                    **common,
                )
                if result.non_2xx:
                    raise harness.BenchError(f"GET {path}: {result.non_2xx} responses were not 2xx")
                runs[key].append(result)
    return runs


def bench(args: argparse.Namespace) -> dict[str, Any]:
    harness.wrk_path()  # fail before anything starts
    load_at_start = harness.load_average()
    with harness.api_on_scratch(args.database_url, "omnistream_bench", port=args.port) as api:
        with harness.console.status("signing in (admin -> new agent -> agent)"):
            email, password = harness.admin_credentials(api.server.log_path)
            token, me = sign_in_agent(api.base, email, password)
        ready_s = api.server.ready_s or 0.0
        harness.console.log(f"server ready in {ready_s:.2f} s; signed in as {me['email']}")
        runs = measure(args, api.base, token, api.server.pid, api.db.name)
        api.server.check_alive()
    hello, me_result = _median_run(runs["hello"]), _median_run(runs["me"])
    others = max(r.other_cpu_pct for rs in runs.values() for r in rs)
    ratio = round(me_result["requests_per_s"] / hello["requests_per_s"], 3)
    settings = {"connections": args.connections, "threads": args.threads}
    return {
        "benchmark": "auth_me",
        "machine": harness.machine_facts(api.db.postgres_version, load_at_start),
        # The hello-world reference of this run is the hello route measured below.
        "reference": {"route": "GET /healthz", **{k: hello[k] for k in REFERENCE_KEYS}}
        | settings
        | {"warmup_s": args.warmup, "tool": harness.wrk_version(), "same_as": "hello"},
        "settings": {
            "tool": harness.wrk_version(),
            **settings,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "repeat": args.repeat,
            "server": "1 x `omnistream serve` (uvicorn, 1 process), log level WARNING, "
            "access log on (default)",
            "database": "scratch database on " + harness.host_of(api.db.server_dsn),
            "server_ready_s": round(ready_s, 2),
        },
        "hello": {"path": "/healthz", **hello},
        "me": {"path": "/api/v1/auth/me", **me_result},
        "ratio_me_to_hello": ratio,
        "contention": {
            "other_cpu_pct_max": others,
            "quiet": others < QUIET_OTHER_PCT,
            "note": "CPU used during the runs by processes other than the server, its "
            "database backends and wrk (other work on this machine); above "
            f"{QUIET_OTHER_PCT:.0f}% the figures are not comparable",
        },
        "target": {"ratio_at_least": TARGET_RATIO, "met": ratio >= TARGET_RATIO},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(
        __doc__,
        harness.wrk_options(),
        harness.port_options(),
        harness.server_options(),
        reference=False,  # the hello route measured beside /auth/me is the reference
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per route")
    parser.add_argument("--repeat", type=int, default=1, help="measured rounds (median kept)")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.connections < 1 or args.threads < 1 or args.repeat < 1:
        parser.error("--duration, --connections, --threads and --repeat must be positive")
    args.threads = min(args.threads, args.connections)
    return args


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
