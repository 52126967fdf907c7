"""The PostgreSQL side of the topology (harness/topology.py): a throwaway primary made with
initdb and a streaming replica made from it with `pg_basebackup -R -X stream`, each on its
own loopback port and data folder, plus the process helpers the topology shares (a session
per process, its group killed for sure).

PostgreSQL refuses to run as root, so under root initdb, pg_basebackup and both servers run
as the `postgres` OS user, with their data in a folder of their own that this user owns (a
pytest tmp folder is private to root); their logs stay in the work folder.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

from harness.core import BenchError, tail
from harness.processes import free_port

PG_BIN = Path(os.environ.get("BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
DATABASE = "omnistream"
# A throwaway cluster: no fsync (a crash of the machine is not what is tested), a replica
# that can stream (wal_level replica, wal senders) and serve reads (hot_standby).
POSTGRES_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "wal_level": "replica",
    "max_wal_senders": "10",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "min_wal_size": "4MB",  # with 1 MB segments (initdb below): little to write and delete
}


def _postgres_user() -> str | None:
    """The OS user PostgreSQL's programs run as: `postgres` under root, else ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def spawn(
    command: list[str],
    log_path: Path,
    *,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`command` in a session of its own (its group can be killed whole), output appended
    to `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            env=dict(env) if env is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            user=user,
            group=user,
            cwd="/" if user else None,
        )


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)
    if proc.poll() is None:  # a group that ignored a gentler signal
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def stop_group(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """`sig` to the leader (a graceful stop), SIGKILL to the whole group after `timeout`."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            proc.send_signal(sig)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group, if any
    if proc.poll() is None:
        proc.wait()


def _run(
    command: list[str],
    log_path: Path,
    *,
    user: str | None = None,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
) -> None:
    proc = spawn(command, log_path, user=user, env=env)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise BenchError(f"{command[0]} took over {timeout:.0f} s:\n{tail(log_path)}") from None
    if code != 0:
        raise BenchError(f"{' '.join(command)} exited with {code}:\n{tail(log_path)}")


def psql(dsn: str, sql: str, *, timeout: float = 10) -> str | None:
    """One statement through psql (no event loop needed, so it is callable from sync and
    async code alike): its first value as text, or None when the server cannot be reached."""
    try:
        command = [str(PG_BIN / "psql"), dsn, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql]
        done = subprocess.run(
            command,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PGCONNECT_TIMEOUT": "3"},
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip().split("\n")[0]


@dataclass
class PostgresServer:
    """One PostgreSQL server (primary or replica) of the topology."""

    label: str
    datadir: Path
    port: int
    socket_dir: Path
    log_path: Path
    settings: Mapping[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def dsn(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60) -> None:
        flags = [f"-c{k}={v}" for k, v in self.settings.items()]
        flags.append(f"-cunix_socket_directories={self.socket_dir}")
        command = [str(PG_BIN / "postgres"), "-D", str(self.datadir), "-p", str(self.port), *flags]
        self.proc = spawn(command, self.log_path, user=_postgres_user())
        deadline = time.monotonic() + timeout
        while psql(self.dsn("postgres"), "SELECT 1") != "1":
            if self.proc.poll() is not None:
                raise BenchError(
                    f"the {self.label} exited with {self.proc.returncode}:\n{tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                raise BenchError(f"the {self.label} did not start:\n{tail(self.log_path)}")
            time.sleep(0.1)

    def stop(self, *, immediate: bool = False) -> None:
        """Fast shutdown (SIGINT), or immediate (SIGQUIT: no checkpoint, crash recovery at
        the next start)."""
        if self.proc is not None:
            stop_group(self.proc, signal.SIGQUIT if immediate else signal.SIGINT, 30)
            self.proc = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None


def _remove_later(path: Path) -> None:
    """Removes `path` in a process of its own, not waited for: the servers are stopped by
    then, and deleting two data folders took 6 s of a loaded machine's disk."""
    subprocess.Popen(
        ["rm", "-rf", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _pg_folder(stack: ExitStack, workdir: Path) -> Path:
    """A folder the PostgreSQL programs may write to, removed on the way out."""
    user = _postgres_user()
    if user is None:
        path = workdir / "pg"
        path.mkdir()
        return path
    path = Path(tempfile.mkdtemp(prefix="omnistream-topology-pg-"))
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    stack.callback(_remove_later, path)
    return path


def make_servers(
    stack: ExitStack, workdir: Path, pg_settings: Mapping[str, str], progress: Callable[[str], None]
) -> tuple[Path, PostgresServer, PostgresServer]:
    pgdir = _pg_folder(stack, workdir)
    user = _postgres_user()
    primary = PostgresServer(
        "primary", pgdir / "primary", free_port(), pgdir, workdir / "primary.log", pg_settings
    )
    replica = PostgresServer(
        "replica", pgdir / "replica", free_port(), pgdir, workdir / "replica.log", pg_settings
    )
    progress("initdb (the primary)")
    initdb = [str(PG_BIN / "initdb"), "-D", str(primary.datadir), "-U", "postgres",
              "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8",
              "--wal-segsize=1"]  # fmt: skip
    _run(initdb, workdir / "initdb.log", user=user)
    progress("starting the primary")
    stack.callback(primary.stop)
    primary.start()
    if psql(primary.dsn("postgres"), f'CREATE DATABASE "{DATABASE}"') is None:
        raise BenchError(f"cannot create the database:\n{tail(primary.log_path)}")
    return pgdir, primary, replica


def start_replica(
    stack: ExitStack, workdir: Path, primary: PostgresServer, replica: PostgresServer
) -> None:
    backup = [str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
              "-U", "postgres", "-D", str(replica.datadir), "-R", "-X", "stream",
              "--no-sync", "-c", "fast"]  # fmt: skip
    _run(backup, workdir / "basebackup.log", user=_postgres_user())
    stack.callback(replica.stop)
    replica.start()
