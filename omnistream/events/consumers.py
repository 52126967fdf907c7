"""The loop of an outbox consumer that polls (the SLA clocks, CSAT surveys): each reads the
outbox by seq from a position of its own (event_consumers) in batches. It polls instead of
LISTENing: each listener holds one of the worker's pooled connections for good."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from omnistream.kit.aio import wait_for_any

log = logging.getLogger(__name__)
BUSY_SECONDS = 0.05  # another worker holds the position: look again soon


async def poll_batches(
    name: str,
    batch: Callable[[], Awaitable[int | None]],
    full: int,
    stop: asyncio.Event,
    poll_seconds: float,
) -> None:
    """Runs `batch` (how many events it took; None: another worker holds the turn) again at
    once while full batches come back, else after `poll_seconds`, until `stop`."""
    while not stop.is_set():
        try:
            consumed = await batch()
        except asyncio.CancelledError:
            raise
        except Exception:  # the database went away, a deadlock: wait, then again
            log.exception("event consumer failed", extra={"consumer": name})
            consumed = 0
        if consumed is not None and consumed >= full:
            continue
        await wait_for_any(stop, seconds=BUSY_SECONDS if consumed is None else poll_seconds)
