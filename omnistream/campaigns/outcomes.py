"""What happened to a campaign's sends, written in batches (at most FLUSH_SECONDS or
FLUSH_SIZE outcomes per transaction), as the outbound sender does (messages/worker.py).

- Accepted: 'sent' with Meta's id.
- Transient errors (rate limits, timeouts, 5xx): due again after a backoff, until
  outbound_max_attempts; then 'failed'.
- 131050 (the customer stopped marketing messages): 'failed', and the number is opted out.
- Errors of the campaign rather than the recipient (the token refused, the account or
  integration gone or off, the template missing, paused or disabled, a missing permission):
  the recipient goes back unsent and the campaign stops as `failed` with the reason; the
  integration is marked auth_failed on a refused token.
- Any other error: 'failed' with Meta's code and a readable reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from omnistream.campaigns import opt_out_service, send_queries, service
from omnistream.channels.errors import AuthSendError
from omnistream.channels.registry import NO_ADAPTER, SendError, SendResult, TransientSendError
from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.integrations.health import Health, HealthOutcome, record_health
from omnistream.kit.aio import BatchedWrites
from omnistream.messages.worker import backoff

log = logging.getLogger(__name__)
FLUSH_SIZE = 200
FLUSH_SECONDS = 0.05
WRITE_TRIES = 5
OPTED_OUT_CODE = "131050"
# Errors that no recipient of the campaign can escape: stop the campaign instead.
CAMPAIGN_CODES = frozenset(
    {"no_account", "integration_inactive", "wrong_account", NO_ADAPTER, "3", "10", "132001",
     "132015", "132016", "http_401", "http_403", "http_404"}
)  # fmt: skip


def campaign_level(exc: SendError) -> bool:
    if isinstance(exc, AuthSendError) or exc.code in CAMPAIGN_CODES:
        return True
    return exc.code.isdigit() and 200 <= int(exc.code) < 300  # permission errors


@dataclass(frozen=True, slots=True)
class Claimed:
    id: UUID
    phone: str
    attempt: int


@dataclass
class Batch:
    sent: list[tuple[Claimed, SendResult, datetime]] = field(default_factory=list)
    failed: list[tuple[Claimed, str, str]] = field(default_factory=list)
    retry: list[tuple[Claimed, float, str, str]] = field(default_factory=list)
    released: list[Claimed] = field(default_factory=list)
    stop_reason: str | None = None
    auth: dict[UUID, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.sent or self.failed or self.retry or self.released or self.stop_reason)


class Outcomes(BatchedWrites):
    """The outcomes of one campaign's sends in this worker; `run` writes them."""

    def __init__(self, pool: Pool, settings: Settings, campaign_id: UUID) -> None:
        super().__init__(FLUSH_SECONDS)
        self.pool, self.settings, self.campaign_id = pool, settings, campaign_id
        self.batch = Batch()
        self.stopped: str | None = None  # the campaign failed: why

    def sent(self, item: Claimed, result: SendResult) -> None:
        self.batch.sent.append((item, result, datetime.now(UTC)))
        if len(self.batch.sent) >= FLUSH_SIZE:
            self.due.set()

    def release(self, items: list[Claimed]) -> None:
        self.batch.released.extend(items)

    def fail(self, item: Claimed, code: str, reason: str) -> None:
        self.batch.failed.append((item, code, reason))

    def error(self, item: Claimed, exc: SendError) -> None:
        if campaign_level(exc):
            self.batch.released.append(item)
            if self.stopped is None:
                self.stopped = exc.reason
                self.batch.stop_reason = f"{exc.reason} (error {exc.code})"
                if isinstance(exc, AuthSendError) and exc.integration_id is not None:
                    self.batch.auth[exc.integration_id] = exc.reason
                self.due.set()
            return
        if (
            isinstance(exc, TransientSendError)
            and item.attempt < self.settings.outbound_max_attempts
        ):
            delay = max(backoff(item.attempt), exc.retry_after or 0.0)
            self.batch.retry.append((item, delay, exc.code, exc.reason))
            return
        reason = exc.reason
        if isinstance(exc, TransientSendError):
            reason = f"{reason} (gave up after {item.attempt} attempts)"
        self.fail(item, exc.code, reason)

    async def flush(self) -> None:
        batch, self.batch = self.batch, Batch()
        if not batch:
            return
        try:
            await self._write_retrying(batch)
        except asyncpg.UniqueViolationError:  # a wamid stored twice: write the rest first
            log.warning("campaign outcome with a channel id already stored", exc_info=True)
            await self._one_by_one(batch)
        except Exception:  # database trouble: the leases run out and the takeover resends
            log.exception(
                "could not record campaign outcomes", extra={"campaign_id": str(self.campaign_id)}
            )

    async def _write_retrying(self, batch: Batch) -> None:
        """A deadlock with the inbound loop (a receipt of the same recipients) is retried:
        an outcome not written would be sent again when its lease runs out."""
        for attempt in range(1, WRITE_TRIES + 1):
            try:
                await self._write(batch)
                return
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                if attempt == WRITE_TRIES:
                    raise
                await asyncio.sleep(0.05 * attempt)

    async def _one_by_one(self, batch: Batch) -> None:
        for item, result, at in batch.sent:
            with contextlib.suppress(asyncpg.UniqueViolationError):
                await self._write(Batch(sent=[(item, result, at)]))
        await self._write(replace_sent(batch))

    async def _write(self, batch: Batch) -> None:
        async with transaction(self.pool) as tx:
            conn = tx.conn
            if batch.sent:
                await send_queries.mark_sent(
                    conn, [(c.id, c.attempt, r.channel_message_id, at) for c, r, at in batch.sent]
                )
            if batch.failed:
                await send_queries.mark_failed(
                    conn, [(c.id, c.attempt, code, reason) for c, code, reason in batch.failed]
                )
                for claimed, code, _ in batch.failed:
                    if code == OPTED_OUT_CODE:
                        await opt_out_service.opt_out(
                            conn, None, claimed.phone, "meta_131050", campaign_id=self.campaign_id
                        )
            if batch.retry:
                await send_queries.mark_retry(
                    conn, [(c.id, c.attempt, d, code, why) for c, d, code, why in batch.retry]
                )
            if batch.released:
                await send_queries.release(conn, [(c.id, c.attempt) for c in batch.released])
            for integration_id, reason in batch.auth.items():
                await record_health(conn, integration_id, HealthOutcome(Health.AUTH_FAILED, reason))
            if batch.stop_reason is not None:
                await service.fail(conn, self.campaign_id, batch.stop_reason)


def replace_sent(batch: Batch) -> Batch:
    return Batch([], batch.failed, batch.retry, batch.released, batch.stop_reason, batch.auth)
