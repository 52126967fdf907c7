"""Small asyncio helpers shared by the worker loops."""

from __future__ import annotations

import asyncio


async def wait_for_any(*events: asyncio.Event, seconds: float) -> None:
    """Until any of `events` is set or `seconds` pass (a loop's idle sleep that a
    wake-up or the stop signal cuts short)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
