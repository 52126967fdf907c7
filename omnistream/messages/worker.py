"""The outbound sender: sends pending agent replies through the channel adapters.

One tick (`send_due`) is three steps, so that no transaction is open while the channel is
called and a crash at any point loses nothing:

1. Claim, in one short transaction: up to BATCH_SIZE due messages (FOR UPDATE SKIP LOCKED,
   so concurrent workers take disjoint sets), each leased by attempts + 1 and
   next_attempt_at = now + LEASE_SECONDS.
2. Send, outside any transaction, each through its channel's adapter (SEND_TIMEOUT_SECONDS
   each); conversations in parallel. A conversation's replies go out in the order written:
   the claim skips a message while an older one of its conversation is still pending and
   has not failed yet (outbound_queries.claim_due).
3. Record each outcome in its own transaction, with its message.updated event: 'sent' with
   the channel's id; a transient error schedules a retry with exponential backoff; a
   permanent error, or the last allowed attempt, is 'failed' with a readable reason.

At-least-once window: if the worker dies after the channel accepted a message but before
step 3 commits, the lease runs out and the message is sent again (the channel may then
show it twice). A send that times out is ambiguous in the same way and is retried. The
window is one send call; adapters narrow it with the channel's idempotency key where there
is one (OutboundMessage.message_id). A message whose lease ran out outlived
outbound_max_attempts is failed without another send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable

import asyncpg

from omnistream.channels.registry import (
    ChannelRegistry,
    MediaFile,
    OutboundMessage,
    PermanentSendError,
    SendError,
    TransientSendError,
    default_registry,
)
from omnistream.config import Settings
from omnistream.db.pool import Conn, Pool, transaction
from omnistream.kit.enums import Channel
from omnistream.messages import outbound_queries as queries
from omnistream.messages.queries import OUTBOUND_WAKE_CHANNEL
from omnistream.messages.service import emit_updated

log = logging.getLogger(__name__)
BATCH_SIZE = 16
CONCURRENCY = 8  # conversations sent to at once per tick
SEND_TIMEOUT_SECONDS = 15.0
# Longer than the slowest tick (a batch from one conversation, each send timing out).
LEASE_SECONDS = 300.0
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 900.0
IDLE_SECONDS = 1.0  # polling fallback: retries coming due, a lost NOTIFY


def backoff(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: 5, 10, 20, ... up to 15 min, with ±10% jitter
    so a burst of failures does not retry in lockstep."""
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    return delay * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not security


def recipient_of(row: asyncpg.Record) -> str | None:
    """Where the channel delivers: the WhatsApp id, the email address, or the channel's
    scoped user id."""
    found: str | None
    if row["channel"] == Channel.WHATSAPP:
        found = row["contact_phone"]
    elif row["channel"] == Channel.EMAIL:
        found = row["contact_external_id"] or row["contact_email"]
    else:
        found = row["contact_external_id"]
    return found


def _message(row: asyncpg.Record, settings: Settings) -> OutboundMessage:
    recipient = recipient_of(row)
    if not recipient:
        raise PermanentSendError(
            "no_recipient", f"the contact has no {row['channel']} address to send to"
        )
    media = None
    if row["media_id"] is not None:
        if row["media_status"] != "ready" or not row["storage_path"]:
            raise PermanentSendError("media_unavailable", "the attached file is not available")
        media = MediaFile(
            media_id=row["media_id"],
            path=settings.media_dir / row["storage_path"],
            mime_type=row["mime_type"],
            filename=row["filename"],
            size_bytes=row["size_bytes"] or 0,
            sha256=row["sha256"],
        )
    return OutboundMessage(
        message_id=row["id"],
        conversation_id=row["conversation_id"],
        channel=row["channel"],
        integration_account_id=row["integration_account_id"],
        recipient=recipient,
        type=row["type"],
        content=row["content"],
        media=media,
        reply_to_channel_message_id=row["reply_to_channel_message_id"],
        attempt=row["attempts"],
    )


async def _record(pool: Pool, update: Callable[[Conn], Awaitable[asyncpg.Record | None]]) -> None:
    """Write one outcome and its event; None from `update`: the message moved on (a newer
    lease, a retry), so there is nothing to record."""
    async with transaction(pool) as tx:
        row = await update(tx.conn)
        if row is not None:
            await emit_updated(tx.conn, row)


async def _send_one(
    pool: Pool, settings: Settings, registry: ChannelRegistry, row: asyncpg.Record
) -> None:
    message_id, attempt = row["id"], row["attempts"]
    try:
        if attempt > settings.outbound_max_attempts:
            # Only reachable through expired leases: earlier attempts never reported back.
            raise PermanentSendError(
                "attempts_exhausted",
                f"gave up after {settings.outbound_max_attempts} attempts without an answer",
            )
        message = _message(row, settings)
        adapter = registry.require(message.channel)
        try:
            result = await asyncio.wait_for(adapter.send(message), SEND_TIMEOUT_SECONDS)
        except TimeoutError:
            raise TransientSendError(
                "timeout",
                f"the {message.channel} API did not answer within {SEND_TIMEOUT_SECONDS:g} s",
            ) from None
    except PermanentSendError as exc:
        await _fail(pool, row, exc)
        return
    except TransientSendError as exc:
        await _retry_or_fail(pool, settings, row, exc)
        return
    except Exception as exc:  # an adapter bug: retried like a transient error, and logged
        log.exception("channel adapter raised", extra={"message_id": str(message_id)})
        error = TransientSendError("adapter_error", f"unexpected error in the adapter: {exc}")
        await _retry_or_fail(pool, settings, row, error)
        return
    try:
        await _record(pool, lambda c: queries.mark_sent(c, message_id, result.channel_message_id))
    except asyncpg.UniqueViolationError:
        duplicate = PermanentSendError(
            "duplicate_channel_id",
            f"the channel answered with an id already used: {result.channel_message_id}",
        )
        await _fail(pool, row, duplicate)


async def _fail(pool: Pool, row: asyncpg.Record, exc: SendError) -> None:
    message_id, attempt = row["id"], row["attempts"]
    log.info(
        "outbound message failed",
        extra={"message_id": str(message_id), "code": exc.code, "reason": exc.reason},
    )
    await _record(pool, lambda c: queries.mark_failed(c, message_id, attempt, exc.code, exc.reason))


async def _retry_or_fail(
    pool: Pool, settings: Settings, row: asyncpg.Record, exc: TransientSendError
) -> None:
    message_id, attempt = row["id"], row["attempts"]
    if attempt >= settings.outbound_max_attempts:
        final = PermanentSendError(exc.code, f"{exc.reason} (gave up after {attempt} attempts)")
        await _fail(pool, row, final)
        return
    delay = max(backoff(attempt), exc.retry_after or 0.0)
    await _record(
        pool,
        lambda c: queries.mark_retry(c, message_id, attempt, delay, exc.code, exc.reason),
    )


async def send_due(pool: Pool, settings: Settings, registry: ChannelRegistry) -> int:
    """One tick: claim due messages, send them, record the outcomes. Returns how many
    messages it handled (0: nothing was due)."""
    async with transaction(pool) as tx:
        claimed = await queries.claim_due(tx.conn, BATCH_SIZE, LEASE_SECONDS)
    if not claimed:
        return 0
    by_conversation: dict[object, list[asyncpg.Record]] = defaultdict(list)
    for row in claimed:  # oldest first
        by_conversation[row["conversation_id"]].append(row)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(rows: list[asyncpg.Record]) -> None:
        async with gate:
            for row in rows:
                try:
                    await _send_one(pool, settings, registry, row)
                except Exception:  # recording failed (database down): the lease retries it
                    log.exception("could not record an outbound outcome")

    await asyncio.gather(*(run(rows) for rows in by_conversation.values()))
    return len(claimed)


async def _idle(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def outbound_loop(
    pool: Pool, settings: Settings, stop: asyncio.Event, registry: ChannelRegistry | None = None
) -> None:
    """Runs ticks while there is work; otherwise sleeps until a reply commits (NOTIFY) or
    IDLE_SECONDS pass (retries coming due, expired leases)."""
    channels = registry or default_registry
    wake = asyncio.Event()

    def on_notify(*_: object) -> None:
        wake.set()

    async with pool.acquire() as listener:
        await listener.add_listener(OUTBOUND_WAKE_CHANNEL, on_notify)
        try:
            while not stop.is_set():
                wake.clear()
                if await send_due(pool, settings, channels):
                    continue
                await _idle(wake, stop, IDLE_SECONDS)
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(OUTBOUND_WAKE_CHANNEL, on_notify)
