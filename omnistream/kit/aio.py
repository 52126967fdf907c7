"""Small asyncio helpers shared by the worker loops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def wait_for_any(*events: asyncio.Event, seconds: float) -> None:
    """Until any of `events` is set or `seconds` pass (a loop's idle sleep that a
    wake-up or the stop signal cuts short)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def run_each(
    items: Iterable[T],
    handle: Callable[[T], Awaitable[None]],
    *,
    concurrency: int,
    log: logging.Logger,
    failure: str,
) -> None:
    """`handle` every item, at most `concurrency` at once. One that raises is logged with
    `failure` and does not stop the others (a leased item is tried again later)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: T) -> None:
        async with gate:
            try:
                await handle(item)
            except Exception:
                log.exception(failure)

    await asyncio.gather(*(one(item) for item in items))
