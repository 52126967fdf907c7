"""Typed reads from decoded webhook JSON that fail with a PayloadError naming the path.

Unknown fields are never an error: parsers read what they know and ignore the rest.
Strings come back without U+0000: PostgreSQL text and jsonb cannot store it, and one NUL
would otherwise fail the whole payload with every message in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from omnistream.inbound.model import PayloadError

MAX_ID = 500  # the longest channel id stored (messages.channel_message_id)
NUL = "\x00"
_ESCAPED_NUL = b"\\u0000"  # how JSON carries U+0000 (a raw NUL byte is invalid JSON)


def load(body: bytes) -> Any:
    """Decoded JSON without U+0000 anywhere (raises orjson.JSONDecodeError). The walk runs
    only when the raw body holds the escape, so ordinary payloads cost nothing more."""
    value = orjson.loads(body)
    return without_nul(value) if _ESCAPED_NUL in body else value


def without_nul(value: Any) -> Any:
    """`value` with U+0000 removed from every string in it, keys included."""
    if isinstance(value, str):
        return value.replace(NUL, "") if NUL in value else value
    if isinstance(value, Mapping):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where} must be an object")
    return value


def field_obj(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    return obj(parent.get(key), f"{where}.{key}")


def opt_obj(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    """The object at key, or {} when absent or null."""
    value = parent.get(key)
    return {} if value is None else obj(value, f"{where}.{key}")


def items(parent: Mapping[str, Any], key: str, where: str) -> list[tuple[str, Any]]:
    """(path, element) of an optional list; absent or null is empty."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{where}.{key} must be a list")
    return [(f"{where}.{key}[{i}]", v) for i, v in enumerate(value)]


def ident(parent: Mapping[str, Any], key: str, where: str) -> str:
    """A required id: a non-empty string (numbers are accepted and turned into text)."""
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadError(f"{where}.{key} is missing or not a string")
    text = str(value).replace(NUL, "").strip()
    if not 1 <= len(text) <= MAX_ID:
        raise PayloadError(f"{where}.{key} must be 1 to {MAX_ID} characters")
    return text


def opt_text(parent: Mapping[str, Any], key: str) -> str | None:
    value = parent.get(key)
    if isinstance(value, str):
        return value.replace(NUL, "") if NUL in value else value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def epoch(parent: Mapping[str, Any], key: str, where: str, *, millis: bool) -> datetime:
    """A Unix timestamp (seconds as a string on WhatsApp, milliseconds on Messenger)."""
    value = parent.get(key)
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise PayloadError(f"{where}.{key} is missing or not a Unix timestamp")
    try:
        return datetime.fromtimestamp(number / 1000 if millis else number, UTC)
    except (OverflowError, OSError, ValueError):
        raise PayloadError(f"{where}.{key} is out of range") from None


def compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """Without the keys whose value is None (stored content stays small and clean)."""
    return {k: v for k, v in values.items() if v is not None}
