"""The stack of the email browser tests (test_email.py): a scratch database, the first
admin, an email integration whose mailbox is a Dovecot user and whose SMTP server is aiosmtpd,
and `omnistream serve --with-worker` started after it (the worker looks for new email accounts
only every 30 seconds, so the account exists before it starts); mails written as customers'
mail clients write them."""

from __future__ import annotations

import asyncio
import math
import secrets
import struct
import subprocess
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from pathlib import Path

import asyncpg
import httpx

from omnistream.db.pool import init_connection
from omnistream.kit.crypto import SecretBox
from tests.browser.conftest import ARTIFACTS, PASSWORD
from tests.channels.email.dovecot import Dovecot, MailUser
from tests.channels.email.mailboxes import credentials, insert_email_integration
from tests.channels.email.smtp_server import ReceivedMail, RecordingSmtpServer
from tests.processes import CLI, create_admin, free_port, omnistream_env, stop, wait_http
from tests.testdb import with_database

SUPPORT = "support@omnistream.test"
CUSTOMER = "budi@example.id"
ADMIN = "admin@example.com"
SECRET = "email-browser-"  # + "s" * 40: the stack's OMNISTREAM_SECRET_KEY (omnistream_env)
REMOTE_IMAGE = "https://images.example.test/paket.png"
UPLOAD_MAX = 64 * 1024  # the stack's file size limit: a bigger attachment is not imported
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png() -> bytes:
    """A 1x1 PNG (a real one: the upload checks what a file is)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x88\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@dataclass
class EmailStack:
    url: str
    dovecot: Dovecot
    user: MailUser
    smtp: RecordingSmtpServer
    http: httpx.AsyncClient
    last_date: int = 0

    async def deliver(
        self,
        subject: str,
        text: str,
        *,
        html: str | None = None,
        in_reply_to: str | None = None,
        sender: str = f"Budi Santoso <{CUSTOMER}>",
        inline_png: bytes | None = None,
        files: dict[str, bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """A customer's mail, appended to the support mailbox; its Message-ID."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = SUPPORT
        message["Subject"] = subject
        message_id = f"<c.{secrets.token_hex(6)}@example.id>"
        message["Message-ID"] = message_id
        # Dated in whole seconds, the next one to come: after all that happened so far.
        self.last_date = max(self.last_date + 1, math.ceil(time.time()))
        message["Date"] = formatdate(self.last_date, usegmt=True)
        for name, value in (headers or {}).items():
            message[name] = value
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        if inline_png is not None:  # the HTML's <img src="cid:logo@toko">
            html_part = message.get_payload()[1]
            html_part.add_related(
                inline_png, "image", "png", cid="<logo@toko>", filename="logo.png"
            )
        for name, data in (files or {}).items():
            message.add_attachment(data, "application", "pdf", filename=name)
        raw = message.as_bytes(policy=SMTP)
        if in_reply_to:  # written as mail clients do (the email package would encode it)
            raw = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n".encode() + raw
        await self.dovecot.append(raw, self.user)
        return message_id

    async def sent_mail(self, to: str, count: int, within: float = 15) -> ReceivedMail:
        """The `count`-th mail the SMTP server received for `to`."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            mails = [m for m in self.smtp.received if to in m.rcpt_tos]
            if len(mails) >= count:
                return mails[count - 1]
            await asyncio.sleep(0.1)
        raise AssertionError(f"no mail #{count} to {to}: {self.smtp.received}")


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = ARTIFACTS / "email-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", "--with-worker", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", proc, log)
    except BaseException:
        stop(proc)
        raise
    return proc, f"http://127.0.0.1:{port}"


async def _email_account(dsn: str, dovecot: Dovecot, user: MailUser, smtp_port: int) -> None:
    """An email integration with one account (the support address), as the API stores it."""
    values = credentials(
        smtp_port, **dovecot.credentials(user), imap_folder="INBOX", from_name="Toko Support"
    )
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        await insert_email_integration(conn, SecretBox(SECRET + "s" * 40), values, mailbox=SUPPORT)
    finally:
        await conn.close()


@asynccontextmanager
async def running_email_stack(
    admin_dsn: str, data: Path, dovecot: Dovecot, smtp: RecordingSmtpServer
) -> AsyncIterator[EmailStack]:
    """The stack on a database of its own (dropped afterwards), for a new Dovecot user."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    user = dovecot.add_user()
    name = f"omnistream_email_browser_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    dsn = with_database(admin_dsn, name)
    proc = None
    try:
        env = omnistream_env(dsn, data, SECRET, upload_max_bytes=str(UPLOAD_MAX))
        await asyncio.to_thread(create_admin, env, ADMIN, "Ada Admin", PASSWORD)
        await _email_account(dsn, dovecot, user, smtp.port)
        proc, url = await asyncio.to_thread(_serve, env)
        async with httpx.AsyncClient(base_url=url, timeout=20, trust_env=False) as http:
            yield EmailStack(url, dovecot, user, smtp, http)
    finally:
        if proc is not None:
            await asyncio.to_thread(stop, proc)
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
