"""The email_inbound worker loop against a real Dovecot: a mail appended while it waits in
IDLE is imported within seconds; a failing account's error is recorded; a server restart is
survived (reconnection with backoff) and the error cleared; a mail server on a private or
loopback address is refused without OMNISTREAM_ALLOW_PRIVATE_URLS."""

from __future__ import annotations

import asyncio
import time

from asyncpg import Record

from omnistream.channels.email import inbound_queries
from omnistream.channels.email.imap import Backoff
from omnistream.channels.email.inbound_worker import email_inbound_loop, run_account
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.integrations.credentials import seal, unseal
from omnistream.kit.enums import Channel
from tests.channels.email.dovecot import Dovecot, MailUser
from tests.channels.email.importing import fetch, mail, make_account, messages, wait_for


async def recorded_error(ctx: AppContext) -> Record:
    """The account's cursor row once the loop has recorded an error on it."""

    async def recorded() -> bool:
        rows = await fetch(ctx, "SELECT last_error FROM email_import_cursors")
        return bool(rows and rows[0]["last_error"])

    await wait_for(recorded, 10)
    (row,) = await fetch(ctx, "SELECT last_error FROM email_import_cursors")
    return row


async def test_the_worker_loop_picks_up_a_mail_while_it_idles(
    ctx: AppContext, private: Settings, dovecot: Dovecot, mail_user: MailUser
) -> None:
    await make_account(ctx, dovecot, mail_user)
    await dovecot.append(mail(body="Before the worker."), mail_user)
    stop = asyncio.Event()
    loop = asyncio.create_task(email_inbound_loop(ctx.pool, ctx.settings, stop))
    try:

        async def count(n: int) -> bool:
            return len(await messages(ctx)) == n

        await wait_for(lambda: count(1), 10)
        await asyncio.sleep(0.5)  # in IDLE by now
        started = time.monotonic()
        await dovecot.append(mail(body="While it waits."), mail_user)
        await wait_for(lambda: count(2), 5)
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        await asyncio.wait_for(loop, 15)


async def test_the_worker_loop_records_a_failing_account(
    ctx: AppContext, private: Settings, dovecot: Dovecot, mail_user: MailUser
) -> None:
    await make_account(ctx, dovecot, mail_user, password="wrong password")
    stop = asyncio.Event()
    loop = asyncio.create_task(email_inbound_loop(ctx.pool, ctx.settings, stop))
    try:
        row = await recorded_error(ctx)
        assert "login" in row["last_error"].lower()
        # Only an admin can fix it: shown as the integration's health (password redacted).
        (health,) = await fetch(ctx, "SELECT health, health_error FROM integrations")
        assert health["health"] == "auth_failed", dict(health)
        assert health["health_error"].startswith("import: IMAP login failed")
        assert "wrong password" not in health["health_error"]
    finally:
        stop.set()
        await asyncio.wait_for(loop, 15)


async def test_the_worker_loop_reconnects_after_the_server_restarts(
    ctx: AppContext, private: Settings, own_dovecot: Dovecot
) -> None:
    user = own_dovecot.add_user()
    await make_account(ctx, own_dovecot, user)
    await own_dovecot.append(mail(body="Before the restart."), user)
    stop = asyncio.Event()
    loop = asyncio.create_task(email_inbound_loop(ctx.pool, ctx.settings, stop))
    try:

        async def count(n: int) -> bool:
            return len(await messages(ctx)) == n

        async def error_is(expected: bool) -> bool:
            rows = await fetch(ctx, "SELECT last_error FROM email_import_cursors")
            return bool(rows) and (rows[0]["last_error"] is not None) == expected

        await wait_for(lambda: count(1), 10)
        await asyncio.to_thread(own_dovecot.stop)
        await wait_for(lambda: error_is(True), 10)  # the IDLE connection dropped: recorded
        # ... as the account's error only: reconnecting fixes it, no admin needed.
        assert (await fetch(ctx, "SELECT health FROM integrations"))[0]["health"] == "unknown"
        await asyncio.to_thread(own_dovecot.start)
        await own_dovecot.append(mail(body="After the restart."), user)
        await wait_for(lambda: count(2), 20)  # reconnected with backoff, imported
        await wait_for(lambda: error_is(False), 5)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 15)


async def test_the_worker_loop_records_unusable_credentials(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    await make_account(ctx, dovecot, mail_user)
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE integrations SET credentials_json = credentials_json - 'imap_password'"
        )
    stop = asyncio.Event()
    loop = asyncio.create_task(email_inbound_loop(ctx.pool, ctx.settings, stop))
    try:
        row = await recorded_error(ctx)
        assert row["last_error"].startswith("configuration:")
        assert "imap_password" in row["last_error"]
        (health,) = await fetch(ctx, "SELECT health, health_error FROM integrations")
        assert health["health"] == "misconfigured"
        assert "imap_password" in health["health_error"]
    finally:
        stop.set()
        await asyncio.wait_for(loop, 15)


async def test_the_worker_loop_refuses_private_addresses_unless_allowed(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    """ctx.settings as in production (no OMNISTREAM_ALLOW_PRIVATE_URLS): the loopback Dovecot,
    then a 10.x host, are refused before connecting, named in last_error; nothing imported."""
    account = await make_account(ctx, dovecot, mail_user)
    await dovecot.append(mail(body="Never imported."), mail_user)
    assert not ctx.settings.allow_private_urls
    for host, tls in ((dovecot.host, "none"), ("10.20.30.40", "implicit")):
        async with ctx.pool.acquire() as conn:
            stored = await conn.fetchval(
                "SELECT credentials_json FROM integrations WHERE id = $1", account.integration_id
            )
            values = unseal(ctx.box, Channel.EMAIL, account.integration_id, stored)
            await conn.execute(
                "UPDATE integrations SET credentials_json = $2 WHERE id = $1",
                account.integration_id,
                seal(
                    ctx.box,
                    Channel.EMAIL,
                    account.integration_id,
                    {**values, "imap_host": host, "imap_tls": tls},
                ),
            )
            await conn.execute("DELETE FROM email_import_cursors")
        stop = asyncio.Event()
        loop = asyncio.create_task(email_inbound_loop(ctx.pool, ctx.settings, stop))
        try:
            error = (await recorded_error(ctx))["last_error"]
            assert error.startswith(f"IMAP connect failed: {host} resolves to {host}"), error
            assert "OMNISTREAM_ALLOW_PRIVATE_URLS" in error
            assert await messages(ctx) == []
            (health,) = await fetch(ctx, "SELECT health, health_error FROM integrations")
            assert (health["health"], health["health_error"]) == ("unreachable", f"import: {error}")
        finally:
            stop.set()
            await asyncio.wait_for(loop, 15)


async def test_a_fixed_permanent_failure_clears_the_integrations_health(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    """A missing folder marks the integration misconfigured; once it exists (the next try,
    after the permanent backoff) the import works and the health is ok again."""
    await make_account(ctx, dovecot, mail_user, folder="Support")
    async with ctx.pool.acquire() as conn:
        (row,) = await inbound_queries.active_accounts(conn)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_account(
            ctx.pool, ctx.box, row, stop, allow_private=True, backoff=Backoff(permanent=0.5)
        )
    )
    try:

        async def health_is(expected: str) -> bool:
            (found,) = await fetch(ctx, "SELECT health FROM integrations")
            return bool(found["health"] == expected)

        await wait_for(lambda: health_is("misconfigured"), 10)
        (found,) = await fetch(ctx, "SELECT health_error FROM integrations")
        assert found["health_error"].startswith("import: IMAP folder failed")
        await dovecot.create_folder("Support", mail_user)
        await wait_for(lambda: health_is("ok"), 10)
        (found,) = await fetch(ctx, "SELECT health_error FROM integrations")
        assert found["health_error"] is None
        rows = await fetch(ctx, "SELECT last_error FROM email_import_cursors")
        assert rows[0]["last_error"] is None
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
