"""aiosmtpd on loopback: a controller that listens on a port the system chooses, and the
demo's SMTP sink (`make run`): it takes every mail the demo mailbox sends, with AUTH over
plain text (loopback only), and hands each to a callback (the demo puts it into a local
"customers" mailbox, so that a reply can be read with any mail client)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
Deliver = Callable[[str, list[str], bytes], Awaitable[None]]


class AnyPortController(Controller):
    """Listens on port 0 and learns the port the system chose, before the readiness probe
    connects to it (no race for a "free" port)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class _Sink:
    def __init__(self, deliver: Deliver) -> None:
        self.deliver = deliver

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content
        if not isinstance(data, bytes):
            return "554 5.6.0 no message"
        try:
            await self.deliver(envelope.mail_from or "", list(envelope.rcpt_tos), data)
        except Exception:
            log.warning("demo mail sink: could not deliver a mail", exc_info=True)
            return "451 4.3.0 could not deliver it locally, try again"
        return "250 2.0.0 Ok: delivered to the demo customers mailbox"


class _Quiet(logging.Filter):
    """Keeps aiosmtpd's info lines (each connection) off OmniStream's console, and the
    warning of its own deprecation it logs on every login it accepts (aiosmtpd 1.4)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        return "login_data is deprecated" not in record.getMessage()


def authenticator(username: str, password: str) -> Callable[..., AuthResult]:
    """aiosmtpd's authenticator accepting this login only (AUTH PLAIN / LOGIN)."""

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == username
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, auth_data=auth_data if ok else None, handled=False)

    return authenticate


@contextmanager
def running_sink(username: str, password: str, deliver: Deliver) -> Iterator[int]:
    """An SMTP server on 127.0.0.1 (its port yielded), checking this login when a client
    logs in (the demo mailbox does); stopped on exit."""
    controller = AnyPortController(
        _Sink(deliver),
        hostname=HOST,
        port=0,
        ready_timeout=10.0,
        auth_require_tls=False,  # AUTH offered in plain text: loopback, no mail leaves here
        auth_required=False,  # (True warns about the above; the login is checked anyway)
        authenticator=authenticator(username, password),
        enable_SMTPUTF8=True,
    )
    quiet = _Quiet()
    logging.getLogger("mail.log").addFilter(quiet)
    controller.start()
    try:
        yield int(controller.port)
    finally:
        controller.stop()
        logging.getLogger("mail.log").removeFilter(quiet)
