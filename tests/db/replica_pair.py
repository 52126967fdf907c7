"""A PostgreSQL primary and its streaming replica (pg_basebackup -R) of their own, on loopback
ports and scratch data directories, for the read-routing tests. Debian's PostgreSQL binaries;
run as root, the servers run as the `postgres` account (initdb refuses root)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.processes import free_port

SETTINGS = (
    "listen_addresses = '127.0.0.1'\n"
    "fsync = off\nfull_page_writes = off\n"
    "shared_buffers = 16MB\nmax_connections = 40\n"
    "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n"
    "hot_standby_feedback = on\nwal_receiver_status_interval = 1s\n"
)


def bin_dir() -> Path | None:
    """The newest Debian PostgreSQL binaries, if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_basebackup"))
    return Path(found[-1]).parent if found else None


@dataclass
class Server:
    bin: Path
    data: Path
    port: int
    user: str | None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str, **kwargs: Any) -> None:
        # cwd: the server's account may not be able to enter ours.
        subprocess.run(
            args, check=True, capture_output=True, user=self.user, cwd=self.data.parent, **kwargs
        )

    def start(self) -> None:
        self.run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "log"),
            "-o", f"-p {self.port} -k {self.data}", "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


@dataclass
class Pair:
    primary: Server
    replica: Server


@contextmanager
def replica_pair() -> Iterator[Pair]:
    """Start a primary and a replica streaming from it; stop and remove both afterwards."""
    binaries = bin_dir()
    if binaries is None:
        raise RuntimeError("Debian's PostgreSQL binaries (postgresql-15) are not installed")
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="omnistream-replica-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    primary = Server(binaries, root / "primary", free_port(), user)
    replica = Server(binaries, root / "replica", free_port(), user)
    started: list[Server] = []
    try:
        primary.run(
            str(binaries / "initdb"), "-D", str(primary.data), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8",
        )  # fmt: skip
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(SETTINGS)
        primary.start()
        started.append(primary)
        primary.run(
            str(binaries / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
            "-U", "postgres", "-D", str(replica.data), "-R", "-X", "stream", "-c", "fast",
            "--no-sync",
        )  # fmt: skip
        replica.start()
        started.append(replica)
        yield Pair(primary, replica)
    finally:
        for server in reversed(started):
            with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test
                server.stop("immediate")
        for _ in range(20):  # the postmaster may still be removing its files
            try:
                shutil.rmtree(root)
                break
            except OSError:
                time.sleep(0.1)
