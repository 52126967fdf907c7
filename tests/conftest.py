"""Shared fixtures: a fresh database per test session, emptied before every test."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from omnistream.agents import service as agent_service
from omnistream.agents.schemas import AgentCreate
from omnistream.app import create_app
from omnistream.config import Settings, load_settings
from omnistream.context import AppContext
from omnistream.db.pool import transaction
from tests.testdb import server_dsn, with_database

PASSWORD = "correct horse battery"


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_OneBrowserScope(), "omnistream-one-browser-scope")
    config.addinivalue_line(
        "markers",
        "alone: `make test` runs these after the parallel part, on their own (tests that "
        "measure rates or race deadlines on the machine's CPUs)",
    )


class _OneBrowserScope:
    """Under pytest-xdist with `--dist loadfile` (`make test`): a test module stays on one
    worker, so module fixtures (the schemathesis run's live server) start once, and all of
    tests/browser/ is one scope: its stack (serve, sandbox, Chromium) starts once and alone
    writes test-artifacts/browser/. (xdist_group marks cannot do this: xdist 3.8 renames node
    ids for them, which pytest 9.2 no longer reads.)"""

    @staticmethod
    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "loadfile":
            return None
        from xdist.scheduler import LoadFileScheduling

        class Scheduling(LoadFileScheduling):
            def _split_scope(self, nodeid: str) -> str:
                path = nodeid.split("::", 1)[0]
                return "tests/browser/" if path.startswith("tests/browser/") else path

        return Scheduling(config, log)


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    return server_dsn()


async def scratch_database(admin_dsn: str, prefix: str) -> AsyncIterator[str]:
    """A new empty database for the fixture's lifetime, dropped (forcibly) afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    yield with_database(admin_dsn, name)
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest.fixture(scope="session")
async def test_dsn(admin_dsn: str) -> AsyncIterator[str]:
    async for dsn in scratch_database(admin_dsn, "omnistream_test"):
        yield dsn


@pytest.fixture
async def fresh_dsn(admin_dsn: str) -> AsyncIterator[str]:
    """An unmigrated database of its own, for tests of migrations and the CLI."""
    async for dsn in scratch_database(admin_dsn, "omnistream_fresh"):
        yield dsn


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        database_url=None,
        data_dir=tmp_path_factory.mktemp("data"),
        secret_key="test-secret-" + "x" * 40,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        access_log=False,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings, test_dsn: str) -> AsyncIterator[FastAPI]:
    # Sockets do not move presence here: each agent's first socket would put an agent.presence
    # event in the streams other tests check (tests/presence/ runs apps that track them).
    application = create_app(settings, test_dsn, track_presence=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def ctx(app: FastAPI) -> AppContext:
    context: AppContext = app.state.ctx
    return context


@pytest.fixture(autouse=True)
async def _clean(request: pytest.FixtureRequest) -> None:
    if "ctx" not in request.fixturenames:
        return
    context: AppContext = request.getfixturevalue("ctx")
    async with context.pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'schema_migrations'"
        )
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    context.principals.clear()


@pytest.fixture
async def client(app: FastAPI, ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Agent:
    id: UUID
    email: str
    password: str
    role: str
    token: str = ""
    refresh: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Actors:
    """Creates agents straight through the service layer and signs them in over HTTP."""

    def __init__(self, ctx: AppContext, client: httpx.AsyncClient) -> None:
        self.ctx = ctx
        self.client = client

    async def make(
        self,
        role: str = "agent",
        *,
        email: str | None = None,
        login: bool = True,
        divisions: list[UUID] | None = None,
    ) -> Agent:
        email = email or f"{role}-{secrets.token_hex(3)}@example.com"
        async with transaction(self.ctx.pool) as tx:
            row = await agent_service.create(
                tx,
                self.ctx.passwords,
                None,
                AgentCreate(
                    email=email,
                    name=f"{role.title()} {email[:8]}",
                    role=role,  # type: ignore[arg-type]
                    password=PASSWORD,
                ),
            )
            for division_id in divisions or []:
                await tx.conn.execute(
                    "INSERT INTO agent_divisions (agent_id, division_id) VALUES ($1, $2)",
                    row["id"],
                    division_id,
                )
        agent = Agent(row["id"], email, PASSWORD, role)
        if login:
            await self.login(agent)
        return agent

    async def login(self, agent: Agent) -> Agent:
        r = await self.client.post(
            "/api/v1/auth/login", json={"email": agent.email, "password": agent.password}
        )
        assert r.status_code == 200, r.text
        agent.token, agent.refresh = r.json()["access_token"], r.json()["refresh_token"]
        return agent


@pytest.fixture
def actors(ctx: AppContext, client: httpx.AsyncClient) -> Actors:
    return Actors(ctx, client)


@pytest.fixture
async def admin(actors: Actors) -> Agent:
    return await actors.make("admin")


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with this status and return its body."""
    assert r.status_code == status, f"{r.status_code} != {status}: {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["type"].startswith("urn:omnistream:problem:")
    assert body["title"] and body["detail"]
    return body


def fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}
