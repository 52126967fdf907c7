"""`omnistream` processes (serve, worker, sandbox) on a free port: started with their log in a
file, waited for, and always stopped (SIGINT, then SIGKILL to the whole group)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.core import ROOT, BenchError, console, tail

ADMIN_EMAIL = "bench-admin@example.com"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def venv_tool(name: str) -> str:
    """An executable of this checkout's .venv (omnistream, py-spy), else one on PATH."""
    exe = ROOT / ".venv" / "bin" / name
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if not found:
        raise BenchError(f"no `{name}` executable: install the package into .venv (make run)")
    return found


def omnistream_env(
    dsn: str | None, port: int | None, workdir: Path, **settings: str | None
) -> dict[str, str]:
    """The environment of an `omnistream` process: this one's, without any inherited
    OMNISTREAM_* setting or DATABASE_URL (a figure must not depend on the shell it ran in),
    plus loopback, the port, a data folder in `workdir`, log level WARNING and `settings`
    (OMNISTREAM_<NAME>=value; None leaves a default out)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OMNISTREAM_") and k != "DATABASE_URL"
    }
    base: dict[str, str | None] = {
        "HOST": "127.0.0.1",
        "PORT": None if port is None else str(port),
        "DATA_DIR": str(workdir / "data"),
        "LOG_LEVEL": "WARNING",
        "ADMIN_EMAIL": ADMIN_EMAIL,
    }
    for name, value in (base | settings).items():
        if value is not None:
            env[f"OMNISTREAM_{name.upper()}"] = value
    if dsn is not None:
        env["DATABASE_URL"] = dsn
    return env


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    log_path: Path
    label: str
    ready_s: float | None = None  # set by wait_http
    url: str = ""  # where it listens, when known

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(
                f"the {self.label} exited with {self.proc.returncode}:\n{tail(self.log_path)}"
            )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGINT (a graceful stop; py-spy then writes its profile), then SIGKILL to the group."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def running(
    command: list[str], env: dict[str, str], log_path: Path, label: str
) -> Iterator[Process]:
    """`command` in a session of its own, output to `log_path`; stopped on the way out."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield Process(proc, log_path, label)
    finally:
        stop_process(proc)


def omnistream_command(*args: str, profile: str | None = None, rate: int = 250) -> list[str]:
    """`omnistream <args>`, or run under py-spy (raw collapsed stacks into `profile`)."""
    command = [venv_tool("omnistream"), *args]
    if profile:
        command = [venv_tool("py-spy"), "record", "-r", str(rate), "-f", "raw", "-o", profile,
                   "--", *command]  # fmt: skip
    return command


@contextmanager
def omnistream(
    args: list[str],
    env: dict[str, str],
    workdir: Path,
    label: str,
    *,
    profile: str | None = None,
    profile_rate: int = 250,
) -> Iterator[Process]:
    """`omnistream <args>` (serve, worker, sandbox ...) with its log at workdir/<label>.log."""
    command = omnistream_command(*args, profile=profile, rate=profile_rate)
    with running(command, env, workdir / f"{label}.log", label) as process:
        yield process


def wait_http(url: str, process: Process, timeout: float, interval: float = 0.1) -> float:
    """Polls `url` until it answers 200; seconds waited. Fails if the process exits."""
    started = time.monotonic()
    with httpx.Client(timeout=2) as client:
        while time.monotonic() - started < timeout:
            process.check_alive()
            try:
                if client.get(url).status_code == 200:
                    process.ready_s = time.monotonic() - started
                    return process.ready_s
            except httpx.TransportError:
                pass
            time.sleep(interval)
    raise BenchError(
        f"the {process.label} was not ready within {timeout:.0f} s:\n{tail(process.log_path)}"
    )


def wait_ready(base: str, process: Process, timeout: float) -> float:
    """Until GET /readyz answers 200 (migrations applied, database reachable)."""
    return wait_http(base + "/readyz", process, timeout)


@contextmanager
def serve(
    dsn: str,
    port: int,
    workdir: Path,
    *,
    timeout: float = 90,
    settings: Mapping[str, str | None] | None = None,
) -> Iterator[Process]:
    """ONE `omnistream serve` (no worker loops) on `dsn`, ready when entered; `settings` as
    in omnistream_env."""
    env = omnistream_env(dsn, port, workdir, **(settings or {}))
    with omnistream(["serve"], env, workdir, "server") as process:
        with console.status("starting `omnistream serve` and waiting for /readyz"):
            wait_ready(f"http://127.0.0.1:{port}", process, timeout)
        yield process


# "  email: x" lines, bare or inside a Rich panel ("│ email: x   │").
_CREDENTIAL = r"^[\s│|]*{}:\s*(\S+)[\s│|]*$"


@contextmanager
def sandbox(workdir: Path, config: dict[str, Any], *, instant: bool = True) -> Iterator[Process]:
    """`omnistream sandbox` (the Graph API simulator) on a free port with `config`, ready when
    entered; --instant is its benchmark mode (every valid send accepted at once)."""
    port = free_port()
    path = workdir / "sandbox.json"
    path.write_text(json.dumps(config))
    args = ["sandbox", "--port", str(port), "--config", str(path), *(["--instant"] * instant)]
    env = omnistream_env(None, None, workdir)
    with omnistream(args, env, workdir, "sandbox") as process:
        process.url = f"http://127.0.0.1:{port}"
        with console.status("starting the sandbox"):
            wait_http(process.url + "/_sandbox/health", process, timeout=20)
        yield process


def admin_credentials(log_path: Path, timeout: float = 15) -> tuple[str, str]:
    """The first-start admin's email and password, as `omnistream serve` printed them (it
    prints them once it listens, which may be just after /readyz first answers)."""
    deadline = time.monotonic() + timeout
    while True:
        text = log_path.read_text(errors="replace")
        email = re.search(_CREDENTIAL.format("email"), text, re.MULTILINE)
        password = re.search(_CREDENTIAL.format("password"), text, re.MULTILINE)
        if email and password:
            return email.group(1), password.group(1)
        if time.monotonic() > deadline:
            raise BenchError(
                f"the server printed no first-start admin credentials:\n{tail(log_path)}"
            )
        time.sleep(0.1)
