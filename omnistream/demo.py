"""`make run`'s demo: the local Graph API sandbox next to OmniStream, with a WhatsApp, a
Messenger and an Instagram integration pointed at it, and a few customers writing in, so a
new user sees conversations arrive and can reply without a Meta account."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import httpx

from omnistream.db.pool import Pool, transaction
from omnistream.integrations import queries
from omnistream.integrations.credentials import seal
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel
from omnistream.sandbox.config import DEMO_APP_SECRET, demo_accounts

log = logging.getLogger(__name__)
DEMO_VERIFY_TOKEN = "omnistream-demo-verify"
WABA_ID = "200000000000001"

CUSTOMERS = [
    (
        "whatsapp",
        "100000000000001",
        "6281234500001",
        "Siti Rahma",
        "Halo, pesanan saya belum sampai 🙏",
    ),
    ("whatsapp", "100000000000001", "6281234500002", "Budi Santoso", "Apakah ada warna biru?"),
    ("messenger", "300000000000001", "7000000000000001", "Ana Lima", "Hi! Do you ship to Bandung?"),
    ("instagram", "400000000000001", "8000000000000001", "dewi.shop", "Is this still in stock?"),
]


@contextmanager
def sandbox_process(port: int, webhook_url: str) -> Iterator[str]:
    """Runs `omnistream sandbox --demo` beside the server; stops it on exit."""
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [
            sys.executable,
            "-m",
            "omnistream.cli",
            "sandbox",
            "--demo",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webhook-url",
            webhook_url,
        ],
        env={**os.environ, "OMNISTREAM_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
    )
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def ensure_integrations(pool: Pool, box: SecretBox, sandbox_url: str) -> bool:
    """Creates the three demo integrations on an empty installation; True if it did."""
    async with transaction(pool) as tx:
        if await queries.count_integrations(tx.conn) > 0:
            return False
        for account in demo_accounts():
            channel = Channel(account.channel)
            token_field = "access_token" if channel is Channel.WHATSAPP else "page_access_token"
            values: dict[str, object] = {
                token_field: account.access_token,
                "app_secret": DEMO_APP_SECRET,
                "verify_token": DEMO_VERIFY_TOKEN,
                "base_url": sandbox_url,
                "api_version": "v21.0",
            }
            if channel is Channel.WHATSAPP:
                values["waba_id"] = WABA_ID
            name = f"Demo {channel.value.title()} (sandbox)"
            integration_id = uuid4()
            await queries.insert(
                tx.conn,
                integration_id,
                channel=channel.value,
                name=name,
                is_active=True,
                credentials=seal(box, channel, integration_id, values),
            )
            await queries.insert_account(
                tx.conn,
                integration_id,
                external_id=account.external_id,
                display_name=account.name or name,
                is_default=True,
                send_rate_per_second=80,
            )
    log.info("demo integrations created", extra={"sandbox": sandbox_url})
    return True


async def customers_write_in(sandbox_url: str, delay: float = 1.5) -> None:
    """A few first messages, sent once the server is accepting webhooks."""
    await asyncio.sleep(delay)
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        for channel, account, sender, name, text in CUSTOMERS:
            try:
                await client.post(
                    "/_sandbox/customers/send",
                    json={
                        "channel": channel,
                        "account": account,
                        "from": sender,
                        "name": name,
                        "type": "text",
                        "text": text,
                    },
                )
            except httpx.HTTPError:
                log.warning("demo customer message not delivered", exc_info=True)
