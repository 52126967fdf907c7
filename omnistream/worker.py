"""Runs the background loops (`omnistream worker`, or inside `serve --with-worker`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from omnistream.assignment.consumer import consumer_loop as assignment_consumer_loop
from omnistream.auth.worker import housekeeping_loop
from omnistream.campaigns.worker import campaign_loop
from omnistream.channels.email.inbound_worker import email_inbound_loop
from omnistream.config import Settings
from omnistream.contacts.worker import profile_loop
from omnistream.csat.consumer import consumer_loop as csat_consumer_loop
from omnistream.db.pool import Pool
from omnistream.events.dispatcher import dispatcher_loop
from omnistream.inbound.worker import inbound_loop
from omnistream.messages.worker import outbound_loop
from omnistream.metrics import registry as metrics
from omnistream.presence.worker import presence_loop
from omnistream.reports.worker import consumer_loop as reports_consumer_loop
from omnistream.scheduled.worker import scheduled_loop
from omnistream.sla.consumer import consumer_loop as sla_consumer_loop
from omnistream.sla.worker import breach_loop
from omnistream.snooze.worker import snooze_loop
from omnistream.system import heartbeat as beats
from omnistream.templates.worker import template_sync_loop
from omnistream.webhooks.fanout import fanout_loop
from omnistream.webhooks.worker import delivery_loop
from omnistream.workers.liveness import CURRENT, WorkerIdentity
from omnistream.workers.takeover import takeover_loop

log = logging.getLogger(__name__)
Loop = Callable[[Pool, Settings, asyncio.Event], Awaitable[None]]

# Every loop claims its work with SKIP LOCKED or an advisory lock, so workers can run side by side.
LOOPS: dict[str, Loop] = {
    "housekeeping": housekeeping_loop,
    "events": dispatcher_loop,
    "outbound": outbound_loop,
    "inbound": inbound_loop,
    "scheduled": scheduled_loop,
    "templates": template_sync_loop,
    "takeover": takeover_loop,
    "profiles": profile_loop,
    "webhook_fanout": fanout_loop,
    "webhook_delivery": delivery_loop,
    "campaigns": campaign_loop,
    "sla": sla_consumer_loop,
    "sla_breaches": breach_loop,
    "csat": csat_consumer_loop,
    "reports": reports_consumer_loop,
    "email_inbound": email_inbound_loop,
    "snooze": snooze_loop,
    "assignment": assignment_consumer_loop,
    "presence": presence_loop,
}

# Loops that hold a pooled connection for as long as they run (a LISTEN, db/listen.notified).
# A worker's pool gets one connection for each on top of OMNISTREAM_DB_POOL_MAX, so they
# never take the connections the loops work with: with 10 and six held, the inbound loop
# waited for a connection whenever the SLA and CSAT loops had theirs (the SLA bench's
# inbound drain kept 69-79 % of its rate; with the pool sized so, 88 %+).
HOLDING = (
    "outbound", "scheduled", "profiles", "webhook_fanout", "webhook_delivery", "campaigns",
    "snooze",
)  # fmt: skip


def pool_size(settings: Settings) -> int:
    """The pool a process running the loops needs (OMNISTREAM_DB_POOL_MAX for their work,
    and one for each holding loop it runs)."""
    return settings.db_pool_max + sum(1 for n in HOLDING if n not in settings.loops_off)


async def _guarded(
    name: str, loop: Loop, pool: Pool, settings: Settings, stop: asyncio.Event
) -> None:
    metrics.CURRENT_LOOP.set(name)  # this task's transactions are the loop's batches
    while not stop.is_set():
        try:
            await loop(pool, settings, beats.loop_stop(name, stop))  # pauses reported
        except asyncio.CancelledError:
            raise
        except Exception:  # a loop must never take the worker down; log and restart it
            log.exception("worker loop crashed; restarting in 1 s", extra={"loop": name})
            beats.loop_crashed(name)
            metrics.loop_crashed(name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1)


async def _until_stopped(running: asyncio.Future[Any], stop: asyncio.Event, grace: float) -> None:
    """Once `stop` is set, the loops have `grace` seconds to finish their batches (and give
    back what they claimed but did not start); then they are cancelled: a cancelled batch
    rolls back, and what it had claimed is taken over once this process's liveness lock is
    gone (docs/crash-safety.md), as after a crash."""
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        running.cancel()
        raise
    finally:
        stopping.cancel()
    if not running.done():
        done, _ = await asyncio.wait({running}, timeout=grace)
        if not done:
            log.warning(
                "worker loops still busy after the shutdown grace; cancelling them",
                extra={"grace_seconds": grace},
            )
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            return
    await running  # re-raises what ended a loop for good


async def run_loops(
    pool: Pool,
    settings: Settings,
    stop: asyncio.Event,
    dsn: str | None = None,
    heartbeat: beats.Heartbeat | None = None,
) -> None:
    """Every loop but those settings.loops_off names (OMNISTREAM_WORKER_LOOPS_OFF), until
    `stop`. With `dsn`, the worker first takes its liveness lock (workers/liveness.py) and
    its claims carry its key, so another worker takes them over soon after this process
    dies; without, claims are recovered when their lease ends. The loops report to
    `heartbeat` (serve --with-worker: the API process's); without one this process beats as
    a worker of its own until the loops have ended (system/heartbeat.py)."""
    identity = WorkerIdentity(dsn) if dsn is not None else None
    if identity is not None:
        await identity.start()
        CURRENT.set(identity)  # read by the loops' claims (their tasks copy this context)
    own_beat = (
        None if heartbeat else beats.Heartbeat.started(pool, "worker", settings.heartbeat_seconds)
    )
    beats.CURRENT.set(heartbeat or own_beat)
    loops = {n: f for n, f in LOOPS.items() if n not in settings.loops_off}
    if settings.loops_off:
        log.info("worker loops off", extra={"loops_off": sorted(settings.loops_off)})
    log.info("worker started", extra={"loops": sorted(loops)})
    running = asyncio.gather(
        *(_guarded(n, f, pool, settings, stop) for n, f in loops.items()),
        *([identity.watch(stop)] if identity is not None else []),
    )
    try:
        await _until_stopped(running, stop, settings.shutdown_grace_seconds)
    finally:
        if identity is not None:
            await identity.stop()
        if own_beat is not None:
            await own_beat.stop()
    log.info("worker stopped")
