"""Integration API shapes, and the per-channel rules for credential values.

Secrets never appear in a response: `credentials` shows plain values and, for each secret
field, only {"set": true|false} (credentials.public_view).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from omnistream.channels.email.imap import MAX_BACKFILL_DAYS
from omnistream.channels.email.smtp import TLS_MODES
from omnistream.integrations.credentials import FIELDS
from omnistream.integrations.health import Health
from omnistream.kit.enums import Channel
from omnistream.kit.errors import Unprocessable
from omnistream.kit.openapi import NON_BLANK

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NON_BLANK
]
ExternalId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320), NON_BLANK
]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Rate = Annotated[int, Field(ge=1, le=1000, description="Sends per second this account allows")]
Credentials = Annotated[
    dict[str, Any],
    Field(
        description="Per channel (docs/channels.md). A secret given as null clears it; "
        "fields left out keep their value."
    ),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Channels whose sending and receiving exist: an integration can be created for these only
# (a channel in the enum but not here would show "Active" and do nothing). Email ships with
# its IMAP import worker, SMTP sender, web view and composer (issue 16).
AVAILABLE_CHANNELS = frozenset(
    {Channel.WHATSAPP, Channel.MESSENGER, Channel.INSTAGRAM, Channel.EMAIL}
)


class IntegrationCreate(_Input):
    channel: Channel = Field(description="whatsapp, messenger, instagram or email")
    name: Name
    is_active: bool = Field(True, description="Activating requires the channel's fields")
    credentials: Credentials = Field(default_factory=dict)

    @field_validator("channel")
    @classmethod
    def _available(cls, channel: Channel) -> Channel:
        if channel not in AVAILABLE_CHANNELS:
            raise PydanticCustomError(
                "channel_unavailable",
                "the {channel} channel is not available yet (see the Roadmap in the README)",
                {"channel": channel.value},
            )
        return channel


class IntegrationUpdate(_Input):
    """The channel is fixed at creation."""

    name: Name | None = None
    is_active: bool | None = None
    credentials: Credentials | None = None


class AccountOut(BaseModel):
    id: UUID
    integration_id: UUID
    external_id: str = Field(description="phone_number_id / page id / IG account id / mailbox")
    display_name: str
    is_default: bool
    send_rate_per_second: int
    created_at: datetime


class IntegrationOut(BaseModel):
    id: UUID
    channel: Channel
    name: str
    is_active: bool
    credentials: dict[str, Any] = Field(
        description='Plain values, and {"set": true|false} for each secret'
    )
    missing_credentials: list[str] = Field(description="Required before it can be activated")
    health: Health
    health_error: str | None
    health_checked_at: datetime | None
    accounts: list[AccountOut]
    created_at: datetime
    updated_at: datetime


class AccountCreate(_Input):
    external_id: ExternalId
    display_name: DisplayName = ""
    is_default: bool = Field(False, description="The first account is the default anyway")
    send_rate_per_second: Rate = 80


class AccountUpdate(_Input):
    external_id: ExternalId | None = None
    display_name: DisplayName | None = None
    is_default: bool | None = Field(
        None, description="true makes it the default; to move the default, set it on another"
    )
    send_rate_per_second: Rate | None = None


class ConnectionTest(BaseModel):
    ok: bool
    health: Health
    detail: str
    checked_at: datetime


# Credential values ---------------------------------------------------------------------------

# Meta's ids are digits; letters, "_" and "-" are allowed for the sandbox's own ids. Spaces,
# "+" and "/" are not: they catch a pasted display phone number and keep URLs clean.
_META_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_API_VERSION = re.compile(r"^v[0-9]{1,3}\.[0-9]{1,3}$")
_HOST = re.compile(r"^[^\s/]{1,253}$")


def _text(max_length: int, *, strip: bool = True) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        text = value.strip() if strip else value
        if len(text) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return text

    return check


def _pattern(regex: re.Pattern[str], message: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        text = _text(253)(value)
        if text and not regex.match(text):
            raise ValueError(message)
        return text

    return check


def _port(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ValueError("must be a port number from 1 to 65535")
    return value


def _whole(low: int, high: int, unit: str) -> Callable[[Any], Any]:
    """A whole number (a JSON number or a string of digits; "" clears the field)."""

    def check(value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return ""
            if text.isascii() and text.isdigit():
                value = int(text)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"must be a whole number of {unit} from {low} to {high}")
        return value

    return check


def _base_url(value: Any) -> Any:
    text = _text(2000)(value)
    if not text:
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must not carry a user, query or fragment")
    return text.rstrip("/")


def _choice(*allowed: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        text = _text(32)(value)
        if text and text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text

    return check


def _single_line(max_length: int) -> Callable[[Any], Any]:
    """A value that goes into a header or an IMAP command: no line breaks or controls."""

    def check(value: Any) -> Any:
        text = _text(max_length)(value)
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise ValueError("must be a single line without control characters")
        return text

    return check


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "access_token": _text(4096),
    "page_access_token": _text(4096),
    "app_secret": _text(512),
    "verify_token": _text(512),
    "waba_id": _pattern(_META_ID, "must be the WhatsApp Business Account id (digits)"),
    "api_version": _pattern(_API_VERSION, "must look like v21.0"),
    "base_url": _base_url,
    "smtp_host": _pattern(_HOST, "must be a host name or address"),
    "imap_host": _pattern(_HOST, "must be a host name or address"),
    "smtp_port": _port,
    "imap_port": _port,
    "smtp_username": _text(320),
    "imap_username": _text(320),
    "smtp_password": _text(1024, strip=False),
    "imap_password": _text(1024, strip=False),
    # "none" only with a loopback host: checked on the merged values (tls_problems).
    "smtp_tls": _choice(*TLS_MODES),
    "imap_tls": _choice(*TLS_MODES),
    "imap_folder": _single_line(200),
    "imap_backfill_days": _whole(0, MAX_BACKFILL_DAYS, "days"),
    "from_name": _single_line(200),
}


def clean_credentials(channel: Channel, raw: dict[str, Any]) -> dict[str, Any]:
    """Checked and normalised values; None (or an empty string) means "clear this field".
    Raises a 422 naming every bad field as credentials.<name>."""
    spec = FIELDS[channel]
    known = spec.secret + spec.plain
    errors: list[dict[str, str]] = []
    clean: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in known:
            message = f"is not a {channel.value} credential (known: {', '.join(known)})"
            errors.append({"field": f"credentials.{name}", "in": "body", "message": message})
            continue
        if value is None:
            clean[name] = None
            continue
        try:
            checked = _CHECKS.get(name, _text(4096))(value)
        except ValueError as exc:
            errors.append({"field": f"credentials.{name}", "in": "body", "message": str(exc)})
            continue
        clean[name] = None if checked == "" else checked
    if errors:
        names = ", ".join(e["field"] for e in errors)
        raise Unprocessable(f"invalid fields: {names}", errors=errors)
    return clean


def clean_external_id(channel: Channel, value: str) -> str:
    """Meta ids as Meta shows them; a mailbox is an address (compared in lower case)."""
    if channel is Channel.EMAIL:
        if "@" not in value or any(c.isspace() for c in value):
            raise Unprocessable.field("external_id", "must be the mailbox's email address")
        return value.lower()
    if not _META_ID.match(value):
        what = "phone_number_id" if channel is Channel.WHATSAPP else f"{channel.value} id"
        raise Unprocessable.field("external_id", f"must be the {what} (digits, as Meta shows it)")
    return value
