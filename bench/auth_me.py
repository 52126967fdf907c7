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
import asyncio
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

TARGET_RATIO = 0.40
QUIET_OTHER_PCT = 25.0
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent
console = Console(stderr=True)


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


# --------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(postgres_version: str, load_at_start: float) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "postgres": postgres_version,
        "kernel": platform.release(),
        "load_avg_1m_at_start": round(load_at_start, 2),
    }


def _wrk_version(wrk: str) -> str:
    proc = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (proc.stdout or proc.stderr).splitlines()
    return first[0].split(" [")[0] if first else "unknown"


# --------------------------------------------------------------------------- CPU accounting


def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (seconds); 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _clock_ticks()


def _backend_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving `database` (by its process title)."""
    found: dict[int, float] = {}
    needle = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            if needle not in (entry / "cmdline").read_bytes():
                continue
        except OSError:
            continue
        found[int(entry.name)] = _proc_cpu_seconds(int(entry.name))
    return found


def _backend_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in after.items())


def _machine_cpu_seconds() -> tuple[float, float]:
    """(busy, interrupts) CPU seconds of the whole machine (all cores), from /proc/stat.

    busy excludes idle and iowait; interrupts is irq + softirq (loopback TCP is mostly here).
    """
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    ticks = _clock_ticks()
    return (sum(values[:8]) - idle) / ticks, (values[5] + values[6]) / ticks


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    p90_ms: float
    requests: int
    duration_s: float
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    server_cpu_pct: float = 0.0
    server_cpu_us_per_request: float = 0.0
    db_backends_cpu_pct: float = 0.0
    wrk_cpu_pct: float = 0.0
    machine_busy_pct: float = 0.0
    interrupts_cpu_pct: float = 0.0
    other_cpu_pct: float = 0.0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise BenchError(f"cannot read the wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    if not rps or not total or "50" not in percentiles or "99" not in percentiles:
        raise BenchError(f"cannot read the wrk output:\n{output}")
    result = WrkResult(
        requests_per_s=float(rps.group(1)),
        p50_ms=round(_to_ms(percentiles["50"]), 3),
        p90_ms=round(_to_ms(percentiles["90"]), 3),
        p99_ms=round(_to_ms(percentiles["99"]), 3),
        requests=int(total.group(1)),
        duration_s=round(_to_ms(total.group(2) + total.group(3)) / 1000, 2),
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        result.non_2xx = int(non_2xx.group(1))
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if errors:
        names = ("connect", "read", "write", "timeout")
        result.socket_errors = {n: int(v) for n, v in zip(names, errors.groups(), strict=True)}
    return result


def run_wrk(
    wrk: str,
    url: str,
    *,
    seconds: int,
    connections: int,
    threads: int,
    headers: dict[str, str],
    server_pid: int,
    database: str,
    progress: Progress,
    label: str,
) -> WrkResult:
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    task = progress.add_task(label, total=seconds)
    cpu0, db0 = _proc_cpu_seconds(server_pid), _backend_cpu(database)
    wrk0, (busy0, irq0), t0 = _children_cpu_seconds(), _machine_cpu_seconds(), time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None:
            progress.update(task, completed=min(seconds, time.monotonic() - t0))
            time.sleep(0.2)
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = time.monotonic() - t0
    cpu1, db1 = _proc_cpu_seconds(server_pid), _backend_cpu(database)
    wrk1, (busy1, irq1) = _children_cpu_seconds(), _machine_cpu_seconds()
    progress.update(task, completed=seconds)
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {err.strip() or out.strip()}")
    result = parse_wrk(out)
    server, db, load = cpu1 - cpu0, _backend_delta(db0, db1), wrk1 - wrk0
    busy, irq = busy1 - busy0, irq1 - irq0
    result.server_cpu_pct = round(server / wall * 100, 1)
    result.db_backends_cpu_pct = round(db / wall * 100, 1)
    result.wrk_cpu_pct = round(load / wall * 100, 1)
    result.machine_busy_pct = round(busy / wall * 100, 1)
    result.interrupts_cpu_pct = round(irq / wall * 100, 1)
    others = max(0.0, busy - server - db - load - irq)
    result.other_cpu_pct = round(others / wall * 100, 1)
    if result.requests:
        result.server_cpu_us_per_request = round((cpu1 - cpu0) / result.requests * 1e6, 1)
    return result


# --------------------------------------------------------------------------- database


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


async def create_database(server_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(server_dsn, timeout=10)
    try:
        version: str = await conn.fetchval("SHOW server_version")
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return version


async def drop_database(server_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(server_dsn, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:].strip()
    except OSError:
        return ""


@contextmanager
def running_server(
    dsn: str, port: int, workdir: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """One `omnistream serve` process; stopped with SIGINT (then SIGKILL) on the way out."""
    exe = ROOT / ".venv" / "bin" / "omnistream"
    if not exe.exists():
        found = shutil.which("omnistream")
        if not found:
            raise BenchError("no `omnistream` executable: run `make run` or install the package")
        exe = Path(found)
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "OMNISTREAM_HOST": "127.0.0.1",
        "OMNISTREAM_PORT": str(port),
        "OMNISTREAM_DATA_DIR": str(workdir / "data"),
        "OMNISTREAM_LOG_LEVEL": "WARNING",
        "OMNISTREAM_ADMIN_EMAIL": "bench-admin@example.com",
    }
    env.pop("OMNISTREAM_DATABASE_URL", None)
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield proc, log_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_ready(base: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> float:
    started = time.monotonic()
    with httpx.Client(base_url=base, timeout=2) as client:
        while time.monotonic() - started < timeout:
            if proc.poll() is not None:
                raise BenchError(f"the server exited with {proc.returncode}:\n{_tail(log_path)}")
            try:
                if client.get("/readyz").status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise BenchError(f"the server was not ready within {timeout:.0f} s:\n{_tail(log_path)}")


def admin_credentials(log_path: Path) -> tuple[str, str]:
    text = log_path.read_text(errors="replace")
    email = re.search(r"^\s+email:\s*(\S+)\s*$", text, re.MULTILINE)
    password = re.search(r"^\s+password:\s*(\S+)\s*$", text, re.MULTILINE)
    if not email or not password:
        raise BenchError(f"the server printed no first-start admin credentials:\n{_tail(log_path)}")
    return email.group(1), password.group(1)


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise BenchError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
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


def _median_run(runs: list[WrkResult]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r.requests_per_s)
    chosen = asdict(ordered[(len(ordered) - 1) // 2])
    if len(runs) > 1:
        chosen["runs_requests_per_s"] = [r.requests_per_s for r in runs]
        chosen["runs_server_cpu_us_per_request"] = [r.server_cpu_us_per_request for r in runs]
        chosen["runs_other_cpu_pct"] = [r.other_cpu_pct for r in runs]
        chosen["requests_per_s"] = round(statistics.median(r.requests_per_s for r in runs), 2)
    return chosen


def bench(args: argparse.Namespace) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError(
            "wrk is not installed: on Debian/Ubuntu run `apt-get install -y wrk` "
            "(as root), then run this script again"
        )
    load_at_start = os.getloadavg()[0]
    server_dsn = args.database_url or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER
    name = f"omnistream_bench_{secrets.token_hex(4)}"
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="omnistream-bench-"))
    created = False
    try:
        with console.status(f"creating the scratch database {name}"):
            try:
                pg_version = asyncio.run(create_database(server_dsn, name))
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                raise BenchError(
                    f"cannot create a database on {urlsplit(server_dsn).hostname}: {exc} "
                    "(pass --database-url postgresql://user@host:port/postgres)"
                ) from exc
            created = True
        dsn = with_database(server_dsn, name)
        with running_server(dsn, port, workdir) as (proc, log_path):
            with console.status("starting `omnistream serve` and waiting for /readyz"):
                ready_s = wait_ready(base, proc, log_path, timeout=90)
            with console.status("signing in (admin -> new agent -> agent)"):
                email, password = admin_credentials(log_path)
                token, me = sign_in_agent(base, email, password)
            console.log(f"server ready in {ready_s:.2f} s; signed in as {me['email']}")
            targets = {
                "hello": ("/healthz", {}),
                "me": ("/api/v1/auth/me", {"Authorization": f"Bearer {token}"}),
            }
            runs: dict[str, list[WrkResult]] = {key: [] for key in targets}
            common = {
                "connections": args.connections,
                "threads": args.threads,
                "server_pid": proc.pid,
                "database": name,
            }
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                for path, headers in targets.values():
                    run_wrk(
                        wrk,
                        base + path,
                        seconds=args.warmup,
                        headers=headers,
                        progress=progress,
                        label=f"warm-up {path}",
                        **common,
                    )
                for round_no in range(1, args.repeat + 1):
                    for key, (path, headers) in targets.items():
                        result = run_wrk(
                            wrk,
                            base + path,
                            seconds=args.duration,
                            headers=headers,
                            progress=progress,
                            label=f"GET {path} ({round_no}/{args.repeat})",
                            **common,
                        )
                        if result.non_2xx:
                            raise BenchError(f"GET {path}: {result.non_2xx} responses were not 2xx")
                        runs[key].append(result)
            if proc.poll() is not None:
                raise BenchError(f"the server died during the run:\n{_tail(log_path)}")
        hello, me_result = _median_run(runs["hello"]), _median_run(runs["me"])
        others = max(r.other_cpu_pct for rs in runs.values() for r in rs)
        ratio = round(me_result["requests_per_s"] / hello["requests_per_s"], 3)
        return {
            "benchmark": "auth_me",
            "machine": machine_info(pg_version, load_at_start),
            "settings": {
                "tool": _wrk_version(wrk),
                "connections": args.connections,
                "threads": args.threads,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "repeat": args.repeat,
                "server": "1 x `omnistream serve` (uvicorn, 1 process), log level WARNING, "
                "access log on (default)",
                "database": "scratch database on " + str(urlsplit(server_dsn).hostname),
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
    finally:
        if created:
            with console.status(f"dropping {name}"):
                try:
                    asyncio.run(drop_database(server_dsn, name))
                except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                    console.print(f"[red]could not drop {name}:[/] {exc}")
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=15, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per route")
    parser.add_argument("--repeat", type=int, default=1, help="measured rounds (median kept)")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="DSN of a maintenance database on the server where the scratch database is "
        f"created (default: $BENCH_DATABASE_URL, else {DEFAULT_SERVER})",
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.connections < 1 or args.threads < 1 or args.repeat < 1:
        parser.error("--duration, --connections, --threads and --repeat must be positive")
    args.threads = min(args.threads, args.connections)
    return args


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (and SIGINT, even where a shell ignored it) still run the cleanup.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        result = bench(args)
    except BenchError as exc:
        console.print(f"[bold red]benchmark failed:[/] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
