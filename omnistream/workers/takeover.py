"""Taking over the claims of dead workers.

Every TAKEOVER_SECONDS each worker looks for leased work whose owner's liveness lock is free
(liveness.py): outbound replies, WhatsApp read receipts, inbound media fetches, profile
lookups of Messenger / Instagram customers, outgoing webhook deliveries. Such work is made
due again after the grace period (OMNISTREAM_WORKER_TAKEOVER_GRACE_SECONDS, default 20 s)
instead of at the end of its lease (minutes). A reply taken over is marked
`recovering_since` (the sender waits the grace from then; the reply keeps its place in the
queue) and its message.updated event tells every screen showing it. A live owner's claims
are never touched, however slow its work.

Several workers may run this side by side: each row is taken by one of them (SKIP LOCKED),
and a row already taken over has no owner left to match.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable

import asyncpg

from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.kit.aio import wait_for_any
from omnistream.messages.outbound_queries import take_over_messages
from omnistream.messages.service import emit_updated
from omnistream.workers.queries import Leased, take_over_rows

log = logging.getLogger(__name__)
TAKEOVER_SECONDS = 2.0
# Leased work other than replies (which keep their place in the queue and tell the screens).
LEASED = {
    "read_receipts": Leased("read_receipts", ("conversation_id",)),
    "media": Leased("media", ("id",), in_flight="status = 'pending'"),
    "profiles": Leased(
        "contact_identities", ("channel", "external_id"), "profile_claimed_by", "profile_due_at"
    ),
    "webhook_deliveries": Leased(
        "webhook_deliveries", ("id",), due="leased_until", in_flight="status = 'pending'"
    ),
    "campaign_recipients": Leased("campaign_recipients", ("id",), in_flight="status = 'pending'"),
}


def _owners(rows: Iterable[asyncpg.Record]) -> dict[str, int]:
    return {str(k): n for k, n in Counter(r["previous_owner"] for r in rows).items()}


async def take_over(pool: Pool, grace_seconds: float) -> dict[str, int]:
    """One pass over every leased kind of work; returns how many of each were taken over."""
    async with transaction(pool) as tx:
        messages = await take_over_messages(tx.conn)
        for row in messages:
            await emit_updated(tx.conn, row)
        others = {
            name: await take_over_rows(tx.conn, leased, grace_seconds)
            for name, leased in LEASED.items()
        }
    taken = {"messages": len(messages), **{name: len(rows) for name, rows in others.items()}}
    if any(taken.values()):
        log.warning(
            "took over the claims of a stopped worker",
            extra={
                **taken,
                "grace_seconds": grace_seconds,
                "dead_workers": _owners(
                    [*messages, *(r for rows in others.values() for r in rows)]
                ),
            },
        )
    return taken


async def takeover_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await take_over(pool, settings.worker_takeover_grace_seconds)
        await wait_for_any(stop, seconds=TAKEOVER_SECONDS)
