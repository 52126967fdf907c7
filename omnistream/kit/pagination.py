"""Keyset (cursor) pagination: opaque cursors that carry the last row's sort key."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel, Field

from omnistream.kit.errors import BadRequest

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# A cursor's time is a row's time: far from the calendar's edges, where conversions overflow.
MIN_YEAR, MAX_YEAR = 2, 9998


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null at the end."
    )


def encode_cursor(*values: Any) -> str:
    raw = orjson.dumps(
        [v.isoformat() if isinstance(v, datetime) else v for v in values], default=str
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """Decode a cursor whose values have the given types (str, int, datetime, UUID)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("shape")
        out: list[Any] = []
        for value, kind in zip(values, types, strict=True):
            if kind is int:
                # bool is an int in Python; the column is a PostgreSQL bigint.
                if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
                    raise ValueError("int")
                out.append(value)
                continue
            if not isinstance(value, str):
                raise ValueError("str")
            if kind is datetime:
                out.append(_timestamp(value))
            elif kind is UUID:
                out.append(UUID(value))
            else:
                out.append(value)
        return tuple(out)
    except (ValueError, TypeError, OverflowError, binascii.Error, orjson.JSONDecodeError):
        raise BadRequest.field(
            "cursor", "is malformed; pass next_cursor from a previous page"
        ) from None


def _timestamp(value: str) -> datetime:
    """An aware time that PostgreSQL can compare with (years 1..9999 in UTC, none naive)."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive")
    in_utc = parsed.astimezone(UTC)  # OverflowError at the edges of the calendar
    if not MIN_YEAR <= in_utc.year <= MAX_YEAR:
        raise ValueError("year")
    return in_utc


def page_of(rows: list[T], limit: int, key: Any) -> tuple[list[T], str | None]:
    """Rows were fetched with limit + 1; trim and build the next cursor from the last kept row."""
    if len(rows) <= limit:
        return rows, None
    kept = rows[:limit]
    return kept, encode_cursor(*key(kept[-1]))
