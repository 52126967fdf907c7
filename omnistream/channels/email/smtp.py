"""Sending mails over SMTP (aiosmtplib), and checking a mailbox's SMTP settings.

- `SmtpSettings`: where and how to connect; TLS "none" only to a loopback host.
- `send`: one mail on its own connection -> `SendResult`: "sent" (with the server's
  reply), "transient" (a 4xx answer, connection refused or reset, a timeout: retry
  with backoff) or "permanent" (a 5xx answer, a TLS or configuration problem: fail
  with the server's text); recipients refused while others were accepted are listed.
- `SmtpSession`: one connection kept open for many mails (the way to 100+ mails/s),
  reopened when the server has closed it or after `max_messages_per_connection`.
- `check`: connect, EHLO, STARTTLS when asked, AUTH: ok, or the step that failed
  ("connect", "tls", "ehlo", "auth") with the server's text.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from typing import Literal, Self

import aiosmtplib
from aiosmtplib.email import flatten_message

from omnistream.channels.email.hosts import is_loopback
from omnistream.kit.net import RefusedAddressError, connect_checked

TlsMode = Literal["implicit", "starttls", "none"]
Outcome = Literal["sent", "transient", "permanent"]
# Where a connection or a send stopped: setting up the connection (the steps `check`
# reports), then the mail transaction; "send" is a connection lost during it.
Step = Literal["connect", "tls", "ehlo", "auth", "mail", "rcpt", "data", "send"]
TLS_MODES: tuple[TlsMode, ...] = ("implicit", "starttls", "none")
_ENVELOPE_FORBIDDEN = re.compile(r"[\s<>\"\x00-\x1f\x7f]")


class SmtpSettingsError(ValueError):
    """An SMTP setting that cannot be used; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: TlsMode
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0  # seconds, for connecting and for each command
    helo_name: str | None = None  # the EHLO name; None: this machine's FQDN
    ca_file: str | None = None  # extra trusted certificates (PEM), e.g. a self-signed server's
    # Private and loopback addresses only with OMNISTREAM_ALLOW_PRIVATE_URLS (SSRF guard).
    allow_private: bool = False

    def __post_init__(self) -> None:
        host = self.host.strip()
        if not host or any(ch.isspace() or ord(ch) < 32 for ch in host):
            raise SmtpSettingsError("host", f"{self.host!r} is not a host name")
        if not 0 < self.port < 65536:
            raise SmtpSettingsError("port", f"{self.port} is not a TCP port (1-65535)")
        if self.tls not in TLS_MODES:
            raise SmtpSettingsError("tls", f"{self.tls!r} is not one of {', '.join(TLS_MODES)}")
        if self.tls == "none" and not is_loopback(host):
            raise SmtpSettingsError(
                "tls",
                f"'none' (no encryption) is only allowed for a loopback host "
                f"(127.0.0.0/8, ::1, localhost), not {self.host!r}: use 'implicit' or "
                "'starttls'",
            )
        if self.helo_name is not None and (
            not self.helo_name.strip() or any(ch.isspace() or ord(ch) < 32 for ch in self.helo_name)
        ):
            raise SmtpSettingsError("helo_name", f"{self.helo_name!r} is not a host name")
        if not self.timeout > 0:
            raise SmtpSettingsError("timeout", "must be a positive number of seconds")


@dataclass(frozen=True)
class RecipientRefusal:
    address: str
    code: int
    reply: str  # the server's answer, e.g. "550 5.1.1 no such user"

    @property
    def transient(self) -> bool:
        return 400 <= self.code < 500


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    reply: str  # the server's answer ("250 ...", "550 5.1.1 ..."), or what went wrong
    code: int | None = None  # None when the server never answered (refused, timeout...)
    step: Step | None = None  # where it failed; None when sent
    refused: tuple[RecipientRefusal, ...] = ()  # when sent: recipients the server refused

    @property
    def sent(self) -> bool:
        return self.outcome == "sent"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    step: Step | None = None  # the step that failed: "connect", "tls", "ehlo" or "auth"
    code: int | None = None
    reply: str = ""


class _StepFailed(Exception):
    def __init__(self, step: Step, code: int | None, reply: str, *, transient: bool) -> None:
        super().__init__(reply)
        self.step: Step = step
        self.code = code
        self.reply = reply
        self.transient = transient

    def send_result(self) -> SendResult:
        outcome: Outcome = "transient" if self.transient else "permanent"
        return SendResult(outcome, self.reply, self.code, self.step)


class _StaleConnection(Exception):
    """A reused connection turned out closed before anything of this mail was accepted:
    safe to send again on a new one."""


def _reply_text(code: int, message: str) -> str:
    return " ".join([str(code), *message.split()])


def _failure(step: Step, exc: BaseException) -> _StepFailed:
    """The outcome of an exception raised during `step`: 4xx and lost connections are
    transient; 5xx, TLS and capability problems permanent."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reply = _reply_text(exc.code, exc.message)
        return _StepFailed(step, exc.code, reply, transient=400 <= exc.code < 500)
    cause = exc.__cause__ if isinstance(exc, aiosmtplib.SMTPConnectError) else exc
    if isinstance(cause, ssl.SSLError):
        return _StepFailed("tls", None, f"TLS failed: {cause}", transient=False)
    if isinstance(exc, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors too
        return _StepFailed(step, None, f"timed out: {exc}", transient=True)
    if isinstance(exc, OSError):  # refused, reset, disconnected (ConnectionError)
        return _StepFailed(step, None, str(exc) or type(exc).__name__, transient=True)
    # SMTPException without a code: STARTTLS or AUTH not offered, no usable AUTH method.
    return _StepFailed(step, None, str(exc), transient=False)


async def _socket(settings: SmtpSettings) -> socket.socket:
    """A socket connected to a checked address of the host (kit.net): aiosmtplib then
    speaks SMTP on it and verifies TLS against the host name, so a second DNS answer
    cannot lead it elsewhere."""
    try:
        return await asyncio.wait_for(
            connect_checked(settings.host, settings.port, allow_private=settings.allow_private),
            settings.timeout,
        )
    except RefusedAddressError as exc:
        raise _StepFailed("connect", None, str(exc), transient=False) from exc
    except TimeoutError as exc:
        reply = f"timed out: no connection to {settings.host} in {settings.timeout:g} s"
        raise _StepFailed("connect", None, reply, transient=True) from exc
    except OSError as exc:
        reply = f"cannot connect to {settings.host} port {settings.port}: {exc.strerror or exc}"
        raise _StepFailed("connect", None, reply, transient=True) from exc


async def _open(settings: SmtpSettings) -> aiosmtplib.SMTP:
    sock = await _socket(settings)
    client = aiosmtplib.SMTP(
        hostname=settings.host.strip().strip("[]"),
        sock=sock,
        timeout=settings.timeout,
        use_tls=settings.tls == "implicit",
        start_tls=False,  # done below, so that its failure is reported as "tls"
        local_hostname=settings.helo_name,
        cert_bundle=settings.ca_file,
    )
    step: Step = "connect"
    try:
        await client.connect()
        step = "ehlo"
        await _ehlo(client)
        if settings.tls == "starttls":
            step = "tls"
            if not client.supports_extension("starttls"):
                raise _StepFailed(
                    "tls", None, "the server does not offer STARTTLS", transient=False
                )
            await client.starttls()
            step = "ehlo"
            await _ehlo(client)
        if settings.username:
            step = "auth"
            if not client.supports_extension("auth"):
                raise _StepFailed("auth", None, "the server does not offer AUTH", transient=False)
            await client.login(settings.username, settings.password or "")
    except _StepFailed:
        client.close()
        sock.close()
        raise
    except (aiosmtplib.SMTPException, OSError) as exc:
        client.close()
        sock.close()
        raise _failure(step, exc) from exc
    except BaseException:  # cancelled
        client.close()
        sock.close()
        raise
    return client


async def _ehlo(client: aiosmtplib.SMTP) -> None:
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not client.is_connected:
            raise
        await client.helo()  # an SMTP (not ESMTP) server


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass  # the server hung up first: nothing lost
    finally:
        client.close()


async def _rset(client: aiosmtplib.SMTP) -> None:
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()  # a connection in an unknown state is not reused


def _invalid_envelope(envelope_from: str, recipients: list[str]) -> SendResult | None:
    if not recipients:
        return SendResult("permanent", "no recipients", step="rcpt")
    for step, address in [("mail", envelope_from)] + [("rcpt", r) for r in recipients]:
        if "@" not in address or _ENVELOPE_FORBIDDEN.search(address):
            reply = f"{address!r} is not a valid envelope address"
            return SendResult("permanent", reply, step="mail" if step == "mail" else "rcpt")
    return None


async def _transact(
    client: aiosmtplib.SMTP,
    message: EmailMessage,
    envelope_from: str,
    recipients: list[str],
    *,
    reused: bool,
) -> SendResult:
    """MAIL, RCPT for each recipient, DATA on an open connection."""
    utf8 = not (envelope_from.isascii() and all(r.isascii() for r in recipients))
    if utf8 and not client.supports_extension("smtputf8"):
        reply = "an address is not ASCII and the server does not offer SMTPUTF8"
        return SendResult("permanent", reply, step="mail")
    eight_bit = client.supports_extension("8bitmime")
    data = flatten_message(message, utf8=utf8, cte_type="8bit" if eight_bit else "7bit")
    options = [f"SIZE={len(data)}"] if client.supports_extension("size") else []
    options += ["BODY=8BITMIME"] if eight_bit else []
    options += ["SMTPUTF8"] if utf8 else []
    encoding = "utf-8" if utf8 else "ascii"
    step: Step = "mail"
    try:
        await client.mail(envelope_from, options=options, encoding=encoding)
        step = "rcpt"
        refused: list[RecipientRefusal] = []
        for recipient in recipients:
            try:
                await client.rcpt(recipient, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                reply = _reply_text(exc.code, exc.message)
                refused.append(RecipientRefusal(recipient, exc.code, reply))
        if len(refused) == len(recipients):
            await _rset(client)
            # Worth retrying when any refusal may be temporary (greylisting, full mailbox).
            outcome: Outcome = "transient" if any(r.transient for r in refused) else "permanent"
            return SendResult(outcome, refused[0].reply, refused[0].code, "rcpt", tuple(refused))
        step = "data"
        response = await client.data(data)
    except aiosmtplib.SMTPResponseException as exc:
        if reused and step == "mail" and exc.code == aiosmtplib.SMTPStatus.domain_unavailable:
            raise _StaleConnection from exc  # 421: the server is closing this connection
        if client.is_connected:
            await _rset(client)
        return _failure(step, exc).send_result()
    except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
        # Before DATA nothing can have been delivered: a reused connection that was found
        # closed (idle timeout, a 421 while naming recipients) is replaced and the mail
        # sent again. From DATA on, it may have been taken: no silent resend.
        if reused and step in ("mail", "rcpt") and isinstance(exc, ConnectionError):
            raise _StaleConnection from exc
        client.close()
        # Lost mid-transaction: the mail may or may not have been taken.
        return _failure("send" if step == "data" else step, exc).send_result()
    return SendResult(
        "sent", _reply_text(response.code, response.message), response.code, refused=tuple(refused)
    )


class SmtpSession:
    """Sends many mails over one connection, opened on the first send and reopened when
    the server has closed it (idle timeout, a per-connection limit). Sends are
    serialised: use several sessions to send in parallel."""

    def __init__(
        self, settings: SmtpSettings, *, max_messages_per_connection: int | None = 100
    ) -> None:
        self.settings = settings
        self.max_messages_per_connection = max_messages_per_connection
        self.connections_opened = 0
        self._client: aiosmtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def send(
        self, message: EmailMessage, *, envelope_from: str, recipients: list[str]
    ) -> SendResult:
        invalid = _invalid_envelope(envelope_from, recipients)
        if invalid is not None:
            return invalid
        async with self._lock:
            for _attempt in range(2):
                reused = self._client is not None and self._client.is_connected
                if not reused:
                    try:
                        await self._connect()
                    except _StepFailed as failure:
                        return failure.send_result()
                assert self._client is not None
                try:
                    result = await _transact(
                        self._client, message, envelope_from, recipients, reused=reused
                    )
                except _StaleConnection:
                    self._client.close()
                    continue
                except BaseException:  # cancelled mid-transaction: the connection is unusable
                    self._client.close()
                    raise
                await self._count_sent(result)
                return result
            raise AssertionError("unreachable: the second attempt is on a new connection")

    async def close(self) -> None:
        if self._client is not None:
            if self._client.is_connected:
                await _quit(self._client)
            self._client.close()
            self._client = None

    async def _connect(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = await _open(self.settings)
        self.connections_opened += 1
        self._sent_on_connection = 0

    async def _count_sent(self, result: SendResult) -> None:
        if result.sent:
            self._sent_on_connection += 1
        limit = self.max_messages_per_connection
        if limit is not None and self._sent_on_connection >= limit:
            await self.close()


async def send(
    settings: SmtpSettings, message: EmailMessage, *, envelope_from: str, recipients: list[str]
) -> SendResult:
    """One mail on a connection of its own; see the module docstring for the outcomes."""
    async with SmtpSession(settings) as session:
        return await session.send(message, envelope_from=envelope_from, recipients=recipients)


async def check(settings: SmtpSettings) -> CheckResult:
    """Connect, EHLO, STARTTLS when asked, AUTH when a username is set, then QUIT."""
    try:
        client = await _open(settings)
    except _StepFailed as failure:
        return CheckResult(False, failure.step, failure.code, failure.reply)
    reply = client.last_ehlo_response or client.last_helo_response
    await _quit(client)
    return CheckResult(True, reply=_reply_text(reply.code, reply.message) if reply else "")
