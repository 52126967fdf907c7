"""The breach loop: warns and breaches on time, however many workers run.

Each pass claims the conversations whose sla_schedule.check_at has come (the next warning
or due time of a running target, or now: a policy was edited or deleted; SKIP LOCKED, so
workers take disjoint sets), evaluates each clock by the database's time (clock.py), and settles
them in the same transaction (engine.py): a breach is logged once per conversation, cycle
and type (a unique key besides the row lock), its event goes out with it, and the next
check is stored. With nothing due a pass is one index probe. The loop sleeps until the
earliest check to come, at most TICK_SECONDS, so an alert goes out within about a second
of its time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.kit.aio import wait_for_any
from omnistream.sla import queries
from omnistream.sla.clock import Clock
from omnistream.sla.engine import Policies, evaluate_all, snapshot

log = logging.getLogger(__name__)
BATCH_SIZE = 500
TICK_SECONDS = 1.0
MIN_SLEEP_SECONDS = 0.02


async def check_due(pool: Pool, policies: Policies, limit: int = BATCH_SIZE) -> tuple[int, int]:
    """One pass: (clocks evaluated, alerts sent)."""
    async with transaction(pool) as tx:
        conn = tx.conn
        rows, now = await queries.claim_due(conn, limit)
        if not rows:
            return 0, 0
        clocks = [Clock.of(r) for r in rows]
        before, stored = snapshot(clocks)
        current = await policies.current(conn)
        done = await evaluate_all(conn, clocks, current, now, before, stored)
    return len(rows), done.alerts  # claimed locked: none is stale


async def breach_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    policies = Policies()
    while not stop.is_set():
        delay = TICK_SECONDS
        try:
            evaluated, sent = await check_due(pool, policies)
            if sent:
                log.info("SLA alerts", extra={"count": sent})
            if evaluated >= BATCH_SIZE:
                continue
            async with pool.acquire() as conn:
                upcoming = await queries.next_check(conn)
            if upcoming is not None:
                ahead = (upcoming - datetime.now(UTC)).total_seconds()
                delay = min(TICK_SECONDS, max(ahead, MIN_SLEEP_SECONDS))
        except asyncio.CancelledError:
            raise
        except Exception:  # the database went away: wait, then try again
            log.exception("SLA breach loop failed")
        await wait_for_any(stop, seconds=delay)
