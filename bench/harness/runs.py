"""The set-up most API benches share: a work folder, a scratch database and ONE
`omnistream serve` on it, entered together and torn down in reverse order."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.cli import work_folder
from harness.core import server_dsn
from harness.database import ScratchDatabase, scratch_database
from harness.processes import Process, free_port, serve


@dataclass(frozen=True)
class ApiRun:
    workdir: Path
    db: ScratchDatabase
    server: Process
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def api_on_scratch(
    database_url: str | None,
    prefix: str,
    *,
    port: int = 0,
    settings: Mapping[str, str | None] | None = None,
) -> Iterator[ApiRun]:
    """A scratch database `<prefix>_<random>` on `database_url`'s server (default: see
    harness.server_dsn) and a ready `omnistream serve` on it (`settings` as in
    harness.omnistream_env); the server is stopped and the database dropped on the way out."""
    port = port or free_port()
    with (
        work_folder(prefix.replace("_", "-") + "-") as workdir,
        scratch_database(server_dsn(database_url), prefix) as db,
        serve(db.dsn, port, workdir, settings=settings) as server,
    ):
        yield ApiRun(workdir, db, server, port)
