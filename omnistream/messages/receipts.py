"""WhatsApp read receipts, sent by the outbound loop's ticks: best effort (a few tries, then
logged). Queued by conversations/service.mark_read (receipt_queries.queue_read_receipt)."""

from __future__ import annotations

import asyncio
import logging
import random

import asyncpg

from omnistream.channels.registry import ChannelRegistry, TransientSendError
from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.kit.enums import Channel
from omnistream.messages import receipt_queries
from omnistream.workers.liveness import current_key, log_claim

log = logging.getLogger(__name__)
RECEIPT_BATCH = 32
RECEIPT_MAX_ATTEMPTS = 3
RECEIPT_LEASE_SECONDS = 300.0
RECEIPT_TIMEOUT_SECONDS = 15.0


def retry_delay(attempt: int) -> float:
    """5, 10, 20 s ... with ±10 % jitter."""
    return 5.0 * 2.0 ** (attempt - 1) * random.uniform(0.9, 1.1)  # noqa: S311 - jitter


async def send_read_receipts(pool: Pool, settings: Settings, registry: ChannelRegistry) -> int:
    """Queued WhatsApp read receipts (conversations/service.mark_read): best effort."""
    async with transaction(pool) as tx:
        receipts = await receipt_queries.claim_read_receipts(
            tx.conn, RECEIPT_BATCH, RECEIPT_LEASE_SECONDS, current_key()
        )
    log_claim(log, "read receipts", len(receipts))
    if not receipts:
        return 0
    mark = getattr(registry.get(Channel.WHATSAPP), "mark_read", None)

    async def one(receipt: asyncpg.Record) -> None:
        retry, error = False, None
        if settings.whatsapp_mark_read and mark is not None:
            try:
                await asyncio.wait_for(
                    mark(receipt["integration_account_id"], receipt["channel_message_id"]),
                    RECEIPT_TIMEOUT_SECONDS,
                )
            except TimeoutError:
                retry, error = True, "timeout"
            except TransientSendError as exc:
                retry, error = True, f"{exc.code}: {exc.reason}"
            except Exception as exc:  # permanent errors and adapter bugs: give up
                error = str(exc)
        if error:
            log.warning(
                "WhatsApp read receipt failed",
                extra={
                    "conversation_id": str(receipt["conversation_id"]),
                    "attempt": receipt["attempts"],
                    "error": error,
                },
            )
        async with transaction(pool) as tx:
            if retry and receipt["attempts"] < RECEIPT_MAX_ATTEMPTS:
                await receipt_queries.retry_read_receipt(
                    tx.conn, receipt, retry_delay(receipt["attempts"])
                )
            else:
                await receipt_queries.finish_read_receipt(tx.conn, receipt)

    await asyncio.gather(*(one(r) for r in receipts))
    return len(receipts)
