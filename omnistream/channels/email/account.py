"""An email account's settings from its integration's credentials and its mailbox address,
and the admin's connection test of both sides.

Credentials (integrations/credentials.py FIELDS[email]) and what an unset one means:
- `imap_host` (required), `imap_port` (993 with implicit TLS, 143 with starttls or none),
  `imap_tls` (implicit | starttls | none; default implicit), `imap_username` (default: the
  mailbox address, which is the login at most providers), `imap_password` (required),
  `imap_folder` (default INBOX), `imap_backfill_days` (default 7: the first import of the
  folder takes the mail of the last 7 days; 0: only mail arriving from then on).
- `smtp_host` (required), `smtp_port` (465 with implicit TLS, 587 with starttls, 25 with
  none), `smtp_tls` (default starttls), `smtp_username` and `smtp_password` (default: the
  IMAP ones, as one mailbox login usually serves both).
- `from_name`: the display name of the From header (default none: the bare address).
TLS "none" is accepted only for a loopback host (127.0.0.0/8, ::1, localhost):
`tls_problems` says so for the merged values (422 at the API), and the settings classes
refuse it again when the mail is sent.
A host that resolves to a private or loopback address is refused when connecting (each
side's "connect" step, permanently) unless `allow_private` (OMNISTREAM_ALLOW_PRIVATE_URLS).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NamedTuple

from omnistream.channels.email import imap, smtp
from omnistream.channels.email.hosts import is_loopback
from omnistream.channels.email.imap import DEFAULT_BACKFILL_DAYS, ImapSettings, ImapSettingsError
from omnistream.channels.email.smtp import TLS_MODES, SmtpSettings, SmtpSettingsError, TlsMode
from omnistream.integrations.health import Health, HealthOutcome

DEFAULT_IMAP_TLS: TlsMode = "implicit"
DEFAULT_SMTP_TLS: TlsMode = "starttls"
DEFAULT_FOLDER = "INBOX"
IMAP_PORTS: dict[TlsMode, int] = {"implicit": 993, "starttls": 143, "none": 143}
SMTP_PORTS: dict[TlsMode, int] = {"implicit": 465, "starttls": 587, "none": 25}
SEND_TIMEOUT_SECONDS = 10.0  # each SMTP command when sending (the sender gives up at 15 s)
CHECK_TIMEOUT_SECONDS = 10.0  # each step of the connection test
_MAX_DETAIL = 500
# A failed step of the connection test as health; the others (tls, ehlo, folder): misconfigured.
_STEP_HEALTH = {
    "connect": Health.UNREACHABLE,
    "login": Health.AUTH_FAILED,
    "auth": Health.AUTH_FAILED,
}


class EmailSettingsError(ValueError):
    """A credential that is missing or cannot be used; `field` names it as the API does
    (`credentials.<name>`), or `external_id` for the mailbox address."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Sender(NamedTuple):
    """Who the account's mails come from: the From header and the Message-ID domain."""

    from_name: str
    from_address: str
    domain: str


class EmailAccountSettings(NamedTuple):
    imap: ImapSettings
    smtp: SmtpSettings
    from_name: str
    from_address: str
    domain: str


def tls_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for each side whose TLS mode is "none" while its host is not a
    loopback address; `values` are the merged plain credentials."""
    problems = []
    for side, default in (("imap", DEFAULT_IMAP_TLS), ("smtp", DEFAULT_SMTP_TLS)):
        host = values.get(f"{side}_host")
        if (values.get(f"{side}_tls") or default) == "none" and host and not is_loopback(host):
            problems.append(
                (
                    f"{side}_tls",
                    f"'none' (no encryption) is allowed only for a loopback host (127.0.0.1, "
                    f"::1, localhost), not {host!r}: use implicit or starttls",
                )
            )
    return problems


def sender(values: Mapping[str, Any], mailbox: str) -> Sender:
    """From name, From address (the mailbox) and the Message-ID domain (the mailbox's)."""
    address = mailbox.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise EmailSettingsError("external_id", f"{mailbox!r} is not a mailbox address")
    return Sender(str(values.get("from_name") or "").strip(), address, domain.lower())


def imap_settings(
    values: Mapping[str, Any], mailbox: str, *, allow_private: bool = False
) -> ImapSettings:
    """The IMAP side, with the defaults of the module docstring."""
    host = _required(values, "imap_host")
    tls = _tls(values, "imap_tls", DEFAULT_IMAP_TLS)
    try:
        return ImapSettings(
            host=host,
            port=int(values.get("imap_port") or IMAP_PORTS[tls]),
            tls=tls,
            username=str(values.get("imap_username") or mailbox.strip()),
            password=_required(values, "imap_password"),
            folder=str(values.get("imap_folder") or DEFAULT_FOLDER),
            allow_private=allow_private,
            backfill_days=_days(values, "imap_backfill_days", DEFAULT_BACKFILL_DAYS),
        )
    except ImapSettingsError as exc:
        raise EmailSettingsError(f"credentials.imap_{exc.field}", _reason(exc)) from None


def smtp_settings(
    values: Mapping[str, Any],
    mailbox: str,
    *,
    timeout: float = SEND_TIMEOUT_SECONDS,
    allow_private: bool = False,
) -> SmtpSettings:
    """The SMTP side, with the defaults of the module docstring (the login and password of
    the IMAP side when its own are unset)."""
    host = _required(values, "smtp_host")
    tls = _tls(values, "smtp_tls", DEFAULT_SMTP_TLS)
    username = values.get("smtp_username") or values.get("imap_username") or mailbox.strip()
    password = values.get("smtp_password") or values.get("imap_password")
    try:
        return SmtpSettings(
            host=host,
            port=int(values.get("smtp_port") or SMTP_PORTS[tls]),
            tls=tls,
            username=str(username) if password else None,  # no password: no AUTH at all
            password=str(password) if password else None,
            timeout=timeout,
            allow_private=allow_private,
        )
    except SmtpSettingsError as exc:
        raise EmailSettingsError(f"credentials.smtp_{exc.field}", exc.reason) from None


def account_settings(
    values: Mapping[str, Any],
    mailbox: str,
    *,
    smtp_timeout: float = SEND_TIMEOUT_SECONDS,
    allow_private: bool = False,
) -> EmailAccountSettings:
    """(IMAP settings, SMTP settings, from name, from address, domain) of an account: its
    integration's unsealed credentials and its mailbox address (the account's external
    id). Raises EmailSettingsError naming the first unusable field."""
    who = sender(values, mailbox)
    return EmailAccountSettings(
        imap_settings(values, mailbox, allow_private=allow_private),
        smtp_settings(values, mailbox, timeout=smtp_timeout, allow_private=allow_private),
        who.from_name,
        who.from_address,
        who.domain,
    )


async def check_account(
    settings: EmailAccountSettings, *, answer_within: float = CHECK_TIMEOUT_SECONDS
) -> HealthOutcome:
    """The connection test: IMAP (connect, TLS, login, the folder) and SMTP (connect, TLS,
    EHLO, AUTH), side by side; each failure names its side and step, e.g. "IMAP login
    failed: ...", IMAP's first when both fail (its health is the one recorded)."""
    found, checked = await asyncio.gather(
        imap.check(settings.imap, answer_within=answer_within),
        smtp.check(replace(settings.smtp, timeout=answer_within)),
    )
    failures: list[tuple[Health, str]] = []
    if not found.ok:
        imap_step = found.failed_step or "connect"
        health = step_health(imap_step)
        failures.append((health, f"IMAP {imap_step} failed: {found.message}"))
    if not checked.ok:
        smtp_step = checked.step or "connect"
        health = step_health(smtp_step)
        failures.append((health, f"SMTP {smtp_step} failed: {checked.reply}"))
    if failures:
        return _outcome(failures[0][0], "; ".join(text for _, text in failures), settings)
    detail = (
        f"connected: IMAP {settings.imap.host} (folder {settings.imap.folder}) and "
        f"SMTP {settings.smtp.host}"
    )
    return _outcome(Health.OK, detail, settings)


def step_health(step: str) -> Health:
    """The health a failed IMAP or SMTP step stands for: connect (a private address refused
    too) unreachable, login / auth auth_failed, the others (tls, ehlo, folder) misconfigured."""
    return _STEP_HEALTH.get(step, Health.MISCONFIGURED)


def _outcome(health: Health, detail: str, settings: EmailAccountSettings) -> HealthOutcome:
    """The passwords never appear in the detail (a server echoing them cannot leak them)."""
    for secret in (settings.imap.password, settings.smtp.password):
        if secret:
            detail = detail.replace(secret, "[redacted]")
    return HealthOutcome(health, detail[:_MAX_DETAIL])


def _required(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name)
    if value is None or not str(value).strip():
        raise EmailSettingsError(f"credentials.{name}", "is not set")
    return str(value).strip() if name.endswith("_host") else str(value)


def _days(values: Mapping[str, Any], name: str, default: int) -> int:
    value = values.get(name)
    if value is None or value == "":
        return default  # 0 is a value: only mail arriving from then on
    text = str(value).strip()
    digits = text.isascii() and text.isdigit()
    if isinstance(value, bool) or not (isinstance(value, int) or digits):
        raise EmailSettingsError(f"credentials.{name}", "must be a whole number of days")
    return int(value)


def _tls(values: Mapping[str, Any], name: str, default: TlsMode) -> TlsMode:
    value = values.get(name) or default
    for mode in TLS_MODES:
        if value == mode:
            return mode
    raise EmailSettingsError(f"credentials.{name}", f"must be one of {', '.join(TLS_MODES)}")


def _reason(exc: ImapSettingsError) -> str:
    text, prefix = str(exc), f"{exc.field}: "
    return text[len(prefix) :] if text.startswith(prefix) else text
