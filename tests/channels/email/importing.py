"""Helpers of the email import tests: an email account for a Dovecot user, mails as clients
write them, running an import, reading what was stored."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import asyncpg

from omnistream.channels.email.imap import Mailbox
from omnistream.channels.email.importer import ImportStats, import_new
from omnistream.channels.email.inbound import EmailAccount, load_account
from omnistream.context import AppContext
from tests.channels.email import mailboxes
from tests.channels.email.dovecot import Dovecot, MailUser

CORPUS = Path(__file__).parent / "corpus"
SUPPORT = "support@omnistream.test"


async def make_account(
    ctx: AppContext,
    dovecot: Dovecot,
    user: MailUser,
    *,
    folder: str = "INBOX",
    password: str | None = None,
    credentials: dict[str, Any] | None = None,
) -> EmailAccount:
    """An active email integration for this Dovecot user, straight into the tables
    (`credentials`: more fields, e.g. imap_backfill_days)."""
    values: dict[str, Any] = {
        **dovecot.credentials(user),
        "imap_folder": folder,
        "smtp_host": "127.0.0.1",
        "smtp_port": 2525,
        **(credentials or {}),
    }
    if password:
        values["imap_password"] = password
    account = await mailboxes.email_integration(ctx, values, mailbox=SUPPORT, display_name="")
    return await load_account(ctx.pool, ctx.box, account.account_id)


async def sending_account(
    ctx: AppContext, dovecot: Dovecot, user: MailUser, smtp_port: int
) -> EmailAccount:
    """make_account whose SMTP is the tests' recorder on `smtp_port` (its login, a From name:
    mailboxes.credentials)."""
    values = mailboxes.credentials(smtp_port, **dovecot.credentials(user))
    return await make_account(ctx, dovecot, user, credentials=values)


def mail(
    sender: str = "Budi Santoso <Budi@Example.com>",
    subject: str = "Pesanan saya",
    body: str = "Halo, pesanan #12 belum sampai.",
    *,
    message_id: str | None = "",
    in_reply_to: str | None = None,
    references: str | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = subject
    if message_id is not None:
        message["Message-ID"] = message_id or f"<m.{time.time_ns()}@example.com>"
    message.set_content(body)
    raw = message.as_bytes(policy=SMTP)
    # Written as mail clients do (the email package would encode our long ids as words).
    extra = (f"In-Reply-To: {in_reply_to}\r\n" if in_reply_to else "") + (
        f"References: {references}\r\n" if references else ""
    )
    return extra.encode() + raw


async def run_import(account: EmailAccount, ctx: AppContext, **options: Any) -> ImportStats:
    options.setdefault("media_dir", ctx.settings.media_dir)
    async with Mailbox(replace(account.imap, allow_private=True)) as box:  # loopback
        return await import_new(ctx.pool, account, box, **options)


async def fetch(ctx: AppContext, sql: str, *args: Any) -> list[asyncpg.Record]:
    async with ctx.pool.acquire() as conn:
        return await conn.fetch(sql, *args)


async def messages(ctx: AppContext) -> list[asyncpg.Record]:
    return await fetch(
        ctx,
        "SELECT m.*, c.status AS conversation_status, c.contact_id FROM messages m "
        "JOIN conversations c ON c.id = m.conversation_id ORDER BY m.created_at, m.id",
    )


async def event_types(ctx: AppContext) -> list[str]:
    return [r["type"] for r in await fetch(ctx, "SELECT type FROM event_outbox ORDER BY pos")]


async def wait_for(predicate: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
