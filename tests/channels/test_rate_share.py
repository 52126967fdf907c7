"""Bulk sends (campaigns) and replies on one account's send-rate timeline: the bulk share
is never exceeded, all sends together never exceed the rate, no slot is handed out twice,
and a reply never waits behind the bulk backlog."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from omnistream.channels.ratelimit import RateLimiter, bulk_share, sleep_until
from omnistream.context import AppContext
from tests.channels.test_ratelimit import account_row

RATE = 100
BULK = bulk_share(RATE, 0.8)


def is_bulk(index: int, rate: int, bulk: int) -> bool:
    """The bulk set, written independently of the SQL (slot_is_bulk)."""
    return (index + 1) * bulk // rate > index * bulk // rate


def test_the_bulk_set_is_evenly_spread() -> None:
    assert BULK == 80
    assert sum(is_bulk(i, RATE, BULK) for i in range(RATE)) == BULK
    # No run of replies' slots longer than needed: at most one in every five here.
    assert all(any(is_bulk(i, RATE, BULK) for i in range(j, j + 2)) for j in range(RATE - 1))
    assert bulk_share(1000, 0.8) == 800 and bulk_share(2, 1.0) == 1 and bulk_share(1, 0.8) == 1


async def test_bulk_and_replies_share_one_timeline(ctx: AppContext) -> None:
    account = await account_row(ctx)
    limiter = RateLimiter(ctx.pool)
    slots: list[tuple[int, int, str]] = []
    waits: list[float] = []
    deadline = time.time() + 3.2

    async def bulk_sender() -> None:  # always has more to send: takes all it may
        while time.time() < deadline:
            grant = await limiter.take(account.account_id, 20, RATE, BULK)
            if grant.count == 0:
                await sleep_until(grant.next_free - 0.9)
                continue
            slots.extend((grant.second, grant.indices[i], "bulk") for i in range(grant.count))

    async def replier() -> None:  # an agent's reply every 70 ms
        while time.time() < deadline:
            asked = time.time()
            grant = await limiter.acquire(account.account_id, 1, RATE, asked + 2)
            assert grant is not None
            waits.append(grant.slot(0) - asked)
            slots.append((grant.second, grant.indices[0], "reply"))
            await asyncio.sleep(0.07)

    await asyncio.gather(bulk_sender(), bulk_sender(), replier())
    assert len({(s, i) for s, i, _ in slots}) == len(slots), "a slot was handed out twice"
    per_second = Counter(s for s, _, _ in slots)
    bulk_per_second = Counter(s for s, _, kind in slots if kind == "bulk")
    assert max(per_second.values()) <= RATE
    assert max(bulk_per_second.values()) <= BULK
    assert all(is_bulk(i, RATE, BULK) for _, i, kind in slots if kind == "bulk")
    # The bulk senders use their whole share in the full seconds of the run ...
    full = sorted(bulk_per_second)[1:-2]
    assert full and all(bulk_per_second[s] == BULK for s in full), bulk_per_second
    # ... while every reply starts within a few reply slots of being asked (not behind the
    # bulk senders' second of slots taken ahead).
    assert len(waits) >= 30 and max(waits) < 0.25, sorted(waits)[-5:]


async def test_replies_use_every_slot_when_no_bulk_send_runs(ctx: AppContext) -> None:
    account = await account_row(ctx)
    limiter = RateLimiter(ctx.pool)
    grant = await limiter.take(account.account_id, 20, RATE, BULK)  # a campaign, then idle
    await sleep_until(grant.slot(grant.count - 1) + 0.05)
    taken: list[tuple[int, int]] = []
    deadline = time.time() + 2.2
    while time.time() < deadline:
        g = await limiter.take(account.account_id, RATE, RATE)
        if g.count == 0:
            await sleep_until(g.next_free - 0.9)
            continue
        taken.extend((g.second, g.slot_index(i)) for i in range(g.count))
    per_second = Counter(s for s, _ in taken)
    assert max(per_second.values()) == RATE  # replies alone: the full rate again
