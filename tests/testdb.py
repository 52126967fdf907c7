"""Which PostgreSQL the tests use: DATABASE_URL; else 127.0.0.1:5432 (started with
pg_ctlcluster if installed but down); else the embedded server in a scratch directory."""

from __future__ import annotations

import asyncio
import fcntl
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg

LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _reachable(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


def _start_cluster() -> bool:
    if not shutil.which("pg_ctlcluster"):
        return False
    versions = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
    if not versions:
        return False
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
        check=False,
        capture_output=True,
    )
    return True


def server_dsn() -> str:
    """A DSN of a maintenance database on which test databases can be created."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if asyncio.run(_reachable(LOCAL)):
        return LOCAL
    if _start_cluster():
        for _ in range(20):
            if asyncio.run(_reachable(LOCAL)):
                return LOCAL
            asyncio.run(asyncio.sleep(0.5))
    from omnistream.db.embedded import EmbeddedPostgres

    root = Path(tempfile.gettempdir()) / "omnistream-test-pg"
    root.mkdir(exist_ok=True)
    # pytest-xdist workers ask at the same moment: one initialises and starts, the rest reuse.
    with (root.parent / "omnistream-test-pg.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = EmbeddedPostgres(root)
        return server.start().replace("/omnistream?", "/postgres?")


def with_database(dsn: str, name: str) -> str:
    """The same server, another database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))
