"""The campaign loop: starts scheduled campaigns, sends running ones, announces progress
and finishes them.

Each tick (at least every TICK_SECONDS while anything runs, at once on a NOTIFY):
1. Scheduled campaigns whose time has come become `running` (campaign.updated).
2. Campaigns whose counts changed are recounted, at most once a second each, and announced
   (campaign.progress); a running campaign with no pending recipient left is `completed`.
3. Every running campaign without a sending session in this worker gets one.

A session claims its campaign's due recipients in batches under a lease (attempts + 1,
claimed_by this worker's liveness key, SKIP LOCKED: any number of workers share a campaign
without sending to anyone twice) and sends each at a bulk send slot of the account
(channels/ratelimit.py: the campaign's share of the rate, OMNISTREAM_CAMPAIGN_RATE_SHARE,
interleaved with the slots agents' replies keep). Outcomes are written in batches
(outcomes.py). Pause and cancel are seen within STATUS_SECONDS: no send starts after that;
the claimed recipients not sent go back unsent.

Exactly once: each send carries `c:<recipient id>` as biz_opaque_callback_data. If the
worker dies between Meta's answer and writing it down, the recipient stays pending under
its lease; Meta's status webhook names it, and the inbound loop records the wamid and the
status from it (replies.record_receipts), after which no claim takes it again. Another
worker takes the dead worker's claims over only after the takeover grace
(OMNISTREAM_WORKER_TAKEOVER_GRACE_SECONDS), time for those statuses to arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from uuid import UUID

import asyncpg

from omnistream.campaigns import content, queries, send_queries, service
from omnistream.campaigns.outcomes import Claimed, Outcomes
from omnistream.channels.ratelimit import Grant, RateLimiter, bulk_share, sleep_until
from omnistream.channels.registry import (
    ChannelRegistry,
    OutboundMessage,
    SendError,
    TransientSendError,
    send_within,
)
from omnistream.config import Settings
from omnistream.db.listen import notified
from omnistream.db.pool import Pool, transaction
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.aio import wait_for_any
from omnistream.kit.enums import Channel
from omnistream.kit.errors import AppError
from omnistream.messages.senders import meta_registry
from omnistream.workers.liveness import current_key, log_claim

log = logging.getLogger(__name__)
BATCH_SIZE = 500  # recipients claimed at a time (the next claim overlaps the sends)
CONCURRENCY = 256  # sends in flight per session (at 800/s, 320 ms each)
SEND_TIMEOUT_SECONDS = 15.0
LEASE_SECONDS = 120.0  # longer than a batch's slots plus a send's timeout
GRANT_WAIT_SECONDS = 0.5
STATUS_SECONDS = 0.25  # pause / cancel seen within this
TICK_SECONDS = 0.5
IDLE_SECONDS = 2.0
DEFAULT_RATE = 80
RECOUNT_BATCH = 20


class Session:
    """One running campaign, sent by this worker until it is done, paused, cancelled or
    failed, or the worker stops."""

    def __init__(
        self,
        pool: Pool,
        settings: Settings,
        registry: ChannelRegistry,
        limiter: RateLimiter,
        campaign: asyncpg.Record,
        stop: asyncio.Event,
    ) -> None:
        self.pool, self.settings, self.registry, self.limiter = pool, settings, registry, limiter
        self.campaign = campaign
        self.id: UUID = campaign["id"]
        self.stop = stop
        self.status = "running"
        self.outcomes = Outcomes(pool, settings, self.id)
        self.gate = asyncio.Semaphore(CONCURRENCY)
        self.tasks: set[asyncio.Task[None]] = set()
        self.template: asyncpg.Record | None = None
        self.pending: deque[asyncpg.Record] = deque()  # claimed, not sent yet
        self.claiming: asyncio.Task[list[asyncpg.Record]] | None = None

    @property
    def sending(self) -> bool:
        return self.status == "running" and not self.stop.is_set() and not self.outcomes.stopped

    async def run(self) -> None:
        writer = asyncio.create_task(self.outcomes.run())
        try:
            async with self.pool.acquire() as conn:
                template_id = self.campaign["template_id"]
                self.template = (
                    await send_queries.template(conn, template_id) if template_id else None
                )
            if self.template is None or self.campaign["integration_account_id"] is None:
                async with transaction(self.pool) as tx:
                    await service.fail(
                        tx.conn, self.id, "the template or the WhatsApp number was deleted"
                    )
                return
            await self._send_all()
            while self.tasks:
                await asyncio.gather(*list(self.tasks), return_exceptions=True)
        finally:
            await self.outcomes.close(writer)

    async def _claim(self) -> list[asyncpg.Record]:
        async with transaction(self.pool) as tx:
            rows = await send_queries.claim(
                tx.conn, self.id, BATCH_SIZE, LEASE_SECONDS, current_key()
            )
        log_claim(log, "campaign recipients", len(rows))
        return rows

    async def _send_all(self) -> None:
        """Claim, take slots, send, until no recipient is due or sending must stop. No slot
        should pass unused while the sender works between them (a slot is only good until
        shortly after its time): the next batch is claimed while this one is sent (when
        half of it is left) and taken in as soon as it is there, each message is rendered
        at its slot, and the next grant of slots (a quarter second's worth at most) is
        taken while this one's are used, so the campaign's frontier of slots stays ahead
        of the clock."""
        account = self.campaign["integration_account_id"]
        rate = self.campaign["send_rate_per_second"] or DEFAULT_RATE
        bulk = bulk_share(rate, self.settings.campaign_rate_share)
        most = max(1, bulk // 4)
        self.claiming = asyncio.create_task(self._claim())
        granting: asyncio.Task[Grant | None] | None = None

        def grant_for(count: int) -> asyncio.Task[Grant | None]:
            until = time.time() + GRANT_WAIT_SECONDS
            return asyncio.create_task(
                self.limiter.acquire(account, min(count, most), rate, until, bulk=bulk)
            )

        try:
            while self.sending:
                if self.claiming is not None and not self.pending:
                    await asyncio.wait([self.claiming])
                if self._take_claimed() == 0 and not self.pending:
                    return  # nothing due: done, or waiting for retries
                if self.claiming is None and len(self.pending) <= BATCH_SIZE // 2:
                    self.claiming = asyncio.create_task(self._claim())
                if not self.pending:
                    continue
                grant = await (granting or grant_for(len(self.pending)))
                granting = None
                if grant is None:
                    continue
                ahead = len(self.pending) - grant.count
                if ahead > 0 or self.claiming is not None:
                    granting = grant_for(max(ahead, most))
                await self._use(grant)
        finally:
            for task in (granting, self.claiming):
                if task is not None and not task.done():
                    with contextlib.suppress(Exception):
                        await task
            with contextlib.suppress(Exception):
                self._take_claimed()
            pending, self.pending = self.pending, deque()
            self.outcomes.release([Claimed(r["id"], r["phone"], r["attempts"]) for r in pending])

    def _take_claimed(self) -> int | None:
        """Queue the batch being claimed if it is there: how many rows it held (None: not
        there yet, or no claim under way)."""
        if self.claiming is None or not self.claiming.done():
            return None
        rows, self.claiming = self.claiming.result(), None
        for row in rows:
            if row["opted_out"]:
                item = Claimed(row["id"], row["phone"], row["attempts"])
                self.outcomes.fail(item, "opted_out", "the number opted out of campaigns")
            else:
                self.pending.append(row)
        return len(rows)

    async def _use(self, grant: Grant) -> None:
        """Start a send at each slot of `grant` while recipients are queued."""
        pending = self.pending
        for i in range(grant.count):
            await sleep_until(grant.slot(i))
            if not pending:
                self._take_claimed()
            if not pending or not self.sending:
                return
            await self.gate.acquire()
            if time.time() > grant.deadline(i):
                self.gate.release()
                continue  # too late for this slot: the next one
            row = pending.popleft()
            item = Claimed(row["id"], row["phone"], row["attempts"])
            try:
                message = self._message(row)
            except AppError as exc:
                self.gate.release()
                self.outcomes.fail(item, "invalid_parameters", str(exc.detail)[:500])
                continue
            task = asyncio.create_task(self._send(item, message))
            task.add_done_callback(lambda _: self.gate.release())
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)

    def _message(self, row: asyncpg.Record) -> OutboundMessage:
        assert self.template is not None
        columns = {**(row["variables"] or {}), "name": row["name"], "phone": row["phone"]}
        body = content.render(
            self.template, self.campaign["variables"] or {}, self.campaign["header"], columns
        )
        return OutboundMessage(
            message_id=row["id"],
            conversation_id=self.id,
            channel=Channel.WHATSAPP,
            integration_account_id=self.campaign["integration_account_id"],
            recipient=row["phone"],
            type="template",
            content=body,
            attempt=row["attempts"],
            callback_data=f"c:{row['id']}",
        )

    async def _send(self, item: Claimed, message: OutboundMessage) -> None:
        try:
            result = await send_within(self.registry, message, SEND_TIMEOUT_SECONDS)
        except SendError as exc:
            self.outcomes.error(item, exc)
        except Exception as exc:  # an adapter bug: retried like a transient error, and logged
            log.exception("campaign send raised", extra={"recipient_id": str(item.id)})
            self.outcomes.error(
                item, TransientSendError("adapter_error", f"unexpected error: {exc}")
            )
        else:
            self.outcomes.sent(item, result)


async def _announce(pool: Pool) -> None:
    """Steps 1 and 2 of a tick: start due campaigns, recount and finish."""
    async with transaction(pool) as tx:
        for campaign_id in await send_queries.start_due(tx.conn):
            row = await queries.get_any(tx.conn, campaign_id)
            assert row is not None
            await service.emit_campaign(tx.conn, EventType.CAMPAIGN_UPDATED, row, None)
    async with transaction(pool) as tx:
        conn = tx.conn
        for due in await queries.claim_recount(conn, RECOUNT_BATCH):
            campaign_id = due["id"]
            counts = await queries.count(conn, campaign_id)
            await queries.store_counts(conn, campaign_id, counts)
            done = due["status"] == "running" and counts["pending"] == 0
            if done and await send_queries.finish_if_done(conn, campaign_id):
                row = await queries.get_any(conn, campaign_id)
                assert row is not None
                await service.emit_campaign(conn, EventType.CAMPAIGN_UPDATED, row, None, counts)
                continue
            if counts != (due["counts"] or {}):  # announced only when they changed
                await emit(
                    conn,
                    EventType.CAMPAIGN_PROGRESS,
                    {"campaign_id": campaign_id, "status": due["status"], "counts": counts},
                    actor=None,
                    audience=service.audience_of(due["division_id"]),
                )


async def _watch(pool: Pool, sessions: dict[UUID, Session], stop: asyncio.Event) -> None:
    """Every STATUS_SECONDS: the status of each campaign being sent (pause, cancel)."""
    while not stop.is_set():
        if sessions:
            try:
                async with pool.acquire() as conn:
                    found = await send_queries.statuses(conn, list(sessions))
                for campaign_id, session in list(sessions.items()):
                    session.status = found.get(campaign_id, "deleted")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("could not read campaign statuses", exc_info=True)
        await wait_for_any(stop, seconds=STATUS_SECONDS)


async def campaign_loop(
    pool: Pool, settings: Settings, stop: asyncio.Event, registry: ChannelRegistry | None = None
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        channels = registry
        if channels is None:
            channels = await stack.enter_async_context(meta_registry(pool, settings))
        _, wake = await stack.enter_async_context(notified(pool, service.WAKE_CHANNEL))
        limiter = RateLimiter(pool)
        sessions: dict[UUID, Session] = {}
        tasks: dict[UUID, asyncio.Task[None]] = {}
        watcher = asyncio.create_task(_watch(pool, sessions, stop))
        try:
            while not stop.is_set():
                wake.clear()
                await _tick(pool, settings, channels, limiter, sessions, tasks, stop)
                seconds = TICK_SECONDS if sessions else IDLE_SECONDS
                await wait_for_any(wake, stop, seconds=seconds)
        finally:
            watcher.cancel()
            for task in tasks.values():
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await task


async def _tick(
    pool: Pool,
    settings: Settings,
    channels: ChannelRegistry,
    limiter: RateLimiter,
    sessions: dict[UUID, Session],
    tasks: dict[UUID, asyncio.Task[None]],
    stop: asyncio.Event,
) -> None:
    try:
        await _announce(pool)
        async with pool.acquire() as conn:
            running = await send_queries.running(conn)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        log.warning("campaign tick failed", exc_info=True)
        return
    for campaign_id in [c for c, t in tasks.items() if t.done()]:
        task = tasks.pop(campaign_id)
        sessions.pop(campaign_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("campaign session failed", exc_info=task.exception())
    for campaign in running:
        if campaign["id"] in tasks:
            continue
        session = Session(pool, settings, channels, limiter, campaign, stop)
        sessions[campaign["id"]] = session
        tasks[campaign["id"]] = asyncio.create_task(session.run())
