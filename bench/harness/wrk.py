"""wrk runs (with a Lua script where a request needs a body) and the hello-world reference:
GET /healthz of the same `omnistream serve`, stated beside every figure so that figures from
different machines and runs can be compared."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress

from harness.core import BenchError, console
from harness.machine import CpuSnapshot, cpu_used, pct_of_core
from harness.processes import free_port, serve

REFERENCE_PATH = "/healthz"
REFERENCE_CONNECTIONS = 64
REFERENCE_THREADS = 2
REFERENCE_WARMUP_S = 1


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


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise BenchError(
            "wrk is not installed: on Debian/Ubuntu run `apt-get install -y wrk` "
            "(as root), then run this script again"
        )
    return found


def wrk_version() -> str:
    proc = subprocess.run([wrk_path(), "--version"], capture_output=True, text=True, check=False)
    first = (proc.stdout or proc.stderr).splitlines()
    return first[0].split(" [")[0] if first else "unknown"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise BenchError(f"cannot read the wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """The figures of `wrk --latency` output."""
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


def lua_post(body: bytes, headers: dict[str, str]) -> str:
    """A wrk script that POSTs `body` with `headers` on every request."""
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body.decode())}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def run_wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    threads: int,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    server_pid: int | None = None,
    database: str = "",
    progress: Progress | None = None,
    label: str = "",
) -> WrkResult:
    """`wrk --latency` against `url`; with `server_pid`, where the CPU went meanwhile
    (the server, the database's backends, wrk, interrupts, everything else)."""
    cmd = [wrk_path(), f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s"]
    cmd += ["--latency", "--timeout", "5s"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    task = progress.add_task(label or url, total=seconds) if progress else None
    pids = {"server": [server_pid]} if server_pid else {}
    before = CpuSnapshot.take(pids, database)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None:
            if progress and task is not None:
                progress.update(task, completed=min(seconds, time.monotonic() - before.at))
            time.sleep(0.2)
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after = CpuSnapshot.take(pids, database)
    if progress and task is not None:
        progress.update(task, completed=seconds)
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {err.strip() or out.strip()}")
    result = parse_wrk(out)
    if server_pid:
        used = cpu_used(before, after)
        wall = used["wall"]
        result.server_cpu_pct = pct_of_core(used["server"], wall)
        result.db_backends_cpu_pct = pct_of_core(used["db_backends"], wall)
        result.wrk_cpu_pct = pct_of_core(used["children"], wall)
        result.machine_busy_pct = pct_of_core(used["machine_busy"], wall)
        result.interrupts_cpu_pct = pct_of_core(used["interrupts"], wall)
        result.other_cpu_pct = pct_of_core(used["other"], wall)
        if result.requests:
            result.server_cpu_us_per_request = round(used["server"] / result.requests * 1e6, 1)
    return result


def hello_reference(base: str, seconds: int, *, server_pid: int | None = None) -> dict[str, Any]:
    """The app's hello-world (GET /healthz) req/s on the server at `base`, now: the
    reference figure of this run (wrk, 64 connections, 2 threads, 1 s warm-up first)."""
    if seconds <= 0:
        return {"skipped": "--reference-duration 0"}
    settings = {"connections": REFERENCE_CONNECTIONS, "threads": REFERENCE_THREADS}
    url = base + REFERENCE_PATH
    with console.status(f"reference: GET {REFERENCE_PATH} with wrk for {seconds} s"):
        for run_s in (REFERENCE_WARMUP_S, seconds):
            result = run_wrk(
                url,
                seconds=run_s,
                connections=REFERENCE_CONNECTIONS,
                threads=REFERENCE_THREADS,
                server_pid=server_pid,
            )
    if result.non_2xx:
        raise BenchError(f"reference: {result.non_2xx} responses of GET /healthz were not 2xx")
    figures = asdict(result)
    keep = ("requests_per_s", "p50_ms", "p90_ms", "p99_ms", "requests", "duration_s")
    return {
        "route": f"GET {REFERENCE_PATH}",
        **{k: figures[k] for k in keep},
        **({"server_cpu_us_per_request": result.server_cpu_us_per_request} if server_pid else {}),
        **settings,
        "warmup_s": REFERENCE_WARMUP_S,
        "tool": wrk_version(),
    }


def reference_on(
    dsn: str, workdir: Path, seconds: int, settings: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """hello_reference() of a separate `omnistream serve` started on `dsn` for the purpose
    (for benches whose figure needs no API process of its own)."""
    if seconds <= 0:
        return hello_reference("", 0)
    wrk_path()  # fail before starting anything
    port = free_port()
    with serve(dsn, port, workdir / "reference", settings=settings) as server:
        reference = hello_reference(f"http://127.0.0.1:{port}", seconds, server_pid=server.pid)
    return reference | {"server": "a separate `omnistream serve` on the same database"}
