"""Plain-SQL migrations applied in order under an advisory lock, recorded with a checksum."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

from omnistream.db.pool import Conn

log = logging.getLogger(__name__)

# Any fixed 64-bit number shared by every OmniStream process (the bytes of "omnimigr").
MIGRATION_LOCK_ID = 0x6F6D6E696D696772
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """The database and the migration files disagree; start-up must stop."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(folder: Path | None = None) -> list[Migration]:
    base = folder or Path(str(resources.files("omnistream") / "migrations"))
    found: list[Migration] = []
    for path in sorted(base.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file name {path.name!r} is not NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""


async def applied_migrations(conn: Conn) -> dict[int, str]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {r["version"]: r["checksum"] for r in rows}


def _check(applied: dict[int, str], migrations: list[Migration]) -> list[Migration]:
    """The migrations to apply. A database migrated by a newer OmniStream (every migration
    this code knows applied, and later ones it does not know) is accepted with nothing to
    apply: during a rolling upgrade the old processes run on beside the new ones, which is
    safe because every migration stays backward compatible for one release
    (docs/operations.md#upgrading). Refused: an applied migration edited since, an unknown
    one older than this code's newest (another branch's history), and a newer database that
    lacks one of ours (applying it now would put it after the newer ones)."""
    known = {m.version: m for m in migrations}
    newest = max(known, default=0)
    newer = sorted(v for v in applied if v not in known and v > newest)
    for version, checksum in sorted(applied.items()):
        if version not in known:
            if version > newest:
                continue
            raise MigrationError(
                f"the database has migration {version:04d}, which this OmniStream does not "
                "know, and it is older than this version's newest: the database was "
                "migrated by another line of versions"
            )
        if known[version].checksum != checksum:
            m = known[version]
            raise MigrationError(
                f"migration {m.version:04d}_{m.name}.sql was edited after it was applied "
                f"(recorded checksum {checksum[:12]}…, file {m.checksum[:12]}…); "
                "add a new migration instead of changing an applied one"
            )
    pending = [m for m in migrations if m.version not in applied]
    if newer and pending:
        raise MigrationError(
            f"the database was migrated by a newer version (up to {newer[-1]:04d}) but lacks "
            f"{pending[0].version:04d}_{pending[0].name}.sql of this version: upgrade this "
            "OmniStream instead"
        )
    if newer:
        log.warning(
            "the database was migrated by a newer OmniStream; this process applies nothing "
            "and runs on it (a rolling upgrade: stop it once every process is upgraded)",
            extra={"newest_known": f"{newest:04d}", "database_newest": f"{newer[-1]:04d}"},
        )
    return pending


async def migrate(conn: Conn, migrations: list[Migration] | None = None) -> list[str]:
    """Bring the database to head; returns the names applied (empty when already there)."""
    todo_all = migrations if migrations is not None else load_migrations()
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(_LEDGER)
        pending = _check(await applied_migrations(conn), todo_all)
        done: list[str] = []
        for m in pending:
            async with conn.transaction():
                try:
                    await conn.execute(m.sql)
                except asyncpg.PostgresError as exc:  # a clear line at start-up, no traceback
                    raise MigrationError(
                        f"migration {m.version:04d}_{m.name}.sql failed: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    m.version,
                    m.name,
                    m.checksum,
                )
            log.info("migration applied", extra={"migration": f"{m.version:04d}_{m.name}"})
            done.append(f"{m.version:04d}_{m.name}")
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)


async def at_head(conn: Conn) -> bool:
    """Every migration this code knows is applied, unedited (/readyz). Later ones applied
    by a newer version do not count against it: an old process stays ready, and in its
    load balancer's rotation, during a rolling upgrade."""
    migrations = load_migrations()
    applied = await applied_migrations(conn)
    return all(applied.get(m.version) == m.checksum for m in migrations)
