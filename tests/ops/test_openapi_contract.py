"""The OpenAPI document against the real server: schemathesis generates requests (valid and
invalid) for every operation, as an admin and as an agent, sends them to `omnistream serve`
on loopback, and checks each answer: no server error, only documented statuses, the
documented content type, and bodies matching the documented schemas.

Bounded so the whole run stays within a few minutes on two cores: few examples per
operation, no shrinking, no example database, deterministic generation.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from omnistream.app import create_app
from omnistream.config import load_settings
from tests.processes import CLI, create_admin, free_port, omnistream_env, stop, wait_http
from tests.testdb import server_dsn, with_database

PASSWORD = "correct horse battery"
ADMIN_EMAIL = "admin@example.com"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "schemathesis"


def no_undocumented_server_error(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """not_a_server_error, but a 502 is the documented answer of a route whose Graph API call
    failed (the seeded integration points at a closed port)."""
    documented = case.operation.definition.raw.get("responses", {})
    if response.status_code == 502 and "502" in documented:
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    no_undocumented_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation and role: a handful of generated cases (valid and invalid inputs).
EXAMPLES = int(os.environ.get("OMNISTREAM_SCHEMATHESIS_EXAMPLES", "15"))


@dataclass
class LiveServer:
    url: str
    headers: dict[str, dict[str, str]] = field(repr=False)
    ids: dict[str, str] = field(default_factory=dict)
    admin: tuple[str, str] = (ADMIN_EMAIL, PASSWORD)  # (email, password)

    def fresh_headers(self, role: str) -> dict[str, str]:
        """A session of its own (for signing out without ending the run's session)."""
        if role == "admin":
            return _login(self.url, *self.admin)
        return _login(self.url, f"{role}@example.com")


def _login(url: str, email: str, password: str = PASSWORD) -> dict[str, str]:
    r = httpx.post(
        f"{url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=20
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _database(admin_dsn: str, name: str, create: bool) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


async def _seed(url: str, dsn: str, admin: dict[str, str], agent_id: str) -> dict[str, str]:
    """One record of each kind, so that generated requests also reach real rows (not only
    404s): path parameters of these names take these ids in a third pass. The agents named
    are a spare one, never the run's own signed-in accounts."""
    async with httpx.AsyncClient(base_url=url, headers=admin, timeout=20) as api:

        async def made(path: str, body: dict[str, Any]) -> str:
            r = await api.post(path, json=body)
            assert r.status_code == 201, (path, r.json())
            return str(r.json()["id"])

        ids = {"division_id": await made("/api/v1/divisions", {"name": "Sales"})}
        ids["agent_id"] = await made(
            "/api/v1/agents",
            {"email": "spare@example.com", "name": "Spare", "role": "agent"}
            | {"password": PASSWORD},
        )
        for member in (agent_id, ids["agent_id"]):
            r = await api.put(f"/api/v1/divisions/{ids['division_id']}/members/{member}")
            assert r.status_code == 204, r.text
        ids["integration_id"] = await made(
            "/api/v1/integrations",
            {
                "channel": "whatsapp",
                "name": "WhatsApp",
                # A closed loopback port: Graph API calls fail (template sync answers 502).
                "credentials": {
                    "access_token": "token",
                    "app_secret": "secret",
                    "verify_token": "verify",
                    "waba_id": "2090001",
                    "base_url": f"http://127.0.0.1:{free_port()}",
                },
            },
        )
        ids["account_id"] = await made(
            f"/api/v1/integrations/{ids['integration_id']}/accounts", {"external_id": "1090001"}
        )
        ids["contact_id"] = await made(
            "/api/v1/contacts", {"name": "Budi", "phone": "+6281234567890"}
        )
        ids["quick_reply_id"] = await made(
            "/api/v1/quick-replies", {"title": "Greeting", "body": "Halo {{contact.name}}"}
        )
        conn = await asyncpg.connect(dsn)
        try:
            ids["conversation_id"] = str(
                await conn.fetchval(
                    "INSERT INTO conversations (contact_id, division_id, channel, status,"
                    " last_message_at, last_inbound_at)"
                    " VALUES ($1, $2, 'whatsapp', 'open', now(), now()) RETURNING id",
                    ids["contact_id"],
                    ids["division_id"],
                )
            )
        finally:
            await conn.close()
        conversation = f"/api/v1/conversations/{ids['conversation_id']}"
        ids["message_id"] = await made(f"{conversation}/messages", {"type": "text", "text": "Hi"})
        ids["note_id"] = await made(f"{conversation}/notes", {"body": "VIP"})
        ids["scheduled_id"] = await made(
            f"{conversation}/scheduled-messages",
            {"type": "text", "text": "Later", "scheduled_at": _tomorrow()},
        )
        r = await api.post(
            f"{conversation}/uploads", files={"file": ("hello.txt", b"hello", "text/plain")}
        )
        assert r.status_code == 201, r.text
        ids["media_id"] = str(r.json()["id"])
    return ids


def prepare_live(
    url: str, dsn: str, admin_email: str = ADMIN_EMAIL, admin_password: str = PASSWORD
) -> LiveServer:
    """A running server (at `url`, on the database `dsn`, with this admin) made ready for
    the run: an agent signed in beside the admin, one record of each kind seeded. Also used
    by tests/topology/test_contract.py with HAProxy's URL."""
    admin = _login(url, admin_email, admin_password)
    r = httpx.post(
        f"{url}/api/v1/agents",
        headers=admin,
        json={"email": "agent@example.com", "name": "Agus Agent", "role": "agent"}
        | {"password": PASSWORD},
        timeout=20,
    )
    assert r.status_code == 201, r.text
    agent_id = r.json()["id"]
    headers = {"admin": admin, "agent": _login(url, "agent@example.com")}
    ids = asyncio.run(_seed(url, dsn, admin, agent_id))
    return LiveServer(url, headers, ids, (admin_email, admin_password))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`omnistream serve` (API only) on a scratch database, an admin and an agent."""
    admin_dsn = server_dsn()
    name = f"omnistream_contract_{secrets.token_hex(4)}"
    asyncio.run(_database(admin_dsn, name, create=True))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp_path_factory.mktemp("contract-data")
    env = omnistream_env(with_database(admin_dsn, name), data, "contract-tests-")

    create_admin(env, ADMIN_EMAIL, "Ada Admin", PASSWORD)
    log = ARTIFACTS / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"{url}/readyz", proc, log)
        yield prepare_live(url, with_database(admin_dsn, name))
    finally:
        stop(proc)
        asyncio.run(_database(admin_dsn, name, create=False))


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every documented operation, read from the app without a server;
    deletions last, so that the records they remove serve the other operations first."""
    unused = Path(tempfile.gettempdir())
    settings_ = load_settings(database_url=None, data_dir=unused, secret_key="k" * 40)
    document = create_app(settings_, "postgresql://unused").openapi()
    found = [(m.upper(), p) for p, ops in document["paths"].items() for m in ops]
    return sorted(found, key=lambda operation: operation[0] == "DELETE")


def load_contract(url: str) -> Any:
    """The document the server at `url` serves, loaded by schemathesis."""
    document = httpx.get(f"{url}/api/v1/openapi.json", timeout=20).json()
    config = schemathesis.Config.from_dict({"base-url": url})
    return schemathesis.openapi.from_dict(document, config=config)


@pytest.fixture(scope="module")
def contract(live: LiveServer) -> Any:
    return load_contract(live.url)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("role", ["admin", "agent"])
@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_answers_as_documented(
    live: LiveServer, contract: Any, role: str, method: str, path: str
) -> None:
    check_operation(live, contract, role, method, path, EXAMPLES)


def check_operation(
    live: LiveServer, contract: Any, role: str, method: str, path: str, examples: int
) -> None:
    """Generated requests (valid and invalid; without and with the seeded records' ids) to
    one operation as `role`: each answer as documented (CHECKS)."""
    operation = contract[path][method]
    headers = live.headers[role]
    if path == "/api/v1/auth/logout":
        headers = live.fresh_headers(role)  # signing out must not end the run's session
    names = [p.name for p in operation.path_parameters]
    known = {n: live.ids[n] for n in names if n in live.ids}
    passes = [(GenerationMode.POSITIVE, {}), (GenerationMode.NEGATIVE, {})]
    if known:  # and with real records, to reach past the 404
        passes += [(GenerationMode.POSITIVE, known), (GenerationMode.NEGATIVE, known)]
    for mode, path_parameters in passes:
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

        @given(case=strategy)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case: Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

        try:
            answers_as_documented()
        except Unsatisfiable:
            # Nothing to get wrong (no parameters, no body): no invalid request exists.
            if mode is not GenerationMode.NEGATIVE:
                raise
