"""Helpers for tests that run real processes (`omnistream serve`, `worker`, `sandbox`): a
free loopback port, waiting until a URL answers, and stopping a process for sure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn


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


CLI = [sys.executable, "-m", "omnistream.cli"]


def omnistream_env(dsn: str, data_dir: Path, secret: str, **settings: str) -> dict[str, str]:
    """The environment of a test's `omnistream` process: cheap argon2id, quiet console logs,
    loopback allowed (the sandbox), the first admin's password given; `settings` on top
    (OMNISTREAM_<NAME>: value)."""
    return {
        **os.environ,
        "DATABASE_URL": dsn,
        "OMNISTREAM_DATA_DIR": str(data_dir),
        "OMNISTREAM_SECRET_KEY": secret + "s" * 40,
        "OMNISTREAM_ARGON2_TIME_COST": "1",
        "OMNISTREAM_ARGON2_MEMORY_KIB": "1024",
        "OMNISTREAM_ARGON2_PARALLELISM": "1",
        "OMNISTREAM_ALLOW_PRIVATE_URLS": "true",
        "OMNISTREAM_ACCESS_LOG": "false",
        "OMNISTREAM_LOG_FORMAT": "console",
        "OMNISTREAM_LOG_LEVEL": "WARNING",
        **{f"OMNISTREAM_{name.upper()}": value for name, value in settings.items()},
    }


def create_admin(env: dict[str, str], email: str, name: str, password: str) -> None:
    subprocess.run(
        [*CLI, "create-admin", "--email", email, "--name", name],
        env=env | {"OMNISTREAM_NEW_ADMIN_PASSWORD": password},
        check=True,
        capture_output=True,
    )


@contextlib.asynccontextmanager
async def receiving(app: Any, ctx: Any) -> AsyncIterator[str]:
    """OmniStream receiving webhooks (the API under uvicorn on a loopback port) and
    applying them (the inbound loop in this process); yields the webhook URL."""
    from omnistream.inbound.worker import inbound_loop

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    stop = asyncio.Event()
    inbound = asyncio.create_task(inbound_loop(ctx.pool, ctx.settings, stop))
    while not server.started:
        assert not serving.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/webhooks/meta"
    finally:
        stop.set()
        server.should_exit = True
        await asyncio.wait_for(asyncio.gather(inbound, serving), 10)
