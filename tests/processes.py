"""Helpers for tests that run real processes (`omnistream serve`, `worker`, `sandbox`): a
free loopback port, waiting until a URL answers, and stopping a process for sure."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(
    url: str,
    proc: subprocess.Popen[Any] | None = None,
    log: Path | None = None,
    within: float = 60,
) -> None:
    """Until `url` answers 200; fails at once if `proc` exits (showing the end of `log`)."""

    def tail() -> str:
        return log.read_text(errors="replace")[-4000:] if log is not None else ""

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited ({proc.returncode}); log:\n{tail()}")
        try:
            if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {within:g} s; log:\n{tail()}")


def stop(proc: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `timeout` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
