"""A mailbox's first import takes only recent mail (imap_backfill_days, default 7), against a
real Dovecot and PostgreSQL: mails whose INTERNALDATE is older are left out (counted in the
stats), 0 days imports only what arrives after the first connection, the starting point is
stored at once and kept (a restart, a changed setting, the worker loop restarted), and later
imports go by UID: an old-dated mail arriving later is imported."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from omnistream.channels.email import inbound_queries
from omnistream.channels.email.inbound import EmailAccount, load_account
from omnistream.channels.email.inbound_worker import email_inbound_loop
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.integrations.credentials import seal
from omnistream.kit.enums import Channel
from tests.channels.email.dovecot import Dovecot, MailUser
from tests.channels.email.importing import (
    fetch,
    mail,
    make_account,
    messages,
    run_import,
    wait_for,
)


async def texts(ctx: AppContext) -> list[str]:
    return [r["content"]["text"].strip() for r in await messages(ctx)]


async def change_credentials(
    ctx: AppContext, account: EmailAccount, **changes: Any
) -> EmailAccount:
    """The integration's credentials changed as a PATCH would (sealed), and reloaded."""
    integration_id = account.integration_id
    async with ctx.pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT credentials_json FROM integrations WHERE id = $1", integration_id
        )
        await conn.execute(
            "UPDATE integrations SET credentials_json = $2 WHERE id = $1",
            integration_id,
            seal(ctx.box, Channel.EMAIL, integration_id, changes, stored),
        )
    return await load_account(ctx.pool, ctx.box, account.id)


async def cursor(ctx: AppContext) -> tuple[int, int]:
    (row,) = await fetch(ctx, "SELECT uidvalidity, last_uid FROM email_import_cursors")
    return row["uidvalidity"], row["last_uid"]


async def test_the_first_import_leaves_out_mail_older_than_seven_days(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser, caplog: pytest.LogCaptureFixture
) -> None:
    account = await make_account(ctx, dovecot, mail_user)  # imap_backfill_days unset: 7
    for n, days_ago in enumerate((30, 45, 9)):
        await dovecot.append_dated(mail(f"Old{n} <old{n}@example.com>", body=f"Old {n}"),
                                   mail_user, days_ago=days_ago)  # fmt: skip
    last_old = await dovecot.append_dated(mail(body="Old 3"), mail_user, days_ago=30)
    await dovecot.append_dated(mail("Siti <siti@example.org>", body="Two days ago"), mail_user, 2)
    await dovecot.append(mail(body="Today"), mail_user)
    with caplog.at_level(logging.INFO, logger="omnistream.channels.email.importer"):
        stats = await run_import(account, ctx)
    assert (stats.fetched, stats.stored, stats.left_out) == (2, 2, 4)
    assert await texts(ctx) == ["Two days ago", "Today"]
    assert len(await fetch(ctx, "SELECT 1 FROM conversations")) == 2  # none for the old mail
    (logged,) = [r for r in caplog.records if r.getMessage().startswith("email import: first")]
    found = [getattr(logged, name) for name in ("left_out", "backfill_days", "after_uid")]
    assert found == [4, 7, last_old]
    # Later imports go by UID: an old-dated mail arriving now (moved in from an archive) is
    # new to the folder and imported; nothing is left out any more.
    await dovecot.append_dated(mail(body="Moved in from the archive"), mail_user, days_ago=300)
    again = await run_import(account, ctx)
    assert (again.stored, again.left_out) == (1, 0)
    assert (await texts(ctx))[-1] == "Moved in from the archive"


async def test_zero_days_imports_only_mail_arriving_after_the_first_connection(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account = await make_account(ctx, dovecot, mail_user, credentials={"imap_backfill_days": 0})
    assert account.imap.backfill_days == 0
    uids = await dovecot.append_all([mail(body="Already there"), mail(body="This too")], mail_user)
    stats = await run_import(account, ctx)
    assert (stats.fetched, stats.left_out) == (0, 2)
    assert await messages(ctx) == []
    # The start is stored at once: a restart (a new connection) continues from it instead of
    # starting after what is in the folder by then.
    assert await cursor(ctx) == (await dovecot.uidvalidity(mail_user), uids[-1])
    await dovecot.append(mail(body="After the first connection"), mail_user)
    stats = await run_import(account, ctx)
    assert (stats.stored, stats.left_out) == (1, 0)
    assert await texts(ctx) == ["After the first connection"]


async def test_the_start_is_kept_when_an_import_stops_midway_and_the_setting_changes(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account = await make_account(ctx, dovecot, mail_user)
    await dovecot.append_dated(mail(body="Old"), mail_user, days_ago=30)
    await dovecot.append_all([mail(body=f"Recent {n}") for n in range(3)], mail_user)
    first = await run_import(account, ctx, batch_size=1, max_batches=1)  # then a crash
    assert (first.stored, first.left_out) == (1, 1)
    # Changed to 0 days meanwhile: it counts for a first import only; this one continues.
    changed = await change_credentials(ctx, account, imap_backfill_days=0)
    assert changed.imap.backfill_days == 0
    rest = await run_import(changed, ctx)
    assert (rest.stored, rest.left_out) == (2, 0)
    assert await texts(ctx) == ["Recent 0", "Recent 1", "Recent 2"]


async def test_an_error_row_is_no_cursor(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    """A connection that failed before any import leaves a cursor row with UIDVALIDITY 0:
    the next import is still the first one (not one from UID 0, which would take it all)."""
    account = await make_account(ctx, dovecot, mail_user)
    async with ctx.pool.acquire() as conn:
        await inbound_queries.record_error(conn, account.id, "IMAP connect failed: refused")
    await dovecot.append_dated(mail(body="Old"), mail_user, days_ago=30)
    await dovecot.append(mail(body="New"), mail_user)
    stats = await run_import(account, ctx)
    assert (stats.stored, stats.left_out) == (1, 1)
    assert await texts(ctx) == ["New"]


async def test_the_worker_loop_keeps_the_start_across_a_restart(
    ctx: AppContext, private: Settings, dovecot: Dovecot, mail_user: MailUser
) -> None:
    """0 days and the real worker: the first run stores the start and imports nothing; mail
    arriving while no worker runs is imported by the next run (not left out by a new start)."""
    await make_account(ctx, dovecot, mail_user, credentials={"imap_backfill_days": 0})
    before = await dovecot.append(mail(body="Before the worker"), mail_user)

    async def run_until(predicate: Callable[[], Awaitable[bool]]) -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(email_inbound_loop(ctx.pool, ctx.settings, stop))
        try:
            await wait_for(predicate, 10)
        finally:
            stop.set()
            await asyncio.wait_for(loop, 15)

    async def started() -> bool:
        rows = await fetch(ctx, "SELECT last_uid FROM email_import_cursors WHERE uidvalidity > 0")
        return bool(rows) and rows[0]["last_uid"] == before

    await run_until(started)
    await dovecot.append(mail(body="While the worker was stopped"), mail_user)

    async def imported() -> bool:
        return await texts(ctx) == ["While the worker was stopped"]

    await run_until(imported)
    assert await texts(ctx) == ["While the worker was stopped"]
