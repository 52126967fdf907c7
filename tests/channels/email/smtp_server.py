"""A real SMTP server for the outbound email tests: aiosmtpd on 127.0.0.1 (a free port),
recording every mail it accepts (envelope and raw bytes), with AUTH PLAIN / LOGIN for a
test user, and answers that a test can choose: a reply for given recipients, replies for
the next DATA commands, a per-connection mail limit, hanging up after a mail.

Use `running_smtp_server()` in a fixture of the test module, or the `smtp` fixture (AUTH
required; the email tests' conftest has it, elsewhere import `smtp_fixture`); the server is
stopped whatever happens. `self_signed_certificate` makes a certificate for STARTTLS and
implicit-TLS servers (trusted by the client through `SmtpSettings.ca_file`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from omnistream.channels.email.smtp import SmtpSettings
from omnistream.sandbox.smtp_sink import AnyPortController, authenticator

TEST_USER = "support@omnistream.test"
TEST_PASSWORD = "smtp-test-password"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # as received, dot-unstuffed, CRLF line endings
    peer: tuple[str, int]  # the client's address: one per connection
    login: str | None  # the authenticated user, if any

    def message(self) -> EmailMessage:
        parsed: EmailMessage = BytesParser(policy=policy.default).parsebytes(self.data)
        return parsed


@dataclass
class RecordingHandler:
    """aiosmtpd handler hooks; the attributes below steer the answers."""

    received: list[ReceivedMail] = field(default_factory=list)
    recipient_replies: dict[str, str] = field(default_factory=dict)  # address -> RCPT reply
    data_replies: deque[str] = field(default_factory=deque)  # the next DATA replies
    mails_per_connection: int | None = None  # beyond it: 421 to MAIL
    hang_up_after: int | None = None  # close each connection after this many mails

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if (
            self.mails_per_connection is not None
            and _accepted_on(session) >= self.mails_per_connection
        ):
            return "421 4.7.0 too many mails on one connection, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.recipient_replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.popleft()
        assert isinstance(envelope.original_content, bytes)
        auth_data = session.auth_data
        login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else None
        self.received.append(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=envelope.original_content,
                peer=tuple(session.peer),  # type: ignore[arg-type]
                login=login,
            )
        )
        accepted = _accepted_on(session) + 1
        session.accepted_here = accepted  # type: ignore[attr-defined]
        if self.hang_up_after is not None and accepted >= self.hang_up_after:
            # After this task has written the 250 below: the client gets it, then EOF.
            assert server.transport is not None
            asyncio.get_running_loop().call_soon(server.transport.close)
        return f"250 2.0.0 Ok: queued as {len(self.received)}"


def _accepted_on(session: Session) -> int:
    return int(getattr(session, "accepted_here", 0))


authenticate = authenticator(TEST_USER, TEST_PASSWORD)


@dataclass
class RecordingSmtpServer:
    handler: RecordingHandler
    controller: Controller
    port: int
    host: str = HOST

    @property
    def received(self) -> list[ReceivedMail]:
        return self.handler.received

    def settings(self, **overrides: Any) -> SmtpSettings:
        """Settings for this server: no TLS (loopback), a short timeout, a fixed EHLO name."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "tls": "none",
            "timeout": 5.0,
            "helo_name": "client.omnistream.test",
            "allow_private": True,  # loopback
        }
        return SmtpSettings(**(values | overrides))


@contextmanager
def running_smtp_server(
    *,
    auth_required: bool = False,
    auth_exclude: Iterable[str] = (),
    starttls_context: ssl.SSLContext | None = None,
    implicit_tls_context: ssl.SSLContext | None = None,
    smtputf8: bool = True,
) -> Iterator[RecordingSmtpServer]:
    """A started server (AUTH offered without TLS, as on loopback); stopped on exit."""
    handler = RecordingHandler()
    controller = AnyPortController(
        handler,
        hostname=HOST,
        port=0,
        ssl_context=implicit_tls_context,
        server_hostname="smtp.omnistream.test",
        ready_timeout=10.0,
        auth_require_tls=False,
        auth_required=auth_required,
        authenticator=authenticate,
        auth_exclude_mechanism=list(auth_exclude),
        tls_context=starttls_context,
        require_starttls=False,
        enable_SMTPUTF8=smtputf8,
    )
    controller.start()
    try:
        yield RecordingSmtpServer(handler, controller, controller.port)
    finally:
        controller.stop()


@pytest.fixture(name="smtp")
def smtp_fixture() -> Iterator[RecordingSmtpServer]:
    """A server requiring AUTH (the test user's login), for one test."""
    with running_smtp_server(auth_required=True) as server:
        yield server


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files for localhost and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context
