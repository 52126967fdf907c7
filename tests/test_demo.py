"""`serve --demo` (make run): the sandbox process answers before the demo integrations are
made, and their first template sync succeeds at once; with Dovecot, the demo mailbox is an
email integration whose customer mails are imported and whose replies are delivered."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import pytest

from omnistream import demo
from omnistream.channels.email.imap import ImapSettings, Mailbox
from omnistream.channels.email.inbound_worker import email_inbound_loop
from omnistream.context import AppContext
from omnistream.messages.senders import meta_registry
from omnistream.messages.worker import send_due
from omnistream.sandbox import dovecot
from omnistream.sandbox.mailbox import MAILS, running_demo_mailbox
from omnistream.templates.worker import sync_tick
from tests.conftest import Agent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_demo_setup_syncs_templates_at_once(ctx: AppContext) -> None:
    with demo.sandbox_process(free_port(), "http://127.0.0.1:9/webhooks/meta") as url:
        # Listening when the context is entered: no retry loop needed by the caller.
        async with httpx.AsyncClient(trust_env=False, timeout=1) as client:
            health = await client.get(f"{url}/_sandbox/health")
        assert health.status_code == 200 and health.json()["accounts"] == 3

        assert await demo.ensure_integrations(ctx.pool, ctx.box, url) is True
        assert await demo.ensure_integrations(ctx.pool, ctx.box, url) is False  # once only
        async with ctx.pool.acquire() as conn:
            made = await conn.fetch(
                "SELECT i.channel, i.is_active, a.external_id FROM integrations i "
                "JOIN integration_accounts a ON a.integration_id = i.id ORDER BY i.channel"
            )
        assert [(r["channel"], r["is_active"], r["external_id"]) for r in made] == [
            ("instagram", True, "400000000000001"),
            ("messenger", True, "300000000000001"),
            ("whatsapp", True, "100000000000001"),
        ]

        settings = ctx.settings.model_copy(update={"allow_private_urls": True})  # as serve does
        assert await sync_tick(ctx.pool, settings, ctx.box) == 1  # the WhatsApp integration
        async with ctx.pool.acquire() as conn:
            sync = await conn.fetchrow("SELECT succeeded_at, error FROM wa_template_syncs")
            names = await conn.fetch("SELECT name FROM wa_templates ORDER BY name")
        assert sync is not None and sync["error"] is None and sync["succeeded_at"] is not None
        assert "hello_world" in {r["name"] for r in names}


def test_a_sandbox_that_cannot_start_is_reported() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # Something else holds the port and answers no health check: the sandbox exits.
        with (
            pytest.raises(
                SystemExit, match=r"demo sandbox could not listen .*OMNISTREAM_SANDBOX_PORT"
            ),
            demo.sandbox_process(port, "http://127.0.0.1:9/webhooks/meta"),
        ):
            pass


def test_sandbox_is_stopped_on_exit_and_keeps_its_info_lines_to_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with demo.sandbox_process(free_port(), "http://127.0.0.1:9/webhooks/meta") as url:
        pass
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/_sandbox/health", timeout=1, trust_env=False)
    # "Uvicorn running on ..." of the sandbox would read as OmniStream's own server.
    assert not [r for r in caplog.records if r.threadName == demo.SANDBOX_THREAD]
    # The filter is gone again: uvicorn.error's lines get through (read by a handler of its
    # own, whatever level or propagation earlier tests left on the logger).
    seen: list[logging.LogRecord] = []
    catcher = logging.Handler(logging.INFO)
    catcher.emit = seen.append  # type: ignore[method-assign]
    uvicorn_error = logging.getLogger("uvicorn.error")
    level = uvicorn_error.level
    uvicorn_error.addHandler(catcher)
    uvicorn_error.setLevel(logging.INFO)
    try:
        uvicorn_error.info("still logged")
    finally:
        uvicorn_error.removeHandler(catcher)
        uvicorn_error.setLevel(level)
    assert [r.getMessage() for r in seen] == ["still logged"]
    quiet = demo._QuietSandboxThread
    assert not [
        f
        for name in demo.QUIETED_LOGGERS
        for f in logging.getLogger(name).filters
        if isinstance(f, quiet)
    ]


async def test_the_demo_mailbox_imports_customer_mail_and_takes_replies(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent
) -> None:
    """With Dovecot installed (`make test` installs it, as for the email tests): the demo
    mailbox becomes an email integration (its credentials renewed on the next start), the
    customers' mails are imported by the worker loop, and a reply reaches the SMTP sink,
    which puts it into the local "customers" mailbox."""
    allowed = ctx.settings.model_copy(update={"allow_private_urls": True})  # as serve does
    with running_demo_mailbox() as mailbox:
        assert mailbox is not None, "Dovecot 2.3 is needed (make dovecot)"
        assert await demo.ensure_mailbox(ctx.pool, ctx.box, mailbox) == "created"
        assert await demo.ensure_mailbox(ctx.pool, ctx.box, mailbox) == "updated"
        await mailbox.customers_write_in()
        stop = asyncio.Event()
        loop = asyncio.create_task(email_inbound_loop(ctx.pool, allowed, stop))
        try:
            deadline = time.monotonic() + 15
            while len(rows := await inbound_mails(ctx)) < len(MAILS):
                assert time.monotonic() < deadline, rows
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(loop, 15)
        assert sorted(r["content"]["subject"] for r in rows) == sorted(m[2] for m in MAILS)
        tom = next(r for r in rows if r["content"]["from"]["name"] == "Tom Becker")
        assert "#1039" in tom["content"]["text"] and tom["content"]["html"]

        r = await client.post(
            f"/api/v1/conversations/{tom['conversation_id']}/messages",
            json={"type": "text", "text": "Here is your invoice."},
            headers=admin.headers,
        )
        assert r.status_code == 201, r.text
        async with meta_registry(ctx.pool, allowed) as channels:
            assert await send_due(ctx.pool, allowed, channels) == 1
        async with ctx.pool.acquire() as conn:
            status = await conn.fetchval(
                "SELECT status FROM messages WHERE id = $1", UUID(r.json()["id"])
            )
        assert status == "sent"
        customers = ImapSettings(
            mailbox.host,
            mailbox.server.port,
            "none",
            mailbox.customers.name,
            mailbox.customers.password,
            allow_private=True,
        )
        async with Mailbox(customers) as box:
            (sent,) = await box.fetch_after(0)
        reply = BytesParser(policy=policy.default).parsebytes(sent.raw)
        assert reply["Subject"] == "Re: Invoice for my last order"
        assert reply["To"] == "tom.becker@customer.example"
        assert "Demo Support" in reply["From"] and mailbox.address in reply["From"]


async def test_an_installation_with_its_own_mailbox_gets_no_demo_one(ctx: AppContext) -> None:
    with running_demo_mailbox() as mailbox:
        assert mailbox is not None
        async with ctx.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO integrations (channel, name, credentials_json) "
                "VALUES ('email', 'Ours', '{}')"
            )
        assert await demo.ensure_mailbox(ctx.pool, ctx.box, mailbox) is None


def test_without_dovecot_the_demo_has_no_mailbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dovecot, "DOVECOT", Path("/nonexistent/dovecot"))
    with running_demo_mailbox() as mailbox:
        assert mailbox is None


async def inbound_mails(ctx: AppContext) -> list[asyncpg.Record]:
    async with ctx.pool.acquire() as conn:
        return await conn.fetch(
            "SELECT conversation_id, content FROM messages "
            "WHERE channel = 'email' AND direction = 'inbound'"
        )
