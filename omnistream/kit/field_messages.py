"""Validation errors in people's words.

Pydantic words its errors for programmers ("String should have at least 1 character",
"Value error, must be …"). An API error item instead carries a short phrase a person can act
on ("Required", "Must be at most 200 characters", "Not a valid email address") next to a
stable `type` (pydantic's error type, or one of ours such as `email` or `phone`) and the
limits that phrase names, so a client can say the same in its own language (docs/errors.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Ctx = Mapping[str, Any]

_QUOTED = re.compile(r"'([^']*)'")
# Passed on to clients as they are, when the error's ctx has them as numbers.
_NUMERIC_LIMITS = ("min_length", "max_length", "ge", "le", "gt", "lt")
_TEXT_KEYS = ("example",)  # e.g. a phone number that would be valid
_PYDANTIC_EMAIL = "value is not a valid email address"
# Prefixes pydantic puts before the message of a validator's ValueError / AssertionError.
_PREFIXES = ("Value error, ", "Assertion failed, ")


def _plural(n: Any, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _allowed(ctx: Ctx) -> list[str]:
    """The values of an enum / literal error ("'a', 'b' or 'c'" -> ["a", "b", "c"])."""
    return _QUOTED.findall(str(ctx.get("expected", "")))


def _characters(ctx: Ctx) -> str:
    return f"Must be at most {_plural(ctx.get('max_length'), 'character', 'characters')}"


def _too_short(ctx: Ctx) -> str:
    n = ctx.get("min_length", 1)
    # A blank string (after stripping) is what a person calls an empty field.
    return "Required" if n == 1 else f"Must be at least {_plural(n, 'character', 'characters')}"


def _one_of(ctx: Ctx) -> str:
    return "Must be one of: " + ", ".join(_allowed(ctx))


def _url_scheme(ctx: Ctx) -> str:
    schemes = _QUOTED.findall(str(ctx.get("expected_schemes", "")))
    if not schemes:
        return "Must be a link starting with https://"
    links = " or ".join(f"{s}://" for s in schemes)
    return f"Must be {'an' if schemes[0] == 'http' else 'a'} {links} link"


_PHRASES: dict[str, Callable[[Ctx], str]] = {
    "missing": lambda c: "Required",
    "string_too_short": _too_short,
    "string_too_long": _characters,
    "too_short": lambda c: f"Must have at least {_plural(c.get('min_length'), 'item', 'items')}",
    "too_long": lambda c: f"Must have at most {_plural(c.get('max_length'), 'item', 'items')}",
    "string_pattern_mismatch": lambda c: "Not in the expected format",
    "string_type": lambda c: "Must be text",
    "int_type": lambda c: "Must be a whole number",
    "int_parsing": lambda c: "Must be a whole number",
    "int_from_float": lambda c: "Must be a whole number",
    "float_type": lambda c: "Must be a number",
    "float_parsing": lambda c: "Must be a number",
    "bool_type": lambda c: "Must be true or false",
    "bool_parsing": lambda c: "Must be true or false",
    "greater_than_equal": lambda c: f"Must be at least {c.get('ge')}",
    "less_than_equal": lambda c: f"Must be at most {c.get('le')}",
    "greater_than": lambda c: f"Must be more than {c.get('gt')}",
    "less_than": lambda c: f"Must be less than {c.get('lt')}",
    "uuid_type": lambda c: "Not a valid id",
    "uuid_parsing": lambda c: "Not a valid id",
    "datetime_type": lambda c: "Not a valid date and time",
    "datetime_parsing": lambda c: "Not a valid date and time",
    "datetime_from_date_parsing": lambda c: "Not a valid date and time",
    "date_type": lambda c: "Not a valid date",
    "date_parsing": lambda c: "Not a valid date",
    "date_from_datetime_parsing": lambda c: "Not a valid date",
    "time_parsing": lambda c: "Not a valid time",
    "timezone_aware": lambda c: "Must include a time zone",
    "enum": _one_of,
    "literal_error": _one_of,
    "url_type": lambda c: "Not a valid link",
    "url_parsing": lambda c: "Not a valid link",
    "url_scheme": _url_scheme,
    "url_too_long": _characters,
    "dict_type": lambda c: "Must be an object",
    "model_type": lambda c: "Must be an object",
    "model_attributes_type": lambda c: "Must be an object",
    "list_type": lambda c: "Must be a list",
    "extra_forbidden": lambda c: "Unknown field",
    "email": lambda c: "Not a valid email address",
}


def sentence_case(message: str) -> str:
    """Our validators write "must be …" to follow a field name; alone it starts upper-case."""
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message[:1].upper() + message[1:]


def human_error(error_type: str, message: str, ctx: Ctx | None) -> dict[str, Any]:
    """The `type`, `message` and limits of one validation error item, in people's words."""
    ctx = ctx or {}
    if error_type == "value_error" and message.startswith(_PYDANTIC_EMAIL):
        error_type = "email"  # pydantic's EmailStr: the reason is for programmers
    phrase = _PHRASES.get(error_type)
    item: dict[str, Any] = {
        "type": error_type,
        "message": phrase(ctx) if phrase else sentence_case(message),
    }
    item.update({k: ctx[k] for k in _NUMERIC_LIMITS if _is_number(ctx.get(k))})
    item.update({k: ctx[k] for k in _TEXT_KEYS if isinstance(ctx.get(k), str) and ctx[k]})
    if error_type in ("enum", "literal_error"):
        item["allowed"] = _allowed(ctx)
    return item


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
