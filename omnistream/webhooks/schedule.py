"""When a failed delivery is tried again.

The first attempt is made as soon as the delivery exists; after the n-th failed attempt the
next one waits RETRY_DELAYS[n-1] (±10 % jitter, so endpoints that failed together are not
all retried in the same second), or longer when the receiver asked for it with Retry-After
on a 429 or 503. After the last delay's attempt fails too, the delivery is `failed`.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.10
# A Retry-After longer than this is read as this: a receiver cannot park a delivery forever.
RETRY_AFTER_MAX = timedelta(hours=24)
RETRY_AFTER_STATUSES = frozenset({429, 503})


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (delay-seconds or an HTTP date) as a delay; None if unusable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        delay = timedelta(seconds=int(text[:9]))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        delay = when - now
    return min(max(delay, timedelta(0)), RETRY_AFTER_MAX)


def next_attempt_at(
    attempts: int,
    now: datetime,
    asked: timedelta | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    """After `attempts` failed attempts (1 or more): when to try again; None: give up.

    `asked`: the receiver's Retry-After, honoured when longer than the schedule's delay.
    """
    if attempts >= MAX_ATTEMPTS:
        return None
    base = RETRY_DELAYS[attempts - 1]
    factor = 1 + (rng or _rng).uniform(-JITTER, JITTER)
    delay = base * factor
    if asked is not None and asked > delay:
        delay = asked
    return now + delay


_rng = random.Random()  # noqa: S311 - jitter, not a secret
