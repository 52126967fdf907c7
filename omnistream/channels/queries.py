"""SQL of the per-account send rate limiter (channels/ratelimit.py); the slot logic itself
is the take_send_slots function of migration 0003, so it runs under the row lock."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn


async def take_slots(
    conn: Conn,
    account_id: UUID,
    want: int,
    rate: int,
    guard: float,
    horizon: float,
    bulk: int = 0,
) -> asyncpg.Record:
    """One atomic grant (run it outside any transaction: the row lock is held only for
    this statement). `bulk` > 0: bulk-set slots of that size per second (a campaign's
    share); 0: a reply's. Columns: slot_second, first_index, granted, db_now, indices."""
    row = await conn.fetchrow(
        "SELECT * FROM take_send_slots($1, $2, $3, $4, $5, $6)",
        account_id,
        want,
        rate,
        guard,
        horizon,
        bulk,
    )
    assert row is not None
    return row
