"""The outbound sender: sends pending agent replies through the channel adapters.

One tick (`send_due`) is three steps, so that no transaction is open while the channel is
called and a crash at any point loses nothing:

1. Claim, in one short transaction: up to BATCH_SIZE due messages (FOR UPDATE SKIP LOCKED,
   so concurrent workers take disjoint sets), each leased by attempts + 1 and
   next_attempt_at = now + LEASE_SECONDS.
2. Send, outside any transaction. Messages of an integration account first take send
   slots from its rate limiter (channels/ratelimit.py: at most send_rate_per_second per
   second across all workers) and start each send at its slot; up to CONCURRENCY sends are
   in flight per tick. A conversation's replies go out in the order written: the claim
   skips a message while an older one of its conversation is still pending and has not
   failed yet (outbound_queries.claim_due), and within a tick a conversation's sends run
   one after the other. Messages that get no slot soon (GRANT_WAIT_SECONDS, HOLD_SECONDS),
   or when the worker stops, are given back unsent; the claim leaves an account alone while
   its slots are taken more than SATURATED_AHEAD_SECONDS ahead.
3. Record the outcomes, batched (at most FLUSH_SECONDS or FLUSH_SIZE outcomes per
   transaction), each with its message.updated event: 'sent' with the channel's id; a
   transient error schedules a retry with exponential backoff; a permanent error, or the
   last allowed attempt, is 'failed' with a readable reason. An auth failure (Meta 190,
   HTTP 401) also marks the integration auth_failed.

Crash window: if the worker dies after the channel accepted a message but before its
outcome commits (one send call plus at most FLUSH_SECONDS), the message stays pending under
its lease. Each send carries our message id (WhatsApp biz_opaque_callback_data, Messenger /
Instagram metadata), which Meta echoes back in the status webhooks and echoes; the inbound
loop records the channel id and 'sent' from them (inbound/accepted.py), and the claim never
takes a message that has a channel id, so it is not sent again when the lease runs out.
Only if no status reaches OmniStream before the lease ends (LEASE_SECONDS; webhooks down
that long) is the message sent a second time, recognisable at Meta by the same id; a send
that times out is ambiguous in the same way and is retried. Nothing else is sent twice: a
message is only sent under a lease, and a recorded outcome is final. A message whose lease
ran out outlived outbound_max_attempts is failed without another send.

The tick also sends queued WhatsApp read receipts (best effort: a few tries, then logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict, deque
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.channels.errors import AuthSendError
from omnistream.channels.meta_page.outbound import PageMessage
from omnistream.channels.ratelimit import RateLimiter, sleep_until
from omnistream.channels.registry import (
    ChannelRegistry,
    MediaFile,
    OutboundMessage,
    PermanentSendError,
    SendError,
    SendResult,
    TransientSendError,
    send_within,
)
from omnistream.config import Settings
from omnistream.db.listen import notified
from omnistream.db.pool import Conn, Pool, transaction
from omnistream.events.outbox import emit_many
from omnistream.integrations.health import Health, HealthOutcome, record_health
from omnistream.kit.aio import BatchedWrites, wait_for_any
from omnistream.kit.enums import Channel
from omnistream.messages import outbound_queries as queries
from omnistream.messages.accepted import updated_draft
from omnistream.messages.queries import OUTBOUND_WAKE_CHANNEL
from omnistream.messages.receipts import send_read_receipts
from omnistream.messages.senders import meta_registry
from omnistream.messages.service import emit_updated
from omnistream.workers.liveness import current_key, log_claim

log = logging.getLogger(__name__)
BATCH_SIZE = 50
LANES = 4  # ticks each outbound loop runs side by side
CONCURRENCY = 32  # sends in flight per tick
SEND_TIMEOUT_SECONDS = 15.0
# Longer than the slowest tick: HOLD_SECONDS waiting for slots, then sends timing out.
LEASE_SECONDS = 300.0
# A tick waits at most GRANT_WAIT_SECONDS for each grant of send slots and holds claimed
# messages at most HOLD_SECONDS; the rest goes back unsent, so a slow account's backlog
# never keeps the ticks from other accounts' messages for long.
GRANT_WAIT_SECONDS = 0.5
HOLD_SECONDS = 5.0
SATURATED_AHEAD_SECONDS = 0.5  # the claim skips accounts with slots taken this far ahead
DEFAULT_RATE = 80
FLUSH_SIZE = 64
FLUSH_SECONDS = 0.02
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
    if row["attempts"] > settings.outbound_max_attempts:
        # Only reachable through expired leases: earlier attempts never reported back.
        raise PermanentSendError(
            "attempts_exhausted",
            f"gave up after {settings.outbound_max_attempts} attempts without an answer",
        )
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
    fields: dict[str, Any] = {
        "message_id": row["id"],
        "conversation_id": row["conversation_id"],
        "channel": row["channel"],
        "integration_account_id": row["integration_account_id"],
        "recipient": recipient,
        "type": row["type"],
        "content": row["content"],
        "media": media,
        "reply_to_channel_message_id": row["reply_to_channel_message_id"],
        "attempt": row["attempts"],
    }
    if row["channel"] in (Channel.MESSENGER, Channel.INSTAGRAM):
        return PageMessage(**fields, last_inbound_at=row["last_inbound_at"])
    return OutboundMessage(**fields)


class _Outcomes(BatchedWrites):
    """Outcomes of one tick, written in batches by `run` (a task of the tick)."""

    def __init__(self, pool: Pool, settings: Settings) -> None:
        super().__init__(FLUSH_SECONDS)
        self.pool, self.settings = pool, settings
        self.sent: list[tuple[asyncpg.Record, SendResult, datetime]] = []
        self.other: list[tuple[asyncpg.Record, SendError]] = []
        self.auth: dict[UUID, str] = {}

    def add_sent(self, row: asyncpg.Record, result: SendResult) -> None:
        self.sent.append((row, result, datetime.now(UTC)))
        if len(self.sent) >= FLUSH_SIZE:
            self.due.set()

    def add_error(self, row: asyncpg.Record, exc: SendError) -> None:
        if isinstance(exc, AuthSendError) and exc.integration_id is not None:
            self.auth[exc.integration_id] = exc.reason
        log.info(
            "outbound send failed",
            extra={"message_id": str(row["id"]), "code": exc.code, "reason": exc.reason},
        )
        self.other.append((row, exc))

    async def flush(self) -> None:
        sent, other, auth = self.sent, self.other, self.auth
        self.sent, self.other, self.auth = [], [], {}
        if not (sent or other or auth):
            return
        try:
            try:
                await self._write(sent, other, auth)
            except asyncpg.UniqueViolationError:  # a channel id already used: find which
                await self._one_by_one(sent)
                await self._write([], other, auth)
        except Exception:  # database trouble: the leases run out and the messages are resent
            log.exception("could not record outbound outcomes", extra={"count": len(sent)})

    async def _one_by_one(self, sent: list[tuple[asyncpg.Record, SendResult, datetime]]) -> None:
        for row, result, at in sent:
            try:
                await self._write([(row, result, at)], [], {})
            except asyncpg.UniqueViolationError:
                reason = (
                    f"the channel answered with an id already used: {result.channel_message_id}"
                )
                error = PermanentSendError("duplicate_channel_id", reason)
                await self._write([], [(row, error)], {})

    async def _write(
        self,
        sent: list[tuple[asyncpg.Record, SendResult, datetime]],
        other: list[tuple[asyncpg.Record, SendError]],
        auth: dict[UUID, str],
    ) -> None:
        async with transaction(self.pool) as tx:
            conn = tx.conn
            if sent:
                items = [(r["id"], res.channel_message_id, at) for r, res, at in sent]
                changed = await queries.mark_sent_many(conn, items)
                # emit_updated's message.updated, one INSERT for the batch: a round trip per
                # event made recording the outcomes the sender's slowest step in bursts.
                await emit_many(conn, [updated_draft(r) for r in changed])
            for row, exc in other:
                moved = await self._unsent(conn, row, exc)
                if moved is not None:
                    await emit_updated(conn, moved)
            for integration_id, reason in auth.items():
                await record_health(conn, integration_id, HealthOutcome(Health.AUTH_FAILED, reason))

    async def _unsent(
        self, conn: Conn, row: asyncpg.Record, exc: SendError
    ) -> asyncpg.Record | None:
        message_id, attempt = row["id"], row["attempts"]
        if isinstance(exc, TransientSendError):
            if attempt < self.settings.outbound_max_attempts:
                delay = max(backoff(attempt), exc.retry_after or 0.0)
                return await queries.mark_retry(
                    conn, message_id, attempt, delay, exc.code, exc.reason
                )
            reason = f"{exc.reason} (gave up after {attempt} attempts)"
            return await queries.mark_failed(conn, message_id, attempt, exc.code, reason)
        return await queries.mark_failed(conn, message_id, attempt, exc.code, exc.reason)


class _Tick:
    def __init__(
        self, pool: Pool, settings: Settings, registry: ChannelRegistry, stop: asyncio.Event
    ) -> None:
        self.pool, self.settings, self.registry, self.stop = pool, settings, registry, stop
        self.outcomes = _Outcomes(pool, settings)
        self.limiter = RateLimiter(pool)
        self.gate = asyncio.Semaphore(CONCURRENCY)
        self.last: dict[UUID, asyncio.Task[None]] = {}  # conversation -> its latest send
        self.tasks: set[asyncio.Task[None]] = set()
        self.unsent: list[asyncpg.Record] = []
        self.hold_until = time.time() + HOLD_SECONDS

    async def run(self, claimed: list[asyncpg.Record]) -> None:
        by_account: dict[UUID | None, list[tuple[asyncpg.Record, OutboundMessage]]]
        by_account = defaultdict(list)
        for row in claimed:  # oldest first
            try:
                by_account[row["integration_account_id"]].append(
                    (row, _message(row, self.settings))
                )
            except PermanentSendError as exc:
                self.outcomes.add_error(row, exc)
        writer = asyncio.create_task(self.outcomes.run())
        try:
            done = await asyncio.gather(
                *(self._account(a, items) for a, items in by_account.items()),
                return_exceptions=True,
            )
            while self.tasks:  # every started send reports before the tick ends
                await asyncio.gather(*list(self.tasks), return_exceptions=True)
            for result in done:
                if isinstance(result, BaseException):
                    raise result
        finally:
            await self.outcomes.close(writer)
            if self.unsent:
                async with transaction(self.pool) as tx:
                    await queries.release(tx.conn, [(r["id"], r["attempts"]) for r in self.unsent])

    async def _account(
        self, account_id: UUID | None, items: list[tuple[asyncpg.Record, OutboundMessage]]
    ) -> None:
        """Sends one account's messages, each at a send slot of the account."""
        if account_id is None:  # nothing to rate-limit on (fails in the adapter, or a test)
            for row, message in items:
                await self._start(row, message, None)
            return
        rate = items[0][0]["send_rate_per_second"] or DEFAULT_RATE
        pending = deque(items)
        try:
            while pending and not self.stop.is_set():
                until = min(self.hold_until, time.time() + GRANT_WAIT_SECONDS)
                grant = await self.limiter.acquire(account_id, len(pending), rate, until)
                if grant is None:
                    break
                for i in range(grant.count):
                    await sleep_until(grant.slot(i))
                    row, message = pending[0]
                    if await self._start(row, message, grant.deadline(i)):
                        pending.popleft()  # else: too late for this slot; try the next
        finally:
            self.unsent.extend(row for row, _ in pending)

    async def _start(
        self, row: asyncpg.Record, message: OutboundMessage, deadline: float | None
    ) -> bool:
        """Start one send (in order within its conversation); False if `deadline` passed."""
        previous = self.last.get(message.conversation_id)
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        await self.gate.acquire()
        if deadline is not None and time.time() > deadline:
            self.gate.release()
            return False
        task = asyncio.create_task(self._send(row, message))
        task.add_done_callback(lambda _: self.gate.release())
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)
        self.last[message.conversation_id] = task
        return True

    async def _send(self, row: asyncpg.Record, message: OutboundMessage) -> None:
        try:
            result = await send_within(self.registry, message, SEND_TIMEOUT_SECONDS)
        except SendError as exc:
            self.outcomes.add_error(row, exc)
        except Exception as exc:  # an adapter bug: retried like a transient error, and logged
            log.exception("channel adapter raised", extra={"message_id": str(message.message_id)})
            error = TransientSendError("adapter_error", f"unexpected error in the adapter: {exc}")
            self.outcomes.add_error(row, error)
        else:
            self.outcomes.add_sent(row, result)


async def send_due(
    pool: Pool,
    settings: Settings,
    registry: ChannelRegistry,
    stop: asyncio.Event | None = None,
) -> int:
    """One tick: send due read receipts; claim due messages, send them, record the
    outcomes. Returns how many messages and receipts it handled (0: nothing was due)."""
    handled = await send_read_receipts(pool, settings, registry)
    async with transaction(pool) as tx:
        claimed = await queries.claim_due(
            tx.conn,
            BATCH_SIZE,
            LEASE_SECONDS,
            SATURATED_AHEAD_SECONDS,
            current_key(),
            settings.worker_takeover_grace_seconds,
        )
    log_claim(log, "replies", len(claimed))
    if claimed:
        await _Tick(pool, settings, registry, stop or asyncio.Event()).run(claimed)
    return handled + len(claimed)


async def outbound_loop(
    pool: Pool, settings: Settings, stop: asyncio.Event, registry: ChannelRegistry | None = None
) -> None:
    """LANES ticks side by side while there is work; each sleeps, when idle, until a reply
    commits (NOTIFY) or IDLE_SECONDS pass (retries coming due, expired leases)."""
    async with contextlib.AsyncExitStack() as stack:
        channels = registry
        if channels is None:
            channels = await stack.enter_async_context(meta_registry(pool, settings))
        _, wake = await stack.enter_async_context(notified(pool, OUTBOUND_WAKE_CHANNEL))

        async def lane() -> None:
            while not stop.is_set():
                wake.clear()
                if await send_due(pool, settings, channels, stop):
                    continue
                await wait_for_any(wake, stop, seconds=IDLE_SECONDS)

        async with asyncio.TaskGroup() as lanes:
            for _ in range(LANES):
                lanes.create_task(lane())
