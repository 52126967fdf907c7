"""`omnistream serve` on the embedded PostgreSQL: first start prints an admin who can log in."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port

BIN = Path(sys.executable).parent / "omnistream"


@pytest.fixture
def data_dir():
    # A folder the embedded server's account can reach when the tests run as root.
    path = Path(tempfile.mkdtemp(prefix="omnistream-startup-"))
    path.chmod(0o755)
    yield path / "var"
    subprocess.run(["rm", "-rf", str(path)], check=False)


def env_for(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DATABASE_URL" and not k.startswith("OMNISTREAM_")
    }
    env.update(
        OMNISTREAM_DATA_DIR=str(data_dir),
        OMNISTREAM_PORT=str(port),
        OMNISTREAM_ARGON2_TIME_COST="1",
        OMNISTREAM_ARGON2_MEMORY_KIB="1024",
    )
    return env


class Output:
    """Collects a process's stdout in a thread so tests can wait for a line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self._thread.start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.text += line

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := re.search(pattern, self.text):
                return match
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not printed; output so far:\n{self.text}")


def wait_ready(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server never became ready")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_serve_on_embedded_postgres(data_dir: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(BIN), "serve"],
        env=env_for(data_dir, port),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    out = Output(proc)
    try:
        email = out.wait_for(r"email: (\S+)", 60)[1]
        password = out.wait_for(r"password: (\S+)", 10)[1]
        wait_ready(base)
        r = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        me = httpx.get(
            f"{base}/api/v1/auth/me",
            headers={"Authorization": f"Bearer {r.json()['access_token']}"},
        )
        assert me.status_code == 200 and me.json()["role"] == "admin"
        assert httpx.get(f"{base}/api/v1/docs").status_code == 200
        assert httpx.get(f"{base}/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 200
    finally:
        stop(proc)
    assert proc.returncode == 0
    pgdata = data_dir / "pgdata"
    assert (pgdata / "PG_VERSION").exists()
    assert not (pgdata / "postmaster.pid").exists(), "the embedded PostgreSQL was left running"

    # A restart keeps the data: no new admin is printed and the old password still works.
    proc = subprocess.Popen(
        [str(BIN), "serve"],
        env=env_for(data_dir, port),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    out = Output(proc)
    try:
        wait_ready(base)
        r = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200
    finally:
        stop(proc)
    time.sleep(0.2)
    assert "password:" not in out.text


def test_bad_setting_stops_startup_with_one_line(data_dir: Path) -> None:
    env = env_for(data_dir, free_port()) | {"OMNISTREAM_PORT": "eighty"}
    r = subprocess.run([str(BIN), "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "OMNISTREAM_PORT" in lines[0], r.stderr
    env = env_for(data_dir, 8000) | {"DATABASE_URL": "mysql://nope"}
    r = subprocess.run([str(BIN), "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "DATABASE_URL" in r.stderr and "mysql" not in r.stderr


def test_version_command() -> None:
    from omnistream import __version__

    r = subprocess.run([str(BIN), "version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and __version__ in r.stdout


async def test_create_admin_command(test_dsn: str, client, ctx) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNISTREAM_")}
    env |= {
        "DATABASE_URL": test_dsn,
        "OMNISTREAM_NEW_ADMIN_PASSWORD": "s3cret-admin-pass",
        "OMNISTREAM_ARGON2_TIME_COST": "1",
        "OMNISTREAM_ARGON2_MEMORY_KIB": "1024",
        "OMNISTREAM_SECRET_KEY": "k" * 40,
    }
    args = [str(BIN), "create-admin", "--email", "Boss@Example.com", "--name", "Boss"]
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    login = await client.post(
        "/api/v1/auth/login", json={"email": "boss@example.com", "password": "s3cret-admin-pass"}
    )
    assert login.status_code == 200
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.json()["role"] == "admin" and me.json()["name"] == "Boss"
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "already exists" in again.stderr
    short = subprocess.run(
        [*args[:-4], "--email", "x@example.com", "--name", "X"],
        env=env | {"OMNISTREAM_NEW_ADMIN_PASSWORD": "short"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert short.returncode == 2 and "password" in short.stderr
