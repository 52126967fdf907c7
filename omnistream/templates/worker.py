"""Template sync: one integration on demand (`sync_integration`, used by the admin's route and
the tick) and the periodic tick of the worker (`template_sync_loop`).

A sync reads every page from Meta with no transaction open, then applies the listing in one
transaction (templates/service.apply_sync). A failure is recorded on the integration's sync
row; Meta refusing the token (190, HTTP 401) also marks the integration auth_failed, as the
outbound sender does.

The periodic tick runs in one worker at a time (a session advisory lock, held while it
syncs) and syncs the active WhatsApp integrations whose last attempt is older than
OMNISTREAM_TEMPLATE_SYNC_SECONDS (never synced: at once); a failed one is retried sooner,
after RETRY_SECONDS doubled per consecutive failure, at most that interval. Workers look
every CHECK_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from uuid import UUID

from omnistream.auth.principal import Principal
from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.integrations.credentials import box_from
from omnistream.integrations.health import Health, HealthOutcome, record_health
from omnistream.kit.crypto import SecretBox
from omnistream.kit.errors import AppError
from omnistream.templates import queries, service
from omnistream.templates.graph import SyncError, SyncTarget, fetch_all
from omnistream.templates.schemas import SyncOut

log = logging.getLogger(__name__)
CHECK_SECONDS = 60.0
# A failed sync is retried after 1, 2, 4, ... minutes (at most the sync interval), not an
# interval later: the first retry comes at the next check after a minute.
RETRY_SECONDS = 60.0


async def sync_target(
    pool: Pool, settings: Settings, target: SyncTarget, actor: Principal | None = None
) -> SyncOut:
    """Fetch every page, then apply; raises SyncError (already recorded) when Meta failed."""
    fetched_at = datetime.now(UTC)
    try:
        listed = await fetch_all(target, allow_private=settings.allow_private_urls)
    except SyncError as exc:
        async with transaction(pool) as tx:
            await service.record_failure(tx, target, exc, actor=actor)
            if exc.auth:
                outcome = HealthOutcome(Health.AUTH_FAILED, exc.reason)
                await record_health(tx.conn, target.integration_id, outcome)
        raise
    async with transaction(pool) as tx:
        return await service.apply_sync(tx, target, listed, actor=actor, fetched_at=fetched_at)


async def sync_integration(
    pool: Pool,
    settings: Settings,
    box: SecretBox,
    integration_id: UUID,
    actor: Principal | None = None,
) -> SyncOut:
    """One integration's sync (404 / 409 when it cannot be synced; SyncError from Meta)."""
    async with pool.acquire() as conn:
        target = await service.target(conn, box, integration_id)
    return await sync_target(pool, settings, target, actor)


async def sync_tick(
    pool: Pool, settings: Settings, box: SecretBox, retry_seconds: float = RETRY_SECONDS
) -> int | None:
    """Sync every due integration; None when another worker holds the tick, else how many
    integrations were attempted. One integration's failure does not stop the others; it is
    retried after retry_seconds, then twice as long after each further failure."""
    async with pool.acquire() as conn:
        if not await queries.try_tick_lock(conn):
            return None
        try:
            every = float(settings.template_sync_seconds)
            due = await queries.due_integrations(conn, every, retry_seconds)
            for row in due:
                try:
                    target = service.target_of(box, row)
                except AppError as exc:  # e.g. no waba_id: the admin sees it, nothing to call
                    async with transaction(pool) as tx:
                        await queries.record_sync(tx.conn, row["id"], exc.detail)
                    continue
                try:
                    result = await sync_target(pool, settings, target)
                except (SyncError, AppError) as exc:  # recorded; retried after a back-off
                    log.warning(
                        "template sync failed",
                        extra={"integration_id": str(row["id"]), "error": str(exc)},
                    )
                else:
                    if result.added or result.updated or result.removed:
                        log.info("templates synced", extra=result.model_dump(mode="json"))
            return len(due)
        finally:
            await queries.tick_unlock(conn)


async def template_sync_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    box = box_from(settings)
    every = min(CHECK_SECONDS, float(settings.template_sync_seconds))
    while not stop.is_set():
        try:
            await sync_tick(pool, settings, box)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database went away: try again at the next check
            log.exception("template sync tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
