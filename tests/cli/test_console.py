"""What `make run` shows on the console: readable log lines (JSON stays `serve`'s default),
the demo sandbox on the port OMNISTREAM_SANDBOX_PORT names, and the admin's credentials in
a block of their own on stdout, apart from the log lines."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx

from tests.cli.serving import BIN, PANEL_PASSWORD, Serve, cli_env, login
from tests.processes import free_port
from tests.test_startup import wait_ready

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) +[\w.]+: ")


def is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def credentials_block(stdout: str) -> list[str]:
    """The lines of the box around the password, checked to be a box apart from the rest."""
    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if PANEL_PASSWORD.match(line))
    top = max(i for i in range(at) if lines[i].startswith(("╭", "+")))
    bottom = next(i for i in range(at, len(lines)) if lines[i].startswith(("╰", "+")))
    block = lines[top : bottom + 1]
    assert all(line[0] in "│|" and line[-1] in "│|" for line in block[1:-1]), block
    assert len({len(line) for line in block}) == 1, block  # one closed rectangle
    assert lines[top - 1] == "" and lines[bottom + 1] == "", stdout  # blank lines around it
    return block


def test_make_run_logs_readable_lines_and_shows_the_credentials_apart(
    fresh_dsn: str, tmp_path: Path
) -> None:
    port, sandbox_port = free_port(), free_port()
    env = cli_env(fresh_dsn, tmp_path / "var") | {
        "OMNISTREAM_PORT": str(port),
        "OMNISTREAM_SANDBOX_PORT": str(sandbox_port),
    }
    # `make run` itself (the venv is installed: its stamp is not remade), in a process group
    # of its own so that SIGTERM reaches the server as Ctrl+C would.
    make = subprocess.Popen(
        ["make", "-s", "-C", str(ROOT), "-o", ".venv/.installed", "run"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=60)
        sandbox = httpx.get(f"http://127.0.0.1:{sandbox_port}/_sandbox/health", timeout=5)
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        stdout, stderr = make.communicate(timeout=60)
    assert sandbox.status_code == 200  # the sandbox listens where the setting says

    logs = [line for line in stderr.splitlines() if line.strip()]
    assert logs and not [line for line in logs if is_json_object(line)], stderr
    # No line per outgoing HTTP request (httpx's INFO lines; the demo makes several).
    assert not [line for line in logs if "HTTP Request:" in line], stderr
    assert any(
        CONSOLE_LINE.match(line) and f"Uvicorn running on http://127.0.0.1:{port}" in line
        for line in logs
    ), stderr
    # A record's fields follow its message as key=value.
    assert any(
        re.search(
            rf"omnistream\.demo: demo integrations created +sandbox=http://127\.0\.0\.1:"
            rf"{sandbox_port}$",
            line,
        )
        for line in logs
    ), stderr

    block = credentials_block(stdout)
    password = PANEL_PASSWORD.search(stdout)
    assert password is not None
    assert any("email: admin@example.com" in line for line in block)
    assert any(f"http://127.0.0.1:{port}" in line for line in block)
    assert password[1] not in stderr  # never in the logs


async def test_serve_logs_json_by_default(fresh_dsn: str, tmp_path: Path) -> None:
    serve = Serve(cli_env(fresh_dsn, tmp_path / "var"))
    password = serve.wait_for_stdout(PANEL_PASSWORD)[1]
    serve.wait_ready()
    signed_in = login(serve.base, "admin@example.com", password)
    serve.stop()
    assert signed_in.status_code == 200
    logs = [line for line in serve.stderr.splitlines() if line.strip()]
    assert logs and all(is_json_object(line) for line in logs), serve.stderr
    assert any(json.loads(line)["msg"].startswith("Uvicorn running on") for line in logs)
    credentials_block(serve.stdout)  # the same block in production's output


def test_a_bad_sandbox_port_stops_startup_with_one_line(tmp_path: Path) -> None:
    env = cli_env("postgresql://127.0.0.1:1/unused", tmp_path / "var")
    for value, says in (("70000", "less than or equal to 65535"), ("http", "valid integer")):
        r = subprocess.run(
            [str(BIN), "serve", "--demo"],
            env=env | {"OMNISTREAM_SANDBOX_PORT": value},
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert "OMNISTREAM_SANDBOX_PORT" in lines[0] and says in lines[0], lines[0]
    same = subprocess.run(
        [str(BIN), "serve", "--demo"],
        env=env | {"OMNISTREAM_PORT": "8788", "OMNISTREAM_SANDBOX_PORT": "8788"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [line for line in same.stderr.splitlines() if line.strip()]
    assert same.returncode == 2 and len(lines) == 1, same.stderr
    assert "OMNISTREAM_SANDBOX_PORT" in lines[0] and "8788" in lines[0]
