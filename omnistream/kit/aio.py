"""Small asyncio helpers shared by the worker loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
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


class BatchedWrites(ABC):
    """Outcomes gathered by a tick's tasks and written in batches: `run` (a task of the
    tick) calls `flush` whenever `due` is set, at least every `seconds`, and once more
    after `closed` is set."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.due = asyncio.Event()
        self.closed = False

    async def run(self) -> None:
        while not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.due.wait(), self.seconds)
            self.due.clear()
            await self.flush()
        await self.flush()

    async def close(self, writer: asyncio.Task[None]) -> None:
        """Stop `run` (the task `writer`) after a last flush."""
        self.closed = True
        self.due.set()
        await writer

    @abstractmethod
    async def flush(self) -> None:
        """Write what was gathered since the last flush."""
