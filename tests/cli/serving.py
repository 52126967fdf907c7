"""`omnistream serve` as a user runs it: a subprocess of the real CLI whose stdout and
stderr are collected whole, so a test can read everything it printed once it has stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.processes import free_port
from tests.test_startup import wait_ready

BIN = Path(sys.executable).parent / "omnistream"
PANEL_PASSWORD = re.compile(r"^[│|] password: (\S+)\s+[│|]$", re.MULTILINE)


def cli_env(dsn: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DATABASE_URL" and not k.startswith("OMNISTREAM_")
    }
    return env | {
        "DATABASE_URL": dsn,
        "OMNISTREAM_DATA_DIR": str(data_dir),
        "OMNISTREAM_SECRET_KEY": "k" * 40,
        "OMNISTREAM_ARGON2_TIME_COST": "1",
        "OMNISTREAM_ARGON2_MEMORY_KIB": "1024",
        **extra,
    }


class Serve:
    """A running `omnistream serve`; stop() ends it and returns what it printed."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(BIN), "serve", *args],
            env=env | {"OMNISTREAM_PORT": str(self.port)},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stdout = ""
        self.stderr = ""
        self._pumps = [
            threading.Thread(target=self._pump, args=("stdout",), daemon=True),
            threading.Thread(target=self._pump, args=("stderr",), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self, name: str) -> None:
        stream = getattr(self.proc, name)
        for line in stream:
            setattr(self, name, getattr(self, name) + line)

    def wait_ready(self) -> None:
        wait_ready(self.base, timeout=60)

    def wait_for_stdout(self, pattern: re.Pattern[str], timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := pattern.search(self.stdout):
                return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"{pattern.pattern!r} not printed:\n{self.stdout}\n{self.stderr}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
        self.finish()

    def finish(self) -> None:
        """Waits for the process to end on its own and for all its output."""
        self.proc.wait(timeout=60)
        for pump in self._pumps:
            pump.join(10)


def login(base: str, email: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/auth/login", json={"email": email, "password": password}, timeout=10
    )
