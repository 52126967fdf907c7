"""`make run`'s demo: the local Graph API sandbox next to OmniStream, with a WhatsApp, a
Messenger and an Instagram integration pointed at it, and a few customers writing in, so a
new user sees conversations arrive and can reply without a Meta account. When Dovecot is
installed, also a local mailbox (sandbox/mailbox.py) as an email integration."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import httpx
import uvicorn

from omnistream.config import Settings
from omnistream.db.pool import Pool, create_pool, transaction
from omnistream.integrations import queries
from omnistream.integrations.credentials import box_from, seal
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel
from omnistream.sandbox.app import create_sandbox
from omnistream.sandbox.config import DEMO_APP_SECRET, SandboxConfig, demo_accounts
from omnistream.sandbox.mailbox import DemoMailbox

log = logging.getLogger(__name__)
DEMO_VERIFY_TOKEN = "omnistream-demo-verify"
WABA_ID = "200000000000001"
SANDBOX_START_SECONDS = 10.0
SANDBOX_THREAD = "demo-sandbox"
QUIETED_LOGGERS = ("uvicorn.error", "httpx")

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
    (
        "instagram",
        "400000000000001",
        "8000000000000001",
        "Dewi Lestari",
        "Is this still in stock?",
    ),
]


class _QuietSandboxThread(logging.Filter):
    """Drops the sandbox thread's info lines ("Uvicorn running on ...", each webhook call):
    they share uvicorn's and httpx's loggers with OmniStream and would read as its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.threadName != SANDBOX_THREAD


@contextmanager
def sandbox_process(port: int, webhook_url: str) -> Iterator[str]:
    """Runs the sandbox with its --demo accounts beside the server, until exit; yields its
    URL once it answers its health check.

    It runs in a thread of this process with its own event loop (as tests/sandbox_fixture
    does): a second interpreter spent about a second importing before it listened, and the
    server could not go on before then. Going on earlier made the integrations' first template
    sync race the sandbox's start and fail, to be retried only after
    OMNISTREAM_TEMPLATE_SYNC_SECONDS (an hour by default)."""
    url = f"http://127.0.0.1:{port}"
    config = SandboxConfig(webhook_url=webhook_url, accounts=demo_accounts())
    server = uvicorn.Server(
        uvicorn.Config(
            create_sandbox(config),
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_config=None,
            access_log=False,
            server_header=False,
        )
    )

    def run() -> None:
        # uvicorn logs why it cannot bind, then exits: this thread ends, the wait reports it.
        with contextlib.suppress(SystemExit):
            server.run()

    thread = threading.Thread(target=run, name=SANDBOX_THREAD, daemon=True)
    quiet = _QuietSandboxThread()
    for name in QUIETED_LOGGERS:
        logging.getLogger(name).addFilter(quiet)
    thread.start()
    try:
        _wait_listening(thread, url)
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
        for name in QUIETED_LOGGERS:
            logging.getLogger(name).removeFilter(quiet)


def _wait_listening(thread: threading.Thread, url: str) -> None:
    """Raises SystemExit with one line (what `serve` prints) when the sandbox cannot start:
    the demo is useless without it."""
    deadline = time.monotonic() + SANDBOX_START_SECONDS
    with httpx.Client(trust_env=False, timeout=1) as client:
        while True:
            if not thread.is_alive():  # uvicorn gives up when it cannot bind
                raise SystemExit(
                    f"omnistream: the demo sandbox could not listen at {url} (in use? "
                    "choose another port with OMNISTREAM_SANDBOX_PORT, e.g. "
                    "`OMNISTREAM_SANDBOX_PORT=8788 make run`, or serve --sandbox-port)"
                )
            try:
                if client.get(f"{url}/_sandbox/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"omnistream: the demo sandbox did not answer at {url} within "
                    f"{SANDBOX_START_SECONDS:.0f} s"
                )
            time.sleep(0.02)


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


async def prepare(
    settings: Settings, dsn: str, sandbox_url: str, mailbox: DemoMailbox | None
) -> tuple[bool, str | None]:
    """(whether the sandbox's integrations were created, what became of the demo mailbox's:
    "created", "updated" or None), on a pool of its own (before the server starts)."""
    pool = await create_pool(dsn, 1, 2)
    try:
        box = box_from(settings)
        meta = await ensure_integrations(pool, box, sandbox_url)
        mail = None if mailbox is None else await ensure_mailbox(pool, box, mailbox)
        return meta, mail
    finally:
        await pool.close()


async def ensure_mailbox(pool: Pool, box: SecretBox, mailbox: DemoMailbox) -> str | None:
    """The demo email integration: "created" when there is no email integration yet,
    "updated" (this run's ports and password) when the demo mailbox's account exists, else
    None (an installation with email integrations of its own gets no demo one)."""
    credentials = mailbox.credentials()
    async with transaction(pool) as tx:
        found = await queries.account_by_external_id(tx.conn, ["email"], mailbox.address)
        if found is not None:
            integration_id = found["integration_id"]
            await queries.update(
                tx.conn,
                integration_id,
                name=None,
                is_active=None,
                credentials=seal(box, Channel.EMAIL, integration_id, credentials),
                reset_health=True,
            )
            return "updated"
        if await queries.count_integrations(tx.conn, Channel.EMAIL.value) > 0:
            return None
        integration_id = uuid4()
        await queries.insert(
            tx.conn,
            integration_id,
            channel=Channel.EMAIL.value,
            name="Demo Email (local Dovecot)",
            is_active=True,
            credentials=seal(box, Channel.EMAIL, integration_id, credentials),
        )
        await queries.insert_account(
            tx.conn,
            integration_id,
            external_id=mailbox.address,
            display_name="Demo Support",
            is_default=True,
            send_rate_per_second=80,
        )
    log.info("demo email integration created", extra={"mailbox": mailbox.address})
    return "created"


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
