"""Housekeeping: forget ended sessions, old login attempts, published events past their
retention (clients can resume that far back) and handled webhook calls past theirs, with
the counters of refused ones; outgoing webhook attempts past theirs; and disable outgoing
webhooks whose deliveries have all failed for days."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from omnistream.auth import queries
from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.events import queries as event_queries
from omnistream.inbound import queries as inbound_queries
from omnistream.inbound import rejection_queries
from omnistream.webhooks import delivery_queries as webhook_queries
from omnistream.webhooks.service import disable_failing

log = logging.getLogger(__name__)
HOUSEKEEPING_LOCK_ID = 0x6F6D6E69686B7031  # one worker at a time runs a tick
INTERVAL_SECONDS = 300


async def housekeeping_tick(pool: Pool, settings: Settings) -> dict[str, int] | None:
    """One pass; None when another worker holds the tick."""
    async with transaction(pool) as tx:
        if not await queries.try_tick_lock(tx.conn, HOUSEKEEPING_LOCK_ID):
            return None
        sessions = await queries.purge_ended_sessions(tx.conn)
        attempts = await queries.purge_login_attempts(
            tx.conn, float(max(settings.login_window_seconds * 2, 86400))
        )
        events = await event_queries.purge_published(tx.conn, settings.event_retention_hours)
        webhooks = await inbound_queries.purge_audit(tx.conn, settings.webhook_audit_retention_days)
        rejections = await rejection_queries.purge_rejection_counts(
            tx.conn, settings.webhook_audit_retention_days
        )
        disabled = await disable_failing(tx, datetime.now(UTC), settings.webhook_auto_disable_days)
        hook_attempts, deliveries = await webhook_queries.purge(
            tx.conn, settings.webhook_delivery_retention_days
        )
    return {
        "sessions": sessions,
        "login_attempts": attempts,
        "events": events,
        "webhook_audit": webhooks,
        "webhook_rejections": rejections,
        "outgoing_webhook_attempts": hook_attempts,
        "outgoing_webhook_deliveries": deliveries,
        "outgoing_webhooks_disabled": len(disabled),
    }


async def housekeeping_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    while not stop.is_set():
        removed = await housekeeping_tick(pool, settings)
        if removed and any(removed.values()):
            log.info("housekeeping", extra={"removed": removed})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), INTERVAL_SECONDS)
