"""The inbound loop: applies acknowledged webhook calls in batches, and fetches their media.

`process_batch` is one tick: in ONE transaction it claims up to BATCH_SIZE due pending audit
rows (FOR UPDATE SKIP LOCKED, in arrival order), parses and applies each inside its own
SAVEPOINT, and writes every row's outcome with one statement:
- processed: applied (notes about skipped parts are kept in `error`);
- unroutable: no item names an active integration account;
- failed: unreadable (bad JSON, wrong object, missing ids) or refused by the store; its
  savepoint is rolled back, so one bad payload never blocks the others;
- pending again, after a delay: a receipt or echo names a message not recorded yet, or the
  database reported a deadlock / serialization failure; retried a few times, then failed.
Savepoint handling costs one round trip per row (RELEASE of the previous row and SAVEPOINT
of the next are sent together).

The loop runs CONCURRENCY such ticks side by side (each on its own connection; SKIP LOCKED
gives them disjoint rows), woken by the NOTIFY the webhook's insert sends, with a short
poll as fallback (retries coming due, a lost NOTIFY). A media runner shares the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.inbound import queries, service
from omnistream.inbound.media import fetch_media
from omnistream.inbound.model import PayloadError
from omnistream.inbound.service import Outcome
from omnistream.integrations.credentials import box_from
from omnistream.kit.crypto import SecretBox
from omnistream.messages.service import InboundError

log = logging.getLogger(__name__)
BATCH_SIZE = 100
CONCURRENCY = 2  # batches applied at once (more queue on the same contacts' rows)
IDLE_SECONDS = 1.0
TRANSIENT_TRIES = 5
TRANSIENT = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.LockNotAvailableError,
    asyncpg.QueryCanceledError,
    TimeoutError,
)
_SAVEPOINT = "SAVEPOINT audit_row"
_NEXT_SAVEPOINT = "RELEASE SAVEPOINT audit_row; SAVEPOINT audit_row"


def _failure(exc: BaseException, attempt: int, channel: str | None) -> Outcome:
    reason = f"{type(exc).__name__}: {exc}"[: service.ERROR_MAX]
    if isinstance(exc, TRANSIENT) and attempt < TRANSIENT_TRIES:
        return Outcome("pending", reason, service.retry_delay(attempt), channel)
    return Outcome("failed", reason, channel=channel)


async def process_batch(
    pool: Pool, settings: Settings, box: SecretBox, limit: int = BATCH_SIZE
) -> int:
    """One tick; returns how many audit rows it handled (0: none was due)."""
    async with transaction(pool) as tx:
        conn = tx.conn
        rows = await queries.claim(conn, limit)
        if not rows:
            return 0
        accounts = service.Accounts(conn, box)
        outcomes: list[Outcome] = []
        savepoint = _SAVEPOINT
        for row in rows:
            attempt = row["attempts"] + 1
            try:
                parsed = service.parse(row["body"])
            except PayloadError as exc:
                outcomes.append(Outcome("failed", str(exc)[: service.ERROR_MAX]))
                continue
            await conn.execute(savepoint)
            savepoint = _NEXT_SAVEPOINT
            try:
                outcome = await service.apply(tx, parsed, accounts, attempt)
            except (asyncpg.PostgresError, InboundError, TimeoutError) as exc:
                await conn.execute("ROLLBACK TO SAVEPOINT audit_row")
                outcome = _failure(exc, attempt, parsed.channel)
            except Exception as exc:  # a bug: this payload fails, the batch goes on
                await conn.execute("ROLLBACK TO SAVEPOINT audit_row")
                log.exception("inbound payload raised", extra={"audit_id": row["id"]})
                outcome = _failure(exc, attempt, parsed.channel)
            outcomes.append(outcome)
        await queries.finish(
            conn,
            [r["id"] for r in rows],
            [o.status for o in outcomes],
            [o.error for o in outcomes],
            [o.delay for o in outcomes],
            [o.channel for o in outcomes],
        )
        if any(o.media for o in outcomes):
            await queries.wake_media(conn)
    return len(rows)


async def _idle(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _run(
    name: str, tick: Callable[[], Awaitable[int]], wake: asyncio.Event, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        wake.clear()
        try:
            handled = await tick()
        except asyncio.CancelledError:
            raise
        except Exception:  # the database went away: wait, then try again
            log.exception("inbound tick failed", extra={"runner": name})
            handled = 0
        if not handled:
            await _idle(wake, stop, IDLE_SECONDS)


async def inbound_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    """CONCURRENCY batch runners and one media runner, woken by NOTIFY or every IDLE_SECONDS."""
    box = box_from(settings)
    batch_wakes = [asyncio.Event() for _ in range(CONCURRENCY)]
    media_wake = asyncio.Event()

    def on_inbound(*_: object) -> None:
        for wake in batch_wakes:
            wake.set()

    def on_media(*_: object) -> None:
        media_wake.set()

    async with pool.acquire() as listener:
        await listener.add_listener(queries.INBOUND_WAKE_CHANNEL, on_inbound)
        await listener.add_listener(queries.MEDIA_WAKE_CHANNEL, on_media)
        try:
            runners = [
                _run(f"batch-{i}", lambda: process_batch(pool, settings, box), wake, stop)
                for i, wake in enumerate(batch_wakes)
            ]
            runners.append(
                _run("media", lambda: fetch_media(pool, settings, box), media_wake, stop)
            )
            await asyncio.gather(*runners)
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(queries.INBOUND_WAKE_CHANNEL, on_inbound)
                await listener.remove_listener(queries.MEDIA_WAKE_CHANNEL, on_media)
