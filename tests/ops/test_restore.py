"""docs/operations.md's backup and restore, followed literally with the real tools.

A running OmniStream (its secret key generated into its data directory, as without
OMNISTREAM_SECRET_KEY) gets real data through its API: a WhatsApp integration whose app
secret is stored encrypted, a customer's message through the signed webhook, a reply and an
uploaded file. The documented commands back it up (pg_dump, the files archive) and restore
it into a new database and a new data directory; OmniStream started there gives it all back
through the API: sign-in, the conversation and its messages, the file's bytes, and a new
webhook signed with the app secret is accepted, so the secret still decrypts."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from omnistream.inbound.signature import signature
from tests.cli.serving import Serve, cli_env, login
from tests.conftest import scratch_database
from tests.inbound.test_inbound_support import payload
from tests.processes import create_admin
from tests.testdb import with_database

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
EMAIL, PASSWORD = "restore@example.com", "correct horse battery"
PHONE_ID, APP_SECRET = "106540352242922", "wa-app-secret-restore-51c7"
FILE = b"%PDF-1.4\n% an invoice the agent sent\n" + secrets.token_bytes(2048)


def documented(section: str) -> str:
    """The shell block under the heading `section` of docs/operations.md."""
    text = DOC.read_text()
    start = text.index(f"### {section}\n")
    match = re.search(r"```sh\n(.*?)```", text[start:], re.DOTALL)
    assert match, f"no ```sh block under '### {section}' in {DOC}"
    return match.group(1)


def run_sh(script: str, env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=cwd, text=True,
                          capture_output=True)  # fmt: skip
    assert done.returncode == 0, f"{script}\nstdout:{done.stdout}\nstderr:{done.stderr}"


@pytest.fixture
async def source_dsn(admin_dsn: str) -> AsyncIterator[str]:
    async for dsn in scratch_database(admin_dsn, "backup"):
        yield dsn


def webhook(wamid: str, text: str) -> tuple[bytes, dict[str, str]]:
    body: dict[str, Any] = payload("wa_text")
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = PHONE_ID
    value["messages"][0].update(
        {"id": wamid, "text": {"body": text}, "timestamp": str(int(time.time()))}
    )
    raw = orjson.dumps(body)
    return raw, {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature(APP_SECRET, raw),
    }


async def until_messages(client: httpx.AsyncClient, base: str, auth: dict[str, str],
                         count: int) -> list[dict[str, Any]]:  # fmt: skip
    """The only conversation's messages, once it has `count` of them."""
    deadline = time.monotonic() + 30
    while True:
        listed = (await client.get(f"{base}/api/v1/conversations", headers=auth)).json()["items"]
        if listed:
            url = f"{base}/api/v1/conversations/{listed[0]['id']}/messages"
            items: list[dict[str, Any]] = (await client.get(url, headers=auth)).json()["items"]
            if len(items) >= count:
                return items
        assert time.monotonic() < deadline, f"not {count} messages within 30 s: {listed}"
        await asyncio.sleep(0.2)


@pytest.mark.timeout(180)
async def test_the_documented_backup_restores_everything(
    source_dsn: str, admin_dsn: str, tmp_path: Path
) -> None:
    old_dir, new_dir, backups = tmp_path / "old", tmp_path / "new", tmp_path / "backups"
    backups.mkdir()
    env = {k: v for k, v in cli_env(source_dsn, old_dir).items() if k != "OMNISTREAM_SECRET_KEY"}
    env |= {"OMNISTREAM_WORKER_LOOPS_OFF": "outbound", "OMNISTREAM_LOG_LEVEL": "WARNING"}
    create_admin(env, EMAIL, "Restore Admin", PASSWORD)
    source = Serve(env, "--with-worker")
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            source.wait_ready()
            auth = {"Authorization": f"Bearer {login(source.base, EMAIL, PASSWORD).json()['access_token']}"}  # fmt: skip
            made = await client.post(
                f"{source.base}/api/v1/integrations",
                headers=auth,
                json={
                    "channel": "whatsapp",
                    "name": "Toko WhatsApp",
                    "credentials": {
                        "access_token": "EAAG-restore-token",
                        "app_secret": APP_SECRET,
                        "verify_token": "restore-verify",
                        "waba_id": "102290129340398",
                    },
                },
            )
            assert made.status_code == 201, made.text
            account = await client.post(
                f"{source.base}/api/v1/integrations/{made.json()['id']}/accounts",
                headers=auth,
                json={"external_id": PHONE_ID},
            )
            assert account.status_code == 201, account.text
            raw, headers = webhook("wamid.BEFORE", "Apakah ada warna biru?")
            assert (await client.post(f"{source.base}/webhooks/meta", content=raw, headers=headers)).status_code == 200  # fmt: skip
            (inbound,) = await until_messages(client, source.base, auth, 1)
            conversation = inbound["conversation_id"]
            reply = await client.post(
                f"{source.base}/api/v1/conversations/{conversation}/messages",
                headers=auth,
                json={"type": "text", "text": "Ada, kak"},
            )
            assert reply.status_code == 201, reply.text
            uploaded = await client.post(
                f"{source.base}/api/v1/conversations/{conversation}/uploads",
                headers=auth,
                files={"file": ("invoice.pdf", FILE, "application/pdf")},
            )
            assert uploaded.status_code == 201, uploaded.text
            media_url = uploaded.json()["url"]
            # The backup, as documented, while the server runs.
            run_sh(documented("Back up"), env, backups)
        finally:
            source.stop()
        assert (backups / "omnistream.dump").stat().st_size > 0

        # The restore, as documented, into a new database and a new data directory.
        new_name = f"restored_{secrets.token_hex(4)}"
        new_dsn = with_database(admin_dsn, new_name)
        restore_env = {k: v for k, v in env.items() if k != "DATABASE_URL"} | {
            "NEW_DATABASE_URL": new_dsn,
            "NEW_DATA_DIR": str(new_dir),
            "MAINTENANCE_DATABASE_URL": admin_dsn,
            "NEW_DATABASE_NAME": new_name,
        }
        try:
            run_sh(documented("Restore"), restore_env, backups)
            serve_env = env | {"DATABASE_URL": new_dsn, "OMNISTREAM_DATA_DIR": str(new_dir)}
            restored = Serve(serve_env, "--with-worker")
            try:
                restored.wait_ready()
                token = login(restored.base, EMAIL, PASSWORD)
                assert token.status_code == 200, token.text
                auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
                texts = [m["content"].get("text") for m in await until_messages(client, restored.base, auth, 2)]  # fmt: skip
                assert {"Apakah ada warna biru?", "Ada, kak"} <= set(texts), texts
                download = await client.get(f"{restored.base}{media_url}", headers=auth)
                assert download.status_code == 200, download.text
                assert download.content == FILE
                # The app secret still decrypts: a call signed with it is accepted and applied.
                raw, headers = webhook("wamid.AFTER", "Kirim ke Bandung?")
                accepted = await client.post(f"{restored.base}/webhooks/meta", content=raw, headers=headers)  # fmt: skip
                assert accepted.status_code == 200, accepted.text
                texts = [m["content"].get("text") for m in await until_messages(client, restored.base, auth, 3)]  # fmt: skip
                assert "Kirim ke Bandung?" in texts
            finally:
                restored.stop()
        finally:
            conn = await asyncpg.connect(admin_dsn)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{new_name}" WITH (FORCE)')
            finally:
                await conn.close()
    assert "Traceback" not in restored.stderr, restored.stderr[-3000:]
    assert os.stat(new_dir / "secret.key").st_mode & 0o077 == 0, "the key file is not private"
