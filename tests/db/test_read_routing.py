"""Lag-tolerant reads on a real streaming replica (docs/read-replica.md): one primary and one
replica of this module's own, made by the topology's code (bench/harness/pgcluster.py: initdb,
pg_basebackup -R, Debian's binaries), the API app on the primary with
OMNISTREAM_READ_DATABASE_URL on the replica. Replay is paused with pg_wal_replay_pause() to
tell the two apart: what the primary has and the replica has not yet replayed.

bench/ is put at the END of sys.path, as in tests/topology/conftest.py, so `harness` imports
as the bench scripts import it."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from omnistream.app import create_app
from omnistream.config import ConfigError, Settings, load_settings
from omnistream.context import AppContext
from omnistream.db.replica import ReadRouter
from omnistream.kit.wrote_cookie import WROTE_COOKIE
from tests.conftest import Actors, Agent

BENCH = str(Path(__file__).resolve().parents[2] / "bench")
if BENCH not in sys.path:
    sys.path.append(BENCH)

from harness.pgcluster import (  # noqa: E402
    PG_BIN,
    POSTGRES_SETTINGS,
    PostgresServer,
    make_servers,
    start_replica,
)

pytestmark = [
    pytest.mark.skipif(
        not (PG_BIN / "pg_basebackup").exists(), reason="needs Debian's PostgreSQL binaries"
    ),
    pytest.mark.xdist_group("read_replica"),
]
LAG_BOUND = 30.0  # the app's: large, so a paused replay stays within it (see the lag test)
# The topology's settings, smaller: this module opens a few dozen connections at most.
SMALL = POSTGRES_SETTINGS | {"max_connections": "40", "shared_buffers": "16MB"}


@dataclass
class Pair:
    primary: PostgresServer
    replica: PostgresServer


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp("replica-pair")
    with ExitStack() as stack:
        _, primary, replica = make_servers(stack, workdir, SMALL, lambda _step: None)
        start_replica(stack, workdir, primary, replica)
        yield Pair(primary, replica)


@pytest.fixture(scope="module")
def replica_settings(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        database_url=pair.primary.dsn(),
        read_database_url=pair.replica.dsn(),
        read_max_lag_seconds=LAG_BOUND,
        data_dir=tmp_path_factory.mktemp("replica-data"),
        secret_key="test-secret-" + "r" * 40,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        access_log=False,
        db_pool_max=4,
    )


@pytest.fixture(scope="module")
async def rapp(replica_settings: Settings, pair: Pair) -> AsyncIterator[FastAPI]:
    application = create_app(replica_settings, pair.primary.dsn(), track_presence=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
def rctx(rapp: FastAPI) -> AppContext:
    context: AppContext = rapp.state.ctx
    return context


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def two(rapp: FastAPI, rctx: AppContext) -> AsyncIterator[tuple[Any, Any]]:
    """A writer and a reader, two admins each with a client of their own (cookie jars)."""
    async with _client(rapp) as writer, _client(rapp) as reader:
        w = await Actors(rctx, writer).make("admin")
        r = await Actors(rctx, reader).make("admin")
        reader.cookies.clear()  # its sign-in was a write: this client is one that wrote nothing
        yield (writer, w), (reader, r)


def reads(rctx: AppContext) -> ReadRouter:
    assert rctx.reads is not None
    return rctx.reads


async def caught_up(pair: Pair, within: float = 30) -> None:
    """Until the replica has replayed everything the primary has written."""
    primary = await asyncpg.connect(pair.primary.dsn())
    replica = await asyncpg.connect(pair.replica.dsn(), timeout=5)
    try:
        target = await primary.fetchval("SELECT pg_current_wal_insert_lsn()")
        for _ in range(int(within * 20)):
            if await replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", target):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the replica did not catch up")
    finally:
        await primary.close()
        await replica.close()


async def replay(pair: Pair, pause: bool) -> None:
    conn = await asyncpg.connect(pair.replica.dsn())
    try:
        await conn.execute(f"SELECT pg_wal_replay_{'pause' if pause else 'resume'}()")
    finally:
        await conn.close()


async def names(client: httpx.AsyncClient, agent: Agent, q: str) -> list[str]:
    r = await client.get("/api/v1/contacts", params={"q": q}, headers=agent.headers)
    assert r.status_code == 200, r.text
    return [c["name"] for c in r.json()["items"]]


async def actions(client: httpx.AsyncClient, agent: Agent) -> list[str]:
    r = await client.get(
        "/api/v1/activity", params={"action": "create_contact"}, headers=agent.headers
    )
    assert r.status_code == 200, r.text
    return [a["target_id"] for a in r.json()["items"]]


async def test_a_routed_read_is_served_by_the_replica_and_a_writer_reads_its_write(
    pair: Pair, rctx: AppContext, two: tuple[Any, Any]
) -> None:
    (writer, w), (reader, r) = two
    await caught_up(pair)
    await replay(pair, pause=True)
    try:
        made = await writer.post(
            "/api/v1/contacts", json={"name": "Paused Replay"}, headers=w.headers
        )
        assert made.status_code == 201, made.text
        assert WROTE_COOKIE in writer.cookies and WROTE_COOKIE not in reader.cookies
        state = await reads(rctx).refresh()
        assert state.through is not None, state  # paused, but within the 30 s bound
        # The replica has not replayed the new contact: a caller that wrote nothing reads the
        # replica and misses it (contact list, activity log); the writer reads the primary.
        assert await names(reader, r, "Paused") == []
        assert made.json()["id"] not in await actions(reader, r)
        assert await names(writer, w, "Paused") == ["Paused Replay"]
        assert made.json()["id"] in await actions(writer, w)
        export = "/api/v1/contacts/export.csv"
        assert "Paused Replay" not in (await reader.get(export, headers=r.headers)).text
        assert "Paused Replay" in (await writer.get(export, headers=w.headers)).text
        # Reports and search run on the standby too (read-only, repeatable read).
        for path in ("/api/v1/reports/conversations", "/api/v1/reports/agents.csv"):
            got = await reader.get(path, headers=r.headers)
            assert got.status_code == 200, (path, got.text)
        found = await reader.get("/api/v1/search", params={"q": "paused"}, headers=r.headers)
        assert found.status_code == 200 and found.json()["items"] == [], found.text
    finally:
        await replay(pair, pause=False)
    await caught_up(pair)
    await reads(rctx).refresh()
    assert await names(reader, r, "Paused") == ["Paused Replay"]


async def test_a_replica_lagging_beyond_the_bound_sends_reads_to_the_primary(
    pair: Pair, rctx: AppContext
) -> None:
    router = ReadRouter(rctx.pool, pair.replica.dsn(), max_lag=0.5, probe_seconds=3600)
    await router.start()
    primary = await asyncpg.connect(pair.primary.dsn())
    try:
        await caught_up(pair)
        assert (await router.refresh()).lag == 0.0  # caught up: 0 however old its last commit
        async with router.connection() as conn:
            assert await conn.fetchval("SELECT pg_is_in_recovery()") is True
        await replay(pair, pause=True)
        try:
            await primary.execute("CREATE TABLE IF NOT EXISTS lag_probe (at timestamptz)")
            await primary.execute("INSERT INTO lag_probe VALUES (now())")
            for _ in range(100):  # the replica received the row; its lag grows past 0.5 s
                state = await router.refresh()
                if state.through is None:
                    break
                await asyncio.sleep(0.1)
            assert state.through is None and state.lag is not None and state.lag > 0.5, state
            assert "exceeds" in state.reason
            async with router.connection() as conn:
                assert await conn.fetchval("SELECT pg_is_in_recovery()") is False
        finally:
            await replay(pair, pause=False)
        await caught_up(pair)
        assert (await router.refresh()).through is not None
        async with router.connection() as conn:
            assert await conn.fetchval("SELECT pg_is_in_recovery()") is True
    finally:
        await primary.close()
        await router.stop()


async def test_a_stopped_replica_sends_reads_to_the_primary_and_they_return(
    pair: Pair, rctx: AppContext, two: tuple[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    (writer, w), (reader, r) = two
    made = await writer.post("/api/v1/contacts", json={"name": "Survivor"}, headers=w.headers)
    assert made.status_code == 201, made.text
    await caught_up(pair)
    await reads(rctx).refresh()
    caplog.set_level(logging.INFO, logger="omnistream.db.replica")
    pair.replica.stop()
    try:
        # Before and after the probe notices, every routed read answers from the primary.
        for _ in range(2):
            assert await names(reader, r, "Surv") == ["Survivor"]
            assert made.json()["id"] in await actions(reader, r)
            for path in (
                "/api/v1/search?q=survivor",
                "/api/v1/reports/conversations",
                "/api/v1/contacts/export.csv",
            ):
                got = await reader.get(path, headers=r.headers)
                assert got.status_code == 200, (path, got.text)
            assert (
                "Survivor"
                in (await reader.get("/api/v1/contacts/export.csv", headers=r.headers)).text
            )
            await reads(rctx).refresh()
        assert reads(rctx).state.through is None
        warnings = [x for x in caplog.records if x.levelno == logging.WARNING]
        assert len(warnings) == 1, [x.getMessage() for x in warnings]  # at most once a minute
        assert "reads go to the primary" in warnings[0].getMessage()
    finally:
        pair.replica.start()
    for _ in range(300):
        if (await reads(rctx).refresh()).through is not None:
            break
        await asyncio.sleep(0.1)
    async with reads(rctx).connection() as conn:
        assert await conn.fetchval("SELECT pg_is_in_recovery()") is True
    assert any("go to the replica again" in x.getMessage() for x in caplog.records)
    assert await names(reader, r, "Surv") == ["Survivor"]


async def test_the_wrote_cookie_marks_successful_writes_only(
    rapp: FastAPI, rctx: AppContext
) -> None:
    async with _client(rapp) as client:
        admin = await Actors(rctx, client).make("admin")
        client.cookies.clear()
        listed = await client.get("/api/v1/contacts", headers=admin.headers)
        refused = await client.post("/api/v1/contacts", json={}, headers=admin.headers)
        assert (listed.status_code, refused.status_code) == (200, 422)
        assert "set-cookie" not in listed.headers and "set-cookie" not in refused.headers
        made = await client.post("/api/v1/contacts", json={"name": "Cookie"}, headers=admin.headers)
        assert made.status_code == 201, made.text
        cookie = made.headers["set-cookie"]
        assert cookie.startswith(f"{WROTE_COOKIE}=")
        for attribute in (
            "Path=/api",
            "HttpOnly",
            "SameSite=Strict",
            f"Max-Age={int(LAG_BOUND) + 1}",
        ):
            assert attribute in cookie, cookie


def test_the_read_database_url_is_checked_and_kept_out_of_the_message() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(read_database_url="mysql://user:hunter2@db/x")
    assert str(caught.value).startswith("OMNISTREAM_READ_DATABASE_URL: ")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="OMNISTREAM_READ_MAX_LAG_SECONDS"):
        load_settings(read_max_lag_seconds=0)


async def test_without_a_read_database_writes_set_no_cookie(
    client: httpx.AsyncClient, admin: Agent
) -> None:
    made = await client.post("/api/v1/contacts", json={"name": "Plain"}, headers=admin.headers)
    assert made.status_code == 201, made.text
    assert "set-cookie" not in made.headers
