"""Values of custom attributes checked against their definitions (pure: no SQL, no HTTP).

text: a string (at most TEXT_MAX characters); number: a JSON number (not a boolean, finite);
date: "YYYY-MM-DD"; list: exactly one of the definition's options. null removes a value.
Every bad value is named `attributes.<key>` in one 422 (nothing is written).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from omnistream.kit.errors import Unprocessable

TEXT_MAX = 1000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")


def problem(key: str, message: str, kind: str) -> dict[str, str]:
    return {"field": f"attributes.{key}", "message": message, "type": kind}


def value_error(definition: Mapping[str, Any], value: Any) -> tuple[str, str] | None:
    """(message, type) when the value does not fit the definition; None when it does."""
    kind = definition["type"]
    if kind == "text":
        if not isinstance(value, str) or "\x00" in value:
            return "must be a string", "string_type"
        if len(value) > TEXT_MAX:
            return f"must be at most {TEXT_MAX} characters", "string_too_long"
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number", "number_type"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number", "number_type"
    elif kind == "date":
        if not isinstance(value, str) or not _DATE.match(value):
            return "must be a date written YYYY-MM-DD", "date_type"
        try:
            date.fromisoformat(value)
        except ValueError:
            return "is not a date of the calendar", "date_type"
    elif value not in definition["options"]:
        return f"must be one of: {', '.join(definition['options'])}", "enum"
    return None


def checked(
    definitions: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any]
) -> dict[str, Any]:
    """The values as sent (None: remove the key); 422 naming every unknown key or bad value."""
    errors = []
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors.append(problem(key, "is not a defined contact attribute", "unknown_attribute"))
        elif value is not None and (found := value_error(definition, value)) is not None:
            errors.append(problem(key, *found))
    if errors:
        raise Unprocessable(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    return dict(values)


def from_cell(definition: Mapping[str, Any], text: str) -> Any:
    """A CSV cell read as the attribute's value (numbers with a decimal point or comma);
    the cell itself when it cannot be read, so value_error names the problem."""
    if definition["type"] == "number" and _NUMBER.match(text):
        spelled = text.replace(",", ".")
        return float(spelled) if "." in spelled else int(spelled)
    if definition["type"] == "list":  # the option as defined, whatever its letter case
        for option in definition["options"]:
            if option.casefold() == text.casefold():
                return option
    return text


def apply(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The contact's attributes after the changes (None removes a key)."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
