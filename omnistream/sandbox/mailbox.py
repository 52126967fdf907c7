"""`make run`'s demo mailbox, when Dovecot 2.3 is installed (Debian's dovecot-imapd): a
Dovecot on a loopback port with a temporary configuration and mail directory, holding the
mailbox support@demo.omnistream.test (which OmniStream imports over IMAP) with a few customer
mails in it, and an SMTP sink on another loopback port for what the mailbox sends. Each mail
sent is put into a second Dovecot user, "customers", so a reply can be read there with any
mail client (IMAP 127.0.0.1:<port>, the login printed at start).

Without Dovecot the demo simply has no email account (`running_demo_mailbox` yields None).
Everything is temporary: a new port, password and mail directory on each start (the demo
integration's credentials are updated to them; mails imported before are not imported twice).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from typing import Any

from omnistream.sandbox import dovecot
from omnistream.sandbox.dovecot import Dovecot, MailUser
from omnistream.sandbox.smtp_sink import running_sink

log = logging.getLogger(__name__)
ADDRESS = "support@demo.omnistream.test"
CUSTOMERS_USER = "customers"
FROM_NAME = "Demo Support"

# (name, address, subject, text, html or None): the customers' first mails.
MAILS = [
    (
        "Rina Wijaya",
        "rina.wijaya@customer.example",
        "Pesanan #1042 belum sampai",
        "Halo,\n\nPesanan saya #1042 dikirim seminggu lalu tapi belum sampai. "
        "Bisa dicek posisinya?\n\nTerima kasih,\nRina",
        None,
    ),
    (
        "Tom Becker",
        "tom.becker@customer.example",
        "Invoice for my last order",
        "Hello,\n\nCould you send me an invoice with our company name for order #1039?\n\n"
        "Best regards,\nTom Becker\nBecker Trading GmbH",
        "<p>Hello,</p><p>Could you send me an invoice with our company name for order "
        "<b>#1039</b>?</p><p>Best regards,<br>Tom Becker<br><i>Becker Trading GmbH</i></p>",
    ),
]


@dataclass(frozen=True)
class DemoMailbox:
    """Where the demo mailbox is this run: Dovecot (its IMAP port) and the SMTP sink's port."""

    server: Dovecot
    support: MailUser
    customers: MailUser
    smtp_port: int
    address: str = ADDRESS
    host: str = "127.0.0.1"

    async def customers_write_in(self) -> None:
        """Appends the customers' mails to the mailbox over IMAP (the import worker, in
        IDLE on it, takes them at once)."""
        try:
            await self.server.append_all(demo_mails(), self.support)
        except (OSError, RuntimeError):
            log.warning("demo: the customers' mails could not be appended", exc_info=True)

    def credentials(self) -> dict[str, Any]:
        """The email integration's credentials (SMTP logs in as the IMAP user)."""
        return {
            "imap_host": self.host,
            "imap_port": self.server.port,
            "imap_tls": "none",  # loopback only
            "imap_username": self.address,
            "imap_password": self.support.password,
            "smtp_host": self.host,
            "smtp_port": self.smtp_port,
            "smtp_tls": "none",
            "from_name": FROM_NAME,
        }


def demo_mails() -> list[bytes]:
    """The customers' mails, with fixed Message-IDs (imported once however often appended)."""
    raws = []
    for index, (name, address, subject, text, html) in enumerate(MAILS, start=1):
        mail = EmailMessage()
        mail["From"] = f"{name} <{address}>"
        mail["To"] = f"{FROM_NAME} <{ADDRESS}>"
        mail["Subject"] = subject
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = f"<demo-{index}@customer.example>"
        mail.set_content(text)
        if html is not None:
            mail.add_alternative(html, subtype="html")
        raws.append(mail.as_bytes(policy=SMTP))
    return raws


@contextmanager
def running_demo_mailbox() -> Iterator[DemoMailbox | None]:
    """The demo mailbox (empty: `customers_write_in` once the server runs) and the SMTP
    sink; stopped and removed on exit. None (logged) when Dovecot is missing or cannot
    start."""
    if not dovecot.available():
        log.info("demo: no email account (Dovecot 2.3 is not installed)")
        yield None
        return
    users: dict[str, MailUser] = {}

    def add_users(server: Dovecot) -> None:
        for name in (ADDRESS, CUSTOMERS_USER):
            users[name] = server.named_user(name)

    with ExitStack() as stack:
        mailbox: DemoMailbox | None = None
        try:
            server = stack.enter_context(dovecot.running_dovecot(Dovecot, add_users))
            support, customers = users[ADDRESS], users[CUSTOMERS_USER]

            async def deliver(sender: str, recipients: list[str], data: bytes) -> None:
                await server.append(data, customers)
                log.info("demo: a sent mail is in the customers mailbox", extra={"to": recipients})

            smtp_port = stack.enter_context(running_sink(support.name, support.password, deliver))
            mailbox = DemoMailbox(server, support, customers, smtp_port)
        except (OSError, RuntimeError) as exc:  # a broken Dovecot: the demo goes on without
            log.warning("demo: no email account (the local Dovecot did not start: %s)", exc)
            stack.close()
        yield mailbox
