"""Text helpers shared by queries."""

from __future__ import annotations


def contains_pattern(q: str | None) -> str | None:
    """An ILIKE pattern matching q anywhere, with q's own wildcards escaped."""
    if q is None or not q.strip():
        return None
    escaped = q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
