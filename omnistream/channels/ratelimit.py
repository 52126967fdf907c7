"""Per-account send rate limit that holds across any number of worker processes, with
PostgreSQL as the only shared state.

Design: each integration account has a timeline of send slots on the PostgreSQL clock. Every
second s holds exactly `rate` slots, evenly spaced over [s, s + 1 - GUARD_SECONDS): slot i
is at s + i * (1 - GUARD_SECONDS) / rate. One row per account (send_slots) records the first
slot not handed out yet; take_send_slots (migration 0003) hands out consecutive slots under
that row's lock, never one in the past and never more than HORIZON_SECONDS ahead. A sender
takes a batch of slots per claim (one statement, no transaction held), waits until each
slot's time, and starts the send then. A slot is only good until the end of its second
minus the guard, and at most LATE_SECONDS after its time: a send that could not start by
then (a busy worker) gives the slot up and takes the next one.

Guarantee, on the PostgreSQL clock (the workers correct for their own clock's offset, which
they measure on every grant): in every second-aligned 1 s window at most `rate` sends start,
and none starts in the last GUARD_SECONDS of the window, so a receiver whose clock agrees
and which sees a request less than GUARD_SECONDS after it was started counts at most
`rate` in each of its seconds too. Because the slots are evenly spaced, a sliding 1 s window
also holds at most `rate` slots; sends start up to LATE_SECONDS after their slot, so a
sliding window of send starts holds at most rate * (1 + LATE_SECONDS) (and the receiver
adds its own jitter). Changing an account's rate takes effect from the next second.

Bulk sends (broadcast campaigns, migration 0016) take slots of a fixed interleaved subset
of every second (bulk_share of the rate) from a frontier of their own, and replies take
the other slots while a bulk sender holds future ones: the bulk backlog never delays a
reply, all sends together stay within `rate` in every second, and with no bulk send
running replies may use every slot.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from uuid import UUID

from omnistream.channels import queries
from omnistream.db.pool import Pool

GUARD_SECONDS = 0.1  # no send starts in the last 100 ms of a second (network delay margin)
LATE_SECONDS = 0.05  # a slot not used within this time is given up (keeps sends spaced)
HORIZON_SECONDS = 1.0  # slots are handed out at most this far ahead
MIN_SLEEP_SECONDS = 0.002


@dataclass(frozen=True)
class Grant:
    """`count` slots of one account in second `second` (PostgreSQL clock), at `indices`
    (consecutive unless a bulk send shares the second), the first at index `first`;
    `offset` turns a database time into a local one."""

    account_id: UUID
    second: int
    first: int
    count: int
    rate: int
    offset: float
    indices: tuple[int, ...] = ()

    @property
    def spacing(self) -> float:
        return (1.0 - GUARD_SECONDS) / self.rate

    def slot_index(self, i: int) -> int:
        """The i-th slot's index within its second."""
        return self.indices[i] if self.indices else self.first + i

    def slot(self, i: int) -> float:
        """Local time (time.time()) at which the i-th slot of this grant may start."""
        return self.second + self.slot_index(i) * self.spacing + self.offset

    def deadline(self, i: int) -> float:
        """Local time after which the i-th slot is given up: LATE_SECONDS after its time,
        and never past the guard at the end of its second."""
        return min(self.slot(i) + LATE_SECONDS, self.second + 1.0 - GUARD_SECONDS + self.offset)

    @property
    def next_free(self) -> float:
        """For an empty grant: local time of the next slot nobody holds yet."""
        return self.slot(0)


class RateLimiter:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def take(self, account_id: UUID, want: int, rate: int, bulk: int = 0) -> Grant:
        """Up to `want` slots (fewer at the end of a second or past the horizon; 0: none
        free within the horizon, see Grant.next_free). `bulk` > 0: a bulk sender's slots,
        at most `bulk` per second (bulk_share)."""
        async with self.pool.acquire() as conn:
            before = time.time()
            row = await queries.take_slots(
                conn, account_id, want, rate, GUARD_SECONDS, HORIZON_SECONDS, bulk
            )
            after = time.time()
        return Grant(
            account_id=account_id,
            second=row["slot_second"],
            first=row["first_index"],
            count=row["granted"],
            rate=rate,
            offset=(before + after) / 2 - row["db_now"],
            indices=tuple(row["indices"] or ()),
        )

    async def acquire(
        self, account_id: UUID, want: int, rate: int, until: float, bulk: int = 0
    ) -> Grant | None:
        """Take at least one slot, waiting (no transaction held) while none is free;
        None if none could be had before local time `until`."""
        while True:
            grant = await self.take(account_id, want, rate, bulk)
            if grant.count:
                return grant
            wake = grant.next_free - HORIZON_SECONDS
            if wake >= until:
                return None
            await asyncio.sleep(max(wake - time.time(), MIN_SLEEP_SECONDS))


def bulk_share(rate: int, share: float) -> int:
    """Slots per second a bulk sender may take of an account's `rate` (at least one, and
    at least one left for replies when the rate allows)."""
    return max(1, min(int(rate * share), rate - 1 if rate > 1 else 1))


async def sleep_until(moment: float) -> None:
    """Sleep until local time `moment` (returns at once if it has passed)."""
    delay = moment - time.time()
    if delay > 0:
        await asyncio.sleep(max(delay, MIN_SLEEP_SECONDS))
