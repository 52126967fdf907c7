"""Scratch databases: created for one run on a PostgreSQL server and always dropped after."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from harness.core import BenchError, console, host_of, shown_dsn, with_database
from harness.machine import machine_info

_CONNECT_ERRORS = (OSError, asyncpg.PostgresError, TimeoutError)


async def connect(dsn: str) -> asyncpg.Connection[Any]:
    """A connection, or a BenchError that names the server."""
    try:
        conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn, timeout=15)
    except _CONNECT_ERRORS as exc:
        raise BenchError(f"cannot connect to {shown_dsn(dsn)}: {exc}") from exc
    return conn


async def wait_for_consumer(
    conn: asyncpg.Connection[Any], consumer: str, wait_s: float
) -> tuple[bool, float]:
    """Until the event consumer `consumer` passed the newest event (at most `wait_s`):
    whether it did, and the seconds waited."""
    started = time.monotonic()
    while True:
        row = await conn.fetchrow(
            "SELECT (SELECT position FROM event_consumers WHERE name = $1) AS position, "
            "(SELECT COALESCE(max(seq), 0) FROM event_outbox) AS top",
            consumer,
        )
        assert row is not None
        passed = row["position"] is not None and row["position"] >= row["top"]
        if passed or time.monotonic() - started > wait_s:
            return passed, time.monotonic() - started
        await asyncio.sleep(0.05)


async def create_database(server_dsn: str, name: str) -> str:
    """CREATE DATABASE on the server of `server_dsn`; returns the server's version."""
    conn = await connect(server_dsn)
    try:
        version: str = await conn.fetchval("SHOW server_version")
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return version


async def drop_database(server_dsn: str, name: str) -> None:
    conn = await connect(server_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def recreate_database(server_dsn: str, name: str) -> None:
    await drop_database(server_dsn, name)
    await create_database(server_dsn, name)


def machine_info_of(dsn: str) -> dict[str, Any]:
    """harness.machine.machine_info for the server of `dsn` (from synchronous code)."""

    async def read() -> dict[str, Any]:
        conn = await connect(dsn)
        try:
            return await machine_info(conn)
        finally:
            await conn.close()

    return asyncio.run(read())


@dataclass(frozen=True)
class ScratchDatabase:
    server_dsn: str  # the maintenance DSN it was created from
    name: str
    dsn: str
    postgres_version: str


@contextmanager
def scratch_database(server_dsn: str, prefix: str) -> Iterator[ScratchDatabase]:
    """A new empty database `<prefix>_<random>`, dropped on the way out (also on failure,
    Ctrl-C or SIGTERM once main() turned it into KeyboardInterrupt)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with console.status(f"creating the scratch database {name}"):
        try:
            version = asyncio.run(create_database(server_dsn, name))
        except (BenchError, *_CONNECT_ERRORS) as exc:
            raise BenchError(
                f"cannot create a database on {host_of(server_dsn)}: {exc} "
                "(pass --database-url postgresql://user@host:port/postgres)"
            ) from exc
    try:
        yield ScratchDatabase(server_dsn, name, with_database(server_dsn, name), version)
    finally:
        with console.status(f"dropping {name}"):
            try:
                asyncio.run(drop_database(server_dsn, name))
            except (BenchError, *_CONNECT_ERRORS) as exc:
                console.print(f"[red]could not drop {name}:[/] {exc}")
