"""One scrape: the backlogs read from the database, then the text the registry renders.
Shared by GET /metrics on the API port and the separate listener (listener.py)."""

from __future__ import annotations

import asyncio
import hmac
import logging

from omnistream.config import Settings
from omnistream.db.pool import Pool
from omnistream.metrics.queries import Backlog, backlogs
from omnistream.metrics.registry import render

log = logging.getLogger(__name__)
BACKLOG_TIMEOUT = 5.0  # a scrape must not hang on a busy database


async def scrape(pool: Pool | None, settings: Settings) -> bytes:
    """The metrics text; the backlogs are left out (and logged) when the database does not
    answer, so the process's own metrics still come through."""
    found: dict[str, Backlog] | None = None
    if pool is not None:
        try:
            async with asyncio.timeout(BACKLOG_TIMEOUT), pool.acquire() as conn:
                found = await backlogs(conn)
        except Exception as exc:  # any database failure: the rest of the scrape still counts
            log.warning("metrics: backlogs not read: %s", exc)
    return render(settings.metrics_multiproc_dir, found)


def authorized(settings: Settings, header: str | None) -> bool:
    """`Authorization: Bearer <metrics_token>`, compared in constant time."""
    token = settings.metrics_token
    if token is None or header is None:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
