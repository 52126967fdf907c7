"""CSV cells a spreadsheet shows as text, never runs (CSV injection)."""

from __future__ import annotations

import re
from typing import Any

# Spreadsheets run a cell starting with these as a formula.
_FORMULA = re.compile(r"^[=+\-@\t\r]")


def safe_cell(value: Any) -> str:
    """The cell's text: ISO 8601 for dates and times, empty for None, and a leading
    apostrophe before what a spreadsheet would run (a phone number like +62... stays)."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if _FORMULA.match(text) and not text.lstrip("+").isdigit() else text
