"""Benchmark: `make run` to a ready server, with the embedded PostgreSQL.

Runs `make run` in this repository (packages already installed) with OMNISTREAM_DATA_DIR
pointing at a fresh temporary folder, so the first start includes initdb, then runs it
again on the same folder (a restart). Each time it measures from process start to the
first 200 from GET /readyz (loopback only), then stops the whole process group with SIGINT
and checks that no PostgreSQL of that data folder is left running (stopping it with the
pgserver package's pg_ctl if one is). Prints one JSON object on stdout; progress goes to
stderr.

    .venv/bin/python bench/make_run_ready.py [--runs 3]

Target: median and max of each case <= 5 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
import httpx

TARGET_S = 5.0
ROOT = harness.ROOT
STAMP = ".venv/.installed"
BenchError = harness.BenchError
console = harness.console


@dataclass
class Run:
    case: str
    ready_s: float
    postgres_ready_s: float | None
    admin_printed_s: float | None
    stop_s: float
    exit_code: int | None
    stray_postgres_stopped: bool


# --------------------------------------------------------------------------- helpers


def pg_bin_dir() -> Path:
    """The PostgreSQL binaries of the pgserver package (the ones the embedded server uses)."""
    python = ROOT / ".venv" / "bin" / "python"
    proc = subprocess.run(
        [
            str(python if python.exists() else sys.executable),
            "-c",
            "import pgserver, os; print(os.path.dirname(pgserver.__file__))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"the pgserver package is not importable: {proc.stderr.strip()}")
    return Path(proc.stdout.strip()) / "pginstall" / "bin"


def embedded_version(bin_dir: Path) -> str:
    proc = subprocess.run(
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip().removeprefix("postgres (PostgreSQL) ") or "unknown"


def install_step_up_to_date() -> bool:
    """`make -q` says whether `make run` would run its pip install step first."""
    proc = subprocess.run(
        ["make", "-q", STAMP], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return proc.returncode == 0


def prime_install_step() -> float | None:
    """Run the install step once if stale, so the runs measure an installed machine."""
    if install_step_up_to_date():
        return None
    started = time.monotonic()
    with console.status(f"`make {STAMP}` is stale: running the install step once first"):
        proc = subprocess.run(
            ["make", STAMP], cwd=ROOT, capture_output=True, text=True, check=False
        )
    if proc.returncode != 0:
        raise BenchError(f"`make {STAMP}` failed:\n{proc.stdout[-800:]}{proc.stderr[-800:]}")
    return round(time.monotonic() - started, 2)


# --------------------------------------------------------------------------- embedded postgres


def _run_as_postgres() -> dict[str, Any]:
    """subprocess keywords that run a command as the postgres account when we are root."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    return {}


def postmaster_alive(pgdata: Path) -> bool:
    """Is a postmaster of this data folder running (postmaster.pid names a live process)?"""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        pid = 0
    if pid > 0:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if str(pgdata).encode() in cmdline:
            return True
    # Also look for any postgres started with -D <pgdata> (postmaster.pid may be gone).
    return bool(harness.postgres_pids(str(pgdata).encode()))


def stop_stray_postgres(pgdata: Path, bin_dir: Path) -> bool:
    """Stop a postgres left running on pgdata; True when one had to be stopped."""
    if not postmaster_alive(pgdata):
        return False
    console.print(f"[yellow]a PostgreSQL of {pgdata} was left running; stopping it[/]")
    subprocess.run(
        [str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "-t", "30", "stop"],
        capture_output=True,
        check=False,
        cwd="/",
        **_run_as_postgres(),
    )
    if postmaster_alive(pgdata):
        raise BenchError(f"could not stop the PostgreSQL of {pgdata}")
    return True


_PG_READY = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) (\S+) .*ready to accept connections", re.MULTILINE
)


def postgres_ready_at(logfile: Path, after: float) -> float | None:
    """Wall-clock time of the last "ready to accept connections" in the server log."""
    try:
        text = logfile.read_text(errors="replace")
    except OSError:
        return None
    times = []
    for stamp, zone in _PG_READY.findall(text):
        try:
            when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
        except ValueError:
            continue
        # log_timezone comes from initdb's environment: UTC here, else assume local time.
        utc = zone.upper() in ("UTC", "GMT", "ETC/UTC", "Z")
        times.append(when.replace(tzinfo=UTC).timestamp() if utc else when.timestamp())
    fresh = [t for t in times if t >= after - 0.01]
    return fresh[-1] if fresh else None


# --------------------------------------------------------------------------- one run


def one_run(
    case: str,
    data_dir: Path,
    bin_dir: Path,
    timeout: float,
    log_path: Path,
    while_ready: Callable[[str], None] | None = None,
) -> Run:
    """`make run` until /readyz answers 200, then `while_ready(base URL)` if given (not
    timed), then the stop."""
    port = harness.free_port()
    env = {
        **os.environ,
        "OMNISTREAM_DATA_DIR": str(data_dir),
        "OMNISTREAM_PORT": str(port),
        "OMNISTREAM_HOST": "127.0.0.1",
        # The demo's sandbox too: another server on this machine may hold the default port.
        "OMNISTREAM_SANDBOX_PORT": str(harness.free_port()),
    }
    for name in ("DATABASE_URL", "OMNISTREAM_DATABASE_URL"):
        env.pop(name, None)
    url = f"http://127.0.0.1:{port}/readyz"
    admin_printed: float | None = None
    wall_start = time.time()
    with log_path.open("wb") as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            ["make", "run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    ready: float | None = None
    try:
        with httpx.Client(timeout=1) as client:
            while time.monotonic() - started < timeout:
                if proc.poll() is not None:
                    raise BenchError(
                        f"`make run` exited with {proc.returncode} before it was ready:\n"
                        f"{harness.tail(log_path)}"
                    )
                if admin_printed is None and b"password:" in log_path.read_bytes():
                    admin_printed = time.monotonic() - started
                try:
                    if client.get(url).status_code == 200:
                        ready = time.monotonic() - started
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.01)
        if ready is None:
            raise BenchError(f"not ready within {timeout:.0f} s:\n{harness.tail(log_path)}")
        if while_ready is not None:
            while_ready(f"http://127.0.0.1:{port}")
    finally:
        stop_started = time.monotonic()
        exit_code = stop_group(proc)
        stop_s = time.monotonic() - stop_started
        stray = stop_stray_postgres(data_dir / "pgdata", bin_dir)
    pg_at = postgres_ready_at(data_dir / "postgres.log", wall_start)
    if admin_printed is None and b"password:" in log_path.read_bytes():
        admin_printed = ready  # printed between the last poll and readiness
    return Run(
        case=case,
        ready_s=round(ready, 3),
        postgres_ready_s=round(pg_at - wall_start, 3) if pg_at else None,
        admin_printed_s=round(admin_printed, 3) if admin_printed is not None else None,
        stop_s=round(stop_s, 3),
        exit_code=exit_code,
        stray_postgres_stopped=stray,
    )


def stop_group(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGINT to the whole group (make and `omnistream serve`), then SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            console.print(f"[yellow]`make run` ignored {sig.name}[/]")
    # make may exit before its child: wait for the rest of the group too.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode


# --------------------------------------------------------------------------- main


def summary(runs: list[Run]) -> dict[str, Any]:
    times = [r.ready_s for r in runs]
    median, worst = statistics.median(times), max(times)
    out: dict[str, Any] = {
        "runs_s": times,
        "median_s": round(median, 3),
        "max_s": round(worst, 3),
        "target_s": TARGET_S,
        "met": worst <= TARGET_S,
        "median_met": median <= TARGET_S,
    }
    pg = [r.postgres_ready_s for r in runs if r.postgres_ready_s is not None]
    if pg:
        out["postgres_ready_median_s"] = round(statistics.median(pg), 3)
    admin = [r.admin_printed_s for r in runs if r.admin_printed_s is not None]
    if admin:
        out["admin_printed_median_s"] = round(statistics.median(admin), 3)
    out["stop_median_s"] = round(statistics.median(r.stop_s for r in runs), 3)
    return out


def bench(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("make") is None:
        raise BenchError("`make` is not installed (apt-get install -y make)")
    if args.reference_duration > 0:
        harness.wrk_path()  # fail before anything starts
    load_at_start = harness.load_average()
    bin_dir = pg_bin_dir()
    if not (bin_dir / "pg_ctl").exists():
        raise BenchError(f"no pg_ctl in {bin_dir}")
    install_s = prime_install_step()
    runs: list[Run] = []
    stale_during: list[int] = []
    reference: dict[str, Any] = {}

    def measure_reference(base: str) -> None:
        # The hello-world of a `make run` server, once, after the last restart was timed.
        reference.update(harness.hello_reference(base, args.reference_duration))

    with harness.work_folder("omnistream-mrr-", keep=args.keep) as root:
        os.chmod(root, 0o755)  # the embedded server runs as 'postgres' when we are root
        try:
            with harness.progress(counts=True) as progress:
                task = progress.add_task("make run -> /readyz 200", total=args.runs * 2)
                for i in range(1, args.runs + 1):
                    data_dir = root / f"data{i}"
                    for case in ("first_start", "restart"):
                        progress.update(task, description=f"run {i}/{args.runs}: {case}")
                        if not install_step_up_to_date():
                            stale_during.append(i)
                        last = i == args.runs and case == "restart"
                        run = one_run(
                            case,
                            data_dir,
                            bin_dir,
                            args.timeout,
                            root / f"{case}{i}.log",
                            measure_reference if last else None,
                        )
                        runs.append(run)
                        progress.advance(task)
                        progress.console.log(
                            f"{case} {i}: ready in {run.ready_s:.2f} s "
                            f"(postgres ready at {run.postgres_ready_s} s)"
                        )
                        if run.stray_postgres_stopped:
                            progress.console.log("[yellow]  a stray postgres had to be stopped[/]")
        finally:
            for data_dir in root.glob("data*"):
                stop_stray_postgres(data_dir / "pgdata", bin_dir)
    first = summary([r for r in runs if r.case == "first_start"])
    restart = summary([r for r in runs if r.case == "restart"])
    postgres = embedded_version(bin_dir) + " (embedded, pgserver package)"
    return {
        "benchmark": "make_run_ready",
        "machine": harness.machine_facts(
            postgres, load_at_start, running_as_root=os.geteuid() == 0
        ),
        "reference": reference
        | {"server": "the `make run` server of the last restart (with its worker and demo)"},
        "settings": {
            "command": "make run  (= .venv/bin/omnistream serve --with-worker --demo)",
            "env": "OMNISTREAM_DATA_DIR=<fresh temp dir>, OMNISTREAM_PORT=<free port>, "
            "OMNISTREAM_SANDBOX_PORT=<free port>, no DATABASE_URL",
            "runs_per_case": args.runs,
            "install_step_primed_s": install_s,
            "install_step_stale_before_runs": stale_during,
        },
        "first_start": first,
        "restart": restart,
        "runs": [asdict(r) for r in runs],
        "target": {
            "ready_within_s": TARGET_S,
            "met": bool(first["met"] and restart["met"]),
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs of each case")
    parser.add_argument("--timeout", type=float, default=60, help="give up on a run after this")
    parser.add_argument("--keep", action="store_true", help="keep the data folders and logs")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
