"""Embedded PostgreSQL: the binaries of the `pgserver` wheel, run in our data directory.

We drive initdb / pg_ctl ourselves instead of `pgserver.get_server()` because, run as root,
pgserver silently adds a system user and widens permissions on every parent folder. Here a
root start runs the server as an existing unprivileged account (``postgres``, else
``nobody``), says so in the log, and refuses with a clear message when that account cannot
reach the data directory rather than changing permissions outside it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

DATABASE = "omnistream"
_PORT = 5432  # only names the Unix socket file; no TCP listener is opened


class EmbeddedError(Exception):
    """The embedded server cannot start; the message says why and what to do."""


def _bin_dir() -> Path:
    try:
        # Importing pgserver asks platformdirs for a runtime folder it never uses here; without
        # XDG_RUNTIME_DIR (root, containers) that warns on every start.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise EmbeddedError("the pgserver package is missing; reinstall OmniStream") from exc
    path = Path(pgserver.__file__).parent / "pginstall" / "bin"
    if not (path / "pg_ctl").exists():
        raise EmbeddedError(f"pgserver has no PostgreSQL binaries at {path}")
    return path


@dataclass(frozen=True)
class _RunAs:
    name: str
    uid: int
    gid: int


def _run_as() -> _RunAs | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _RunAs(name, entry.pw_uid, entry.pw_gid)
    raise EmbeddedError(
        "running as root and no unprivileged 'postgres' or 'nobody' account exists; "
        "run OmniStream as a normal user or set DATABASE_URL"
    )


def _check_reachable(path: Path, user: _RunAs) -> None:
    """Every parent folder must already be traversable by the server's account."""
    for parent in [*reversed(path.resolve().parents)]:
        st = parent.stat()
        if (
            st.st_uid == user.uid
            or st.st_mode & 0o001
            or (st.st_gid == user.gid and st.st_mode & 0o010)
        ):
            continue
        raise EmbeddedError(
            f"the embedded PostgreSQL runs as '{user.name}' (OmniStream runs as root) and cannot "
            f"enter {parent}; choose OMNISTREAM_DATA_DIR under a folder it can reach, run as a "
            "normal user, or set DATABASE_URL"
        )


def _socket_dir(data_dir: Path) -> Path:
    # Unix socket paths are limited to ~107 bytes; deep checkouts fall back to /tmp.
    candidate = data_dir / "run"
    if len(str(candidate.resolve() / ".s.PGSQL.5432")) < 100:
        return candidate
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"omnistream-{digest}"


class EmbeddedPostgres:
    """Start (or reuse) a private PostgreSQL under ``data_dir/pgdata``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.socket_dir = _socket_dir(self.data_dir)
        self.logfile = self.data_dir / "postgres.log"
        self._bin = _bin_dir()
        self._user = _run_as()
        self.started_here = False

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@/{DATABASE}?host={quote(str(self.socket_dir))}&port={_PORT}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = self._user
        return subprocess.run(  # noqa: S603 - fixed binaries, no shell
            [str(self._bin / args[0]), *args[1:]],
            check=check,
            capture_output=True,
            text=True,
            cwd=self.data_dir,
            user=user.uid if user else None,
            group=user.gid if user else None,
            extra_groups=[] if user else None,
        )

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._user is not None:
            shutil.chown(path, self._user.uid, self._user.gid)
            os.chmod(path, 0o700)

    def running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "-D", str(self.pgdata), "status", check=False).returncode == 0

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            _check_reachable(self.data_dir, self._user)
            log.warning(
                "OmniStream runs as root: the embedded PostgreSQL runs as the existing "
                "unprivileged account '%s'; only %s and %s are given to it",
                self._user.name,
                self.pgdata,
                self.socket_dir,
            )
        self._own(self.socket_dir)
        if not (self.pgdata / "PG_VERSION").exists():
            self._own(self.pgdata)
            result = self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                check=False,
            )
            if result.returncode != 0:
                raise EmbeddedError(f"initdb failed: {result.stderr.strip()[-500:]}")
        if not self.running():
            self.logfile.touch(exist_ok=True)
            if self._user is not None:
                shutil.chown(self.logfile, self._user.uid, self._user.gid)
            options = f"-k {self.socket_dir} -c listen_addresses='' -p {_PORT}"
            result = self._run(
                "pg_ctl",
                "-D",
                str(self.pgdata),
                "-o",
                options,
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                "60",
                "start",
                check=False,
            )
            if result.returncode != 0:
                tail = self.logfile.read_text(errors="replace")[-800:]
                raise EmbeddedError(f"embedded PostgreSQL did not start: {tail.strip()}")
            self.started_here = True
        self._ensure_database()
        return self.dsn

    def _ensure_database(self) -> None:
        psql = [
            "psql",
            "-h",
            str(self.socket_dir),
            "-p",
            str(_PORT),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
        ]
        exists = self._run(*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
        if exists.stdout.strip() != "1":
            self._run(*psql, f"CREATE DATABASE {DATABASE}")

    def stop(self) -> None:
        if self.started_here:
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop", check=False)
            self.started_here = False
