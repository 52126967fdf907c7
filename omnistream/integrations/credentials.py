"""Which credentials each channel has, which of them are secret, and how they are stored.

Secret fields are encrypted with the SecretBox (AES-256-GCM, bound to the integration and
field) before they reach the database, and the API never returns them: it says whether each
one is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from omnistream.config import Settings
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"


@dataclass(frozen=True)
class FieldSpec:
    secret: tuple[str, ...]
    plain: tuple[str, ...]
    required: tuple[str, ...]


FIELDS: dict[Channel, FieldSpec] = {
    Channel.WHATSAPP: FieldSpec(
        secret=("access_token", "app_secret", "verify_token"),
        plain=("waba_id", "api_version", "base_url"),
        required=("access_token", "app_secret", "verify_token", "waba_id"),
    ),
    Channel.MESSENGER: FieldSpec(
        secret=("page_access_token", "app_secret", "verify_token"),
        plain=("api_version", "base_url"),
        required=("page_access_token", "app_secret", "verify_token"),
    ),
    Channel.INSTAGRAM: FieldSpec(
        secret=("page_access_token", "app_secret", "verify_token"),
        plain=("api_version", "base_url"),
        required=("page_access_token", "app_secret", "verify_token"),
    ),
    # Defaults of the unset ones (ports by TLS mode, SMTP login = IMAP login...):
    # channels/email/account.py.
    Channel.EMAIL: FieldSpec(
        secret=("smtp_password", "imap_password"),
        plain=(
            "smtp_host",
            "smtp_port",
            "smtp_tls",
            "smtp_username",
            "imap_host",
            "imap_port",
            "imap_tls",
            "imap_username",
            "imap_folder",
            "imap_backfill_days",
            "from_name",
        ),
        required=("imap_host", "imap_password", "smtp_host"),
    ),
}


def box_from(settings: Settings) -> SecretBox:
    previous = [k.strip() for k in settings.previous_secret_keys.split(",") if k.strip()]
    return SecretBox(settings.signing_key, previous)


def _context(integration_id: UUID, field: str) -> str:
    return f"integration:{integration_id}:{field}"


def seal(
    box: SecretBox,
    channel: Channel,
    integration_id: UUID,
    values: dict[str, Any],
    current: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The stored form: `current` updated with `values` (None clears a field), secrets sealed."""
    spec = FIELDS[channel]
    stored = dict(current or {})
    for name, value in values.items():
        if value is None or value == "":
            stored.pop(name, None)
        elif name in spec.secret:
            stored[name] = box.encrypt(str(value), _context(integration_id, name))
        else:
            stored[name] = value
    return stored


def unseal(
    box: SecretBox, channel: Channel, integration_id: UUID, stored: dict[str, Any]
) -> dict[str, Any]:
    """Plain values, for talking to the channel. Raises DecryptError if a key was lost."""
    spec = FIELDS[channel]
    return {
        name: box.decrypt(value, _context(integration_id, name)) if name in spec.secret else value
        for name, value in stored.items()
    }


def public_view(channel: Channel, stored: dict[str, Any]) -> dict[str, Any]:
    """What the API shows: plain values, and for each secret only whether it is set."""
    spec = FIELDS[channel]
    view: dict[str, Any] = {name: stored.get(name) for name in spec.plain}
    for name in spec.secret:
        view[name] = {"set": name in stored}
    return view


def missing(channel: Channel, stored: dict[str, Any]) -> list[str]:
    return [name for name in FIELDS[channel].required if name not in stored]
