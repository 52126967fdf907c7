"""Operations: JSON request logs, readiness, offline API docs, start-up refusals by the CLI."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest

from omnistream.config import ConfigError, load_settings
from omnistream.kit.http import RequestContextMiddleware
from omnistream.kit.logging import JsonFormatter
from tests.conftest import problem

BIN = Path(sys.executable).parent / "omnistream"


async def test_request_log_lines_are_json_with_the_request_id() -> None:
    async def hello(scope, receive, send) -> None:  # the smallest ASGI app
        logging.getLogger("omnistream.test").warning("inside", extra={"order": 7})
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        app = RequestContextMiddleware(hello, access_log=True)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/x", headers={"X-Request-ID": "req-42"})
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert r.status_code == 204 and r.headers["x-request-id"] == "req-42"
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    inside = next(e for e in lines if e["msg"] == "inside")
    access = next(e for e in lines if e["msg"] == "request")
    assert inside["request_id"] == access["request_id"] == "req-42"
    assert inside["order"] == 7 and inside["level"] == "warning"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/x", 204)


async def test_readyz_is_503_when_migrations_are_not_at_head(client, ctx) -> None:
    async with ctx.pool.acquire() as conn:
        last = await conn.fetchrow(
            "DELETE FROM schema_migrations WHERE version = "
            "(SELECT max(version) FROM schema_migrations) RETURNING *"
        )
    try:
        body = problem(await client.get("/readyz"), 503)
        assert body["detail"] == "migrations are not at head"
    finally:
        async with ctx.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO schema_migrations VALUES ($1, $2, $3, $4)", *last.values()
            )
    assert (await client.get("/readyz")).status_code == 200


async def test_openapi_and_docs_work_offline(client) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.") and len(spec["paths"]) > 50
    html = (await client.get("/api/v1/docs")).text
    # Every asset is served by OmniStream itself, and no validator badge calls out.
    assert not re.findall(r"""(?:src|href)=["']https?://""", html)
    assert '"validatorUrl": null' in html
    for asset in re.findall(r"""(?:src|href)=["'](/[^"']+)""", html):
        assert (await client.get(asset)).status_code == 200, asset


def _cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNISTREAM_")}
    env.pop("DATABASE_URL", None)
    return env | {"OMNISTREAM_SECRET_KEY": "k" * 40} | extra


def test_an_unusable_data_dir_stops_startup_with_one_line(tmp_path: Path, test_dsn: str) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    env = _cli_env(DATABASE_URL=test_dsn, OMNISTREAM_DATA_DIR=str(not_a_dir))
    r = subprocess.run([str(BIN), "migrate"], env=env, capture_output=True, text=True, timeout=60)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "OMNISTREAM_DATA_DIR" in lines[0] and str(not_a_dir) in lines[0]


async def test_migrate_command_refuses_an_edited_migration(fresh_dsn: str, tmp_path: Path) -> None:
    env = _cli_env(DATABASE_URL=fresh_dsn, OMNISTREAM_DATA_DIR=str(tmp_path))
    run = [str(BIN), "migrate"]
    first = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and "applied" in first.stdout, first.stderr
    conn = await asyncpg.connect(fresh_dsn)
    try:  # as if 0001's file had changed since it was applied
        await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
    finally:
        await conn.close()
    again = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    lines = [line for line in again.stderr.splitlines() if line.strip()]
    assert again.returncode == 1 and len(lines) == 1, again.stderr
    assert re.search(r"migration 0001_\w+\.sql was edited after it was applied", lines[0])


@pytest.mark.parametrize(
    ("setting", "value"),
    [("admin_email", "notanemail"), ("admin_email", "a@b"), ("upload_mime_types", " , ")],
)
def test_bad_settings_name_their_variable(setting: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^OMNISTREAM_{setting.upper()}: "):
        load_settings(**{setting: value})


def test_the_first_admins_email_is_normalised_like_an_agents() -> None:
    assert load_settings(admin_email="Boss@Example.COM").admin_email == ("boss@example.com")
