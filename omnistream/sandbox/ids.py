"""Identifiers shaped like Meta's: wamids, Messenger/Instagram mids, numeric object ids."""

from __future__ import annotations

import base64
import secrets


def numeric_id(digits: int = 16) -> str:
    """A Graph object id: digits, no leading zero."""
    return str(secrets.randbelow(9) + 1) + "".join(
        str(secrets.randbelow(10)) for _ in range(digits - 1)
    )


def wamid(wa_id: str, inbound: bool = False) -> str:
    """`wamid.` + base64 of the protobuf-like blob Meta uses (`HBgL…` for 11-digit numbers)."""
    number = wa_id.encode()[:60]
    marker = b"\x12" if inbound else b"\x11"
    key = secrets.token_hex(10).upper().encode()
    raw = b"\x1c\x18" + bytes([len(number)]) + number + b"\x15\x02\x00" + marker
    raw += b"\x18" + bytes([len(key)]) + key + b"\x00"
    return "wamid." + base64.b64encode(raw).decode()


def is_wamid(value: object) -> bool:
    if not isinstance(value, str) or not value.startswith("wamid.") or len(value) < 12:
        return False
    try:
        base64.b64decode(value[6:], validate=True)
    except ValueError:
        return False
    return True


def messenger_mid() -> str:
    return "m_" + base64.urlsafe_b64encode(secrets.token_bytes(64)).decode().rstrip("=")


def instagram_mid(ig_id: str) -> str:
    raw = f"ig_message_item:1:IGMessageThread:{ig_id}:{numeric_id(38)}"
    return base64.b64encode(raw.encode()).decode().rstrip("=")


def mid(channel: str, account_id: str) -> str:
    return instagram_mid(account_id) if channel == "instagram" else messenger_mid()


def fbtrace_id() -> str:
    return "A" + base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22]


def short_token(n: int = 8) -> str:
    return secrets.token_hex(n)
