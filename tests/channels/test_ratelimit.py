"""The per-account send rate limit (channels/ratelimit.py) and crash safety of sending:
slots from concurrent connections and separate processes never exceed the rate; two sender
loops send 300 messages to a 50/s account and the sandbox's histogram never sees more than
50 in a second. The helpers here also serve tests/messages/test_outbound_crash.py (a SIGKILLed
`omnistream worker` sends every message exactly once)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

import pytest

from omnistream.channels.ratelimit import GUARD_SECONDS, HORIZON_SECONDS, RateLimiter
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.messages import worker
from tests.channels.test_channel_outbound import connect
from tests.inbound.test_inbound_support import Account, integration
from tests.sandbox_fixture import Sandbox, sandbox_fixture  # noqa: F401

# Measures rates and races deadlines: under pytest-xdist it runs with no other test beside it.
pytestmark = pytest.mark.alone


@pytest.fixture
def private(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_urls": True})


def slot_times(grants: list[tuple[int, int, int]], rate: int) -> list[float]:
    """Database-clock times of every slot of (second, first, count) grants."""
    spacing = (1 - GUARD_SECONDS) / rate
    return [s + (f + i) * spacing for s, f, n in grants for i in range(n)]


def max_in_window(times: list[float], width: float = 1.0) -> int:
    times, best, start = sorted(times), 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= width - 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


def check(grants: list[tuple[int, int, int]], rate: int) -> list[float]:
    """No slot given twice, at most `rate` per second and per sliding second, none in the
    guard at the end of a second."""
    slots = [(s, f + i) for s, f, n in grants for i in range(n)]
    assert len(slots) == len(set(slots)), "a slot was handed out twice"
    per_second = Counter(s for s, _ in slots)
    assert max(per_second.values()) <= rate, per_second
    assert all(0 <= i < rate for _, i in slots)
    times = slot_times(grants, rate)
    assert all(t - int(t) < 1 - GUARD_SECONDS for t in times)
    assert max_in_window(times) <= rate
    return times


async def account_row(ctx: AppContext) -> Account:
    (account,) = await integration(ctx, "whatsapp", ["106540352249999"], app_secret="s")
    return account


async def test_concurrent_takers_share_the_rate(ctx: AppContext) -> None:
    account = await account_row(ctx)
    limiter = RateLimiter(ctx.pool)
    grants: list[tuple[int, int, int]] = []
    stamps: list[tuple[float, float]] = []  # (slot, local time it was granted)
    deadline = time.time() + 2.5

    async def taker() -> None:
        while time.time() < deadline:
            grant = await limiter.acquire(account.account_id, 7, 20, deadline)
            if grant is None:
                return
            grants.append((grant.second, grant.first, grant.count))
            stamps.append((grant.slot(0), time.time()))

    await asyncio.gather(*(taker() for _ in range(12)))
    times = check(grants, 20)
    assert len(times) >= 40  # 2.5 s plus the horizon: about 70 slots at 20/s
    assert all(slot <= granted + HORIZON_SECONDS + 0.05 for slot, granted in stamps)
    assert all(slot >= granted - 0.06 for slot, granted in stamps)  # never (much) in the past


async def test_an_idle_account_sends_at_once_and_rate_changes_apply(ctx: AppContext) -> None:
    account = await account_row(ctx)
    limiter = RateLimiter(ctx.pool)
    first = await limiter.take(account.account_id, 100, 1000)
    assert first.count >= 1 and first.slot(0) <= time.time() + 0.01
    assert first.count <= 1000 - first.first  # never past the end of the second
    low = await limiter.take(account.account_id, 10, 2)  # lowered: from the next free slot on
    assert low.count <= 2


TAKER = """
import asyncio, json, sys, time, uuid
import asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1])
    account, rate, until = uuid.UUID(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    while time.time() < until:
        row = await conn.fetchrow("SELECT * FROM take_send_slots($1, 5, $2, $3, $4)",
                                  account, rate, float(sys.argv[5]), float(sys.argv[6]))
        if row["granted"]:
            print(json.dumps([row["slot_second"], row["first_index"], row["granted"]]))
        else:
            await asyncio.sleep(0.01)
    await conn.close()
asyncio.run(main())
"""


async def test_separate_processes_share_the_rate(ctx: AppContext, test_dsn: str) -> None:
    account = await account_row(ctx)
    until = time.time() + 2.5
    args = [str(account.account_id), "30", str(until), str(GUARD_SECONDS), str(HORIZON_SECONDS)]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", TAKER, test_dsn, *args, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    outputs = await asyncio.gather(*(p.communicate() for p in procs))
    assert [p.returncode for p in procs] == [0, 0, 0]
    per_process = [[tuple(json.loads(line)) for line in out.splitlines()] for out, _ in outputs]
    assert all(per_process), "every process got slots"
    check([g for grants in per_process for g in grants], 30)


async def test_two_sender_loops_never_exceed_the_accounts_rate(
    ctx: AppContext, sandbox: Sandbox, private: Settings
) -> None:
    wa, account = await connect(ctx, sandbox, rate=50)
    await sandbox.register_account(  # the sandbox itself refuses (130429) above 50/s
        "whatsapp",
        external_id=wa.external_id,
        access_token=wa.access_token,
        app_secret=wa.app_secret,
        rate_limit_per_second=50,
    )
    ids = await pending(ctx, account, 300, conversations=100)
    stop = asyncio.Event()
    started = time.monotonic()
    loops = [asyncio.create_task(worker.outbound_loop(ctx.pool, private, stop)) for _ in range(2)]
    try:
        await until_sent(ctx, len(ids), within=20)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*loops), 10)
    took = time.monotonic() - started
    histogram = await sandbox.rate(wa.external_id)
    seconds = [b["accepted"] for b in histogram["per_second"]]
    assert max(seconds) <= 50, seconds
    # Sliding windows: the slots are evenly spaced (at most 50 in any 1 s), but the arrival
    # times jitter by a few ms (the sandbox shares this process's GIL), which can let one or
    # two more into some sliding second. Sending in bursts would show up to 100 here.
    assert histogram["max_accepted_in_any_1s_window"] <= 55, histogram
    assert histogram["total_accepted"] == 300 and histogram["total_throttled"] == 0
    assert 5.0 <= took <= 10.0, took  # 300 at 50/s: 6 s; limited, not starved
    assert await sandbox.sends(wa.external_id, duplicates=True) == []
    counts = {
        s["key"].rsplit(":", 1)[1]: s["accepted"] for s in await sandbox.sends(wa.external_id)
    }
    assert counts == dict.fromkeys(map(str, ids), 1)


async def pending(
    ctx: AppContext, account: Account, count: int, *, conversations: int
) -> list[UUID]:
    """`count` pending replies spread over `conversations` conversations of the account."""
    async with ctx.pool.acquire() as conn:
        conversation_ids = []
        base = await conn.fetchval("SELECT count(*) FROM contacts")
        for n in range(base, base + conversations):
            contact = await conn.fetchval(
                "INSERT INTO contacts (name, phone) VALUES ($1, $2) RETURNING id",
                f"Customer {n}",
                f"165055{n:05d}",
            )
            conversation_ids.append(
                await conn.fetchval(
                    "INSERT INTO conversations (contact_id, channel, integration_account_id, "
                    "last_inbound_at) VALUES ($1, 'whatsapp', $2, now()) RETURNING id",
                    contact,
                    account.account_id,
                )
            )
        rows = await conn.fetch(
            """
            INSERT INTO messages (conversation_id, channel, direction, type, content, status,
                                  next_attempt_at, created_at)
            SELECT c[1 + n % cardinality(c)], 'whatsapp', 'outbound', 'text',
                   jsonb_build_object('text', 'Message ' || n), 'pending', now(),
                   clock_timestamp()
              FROM generate_series(0, $2 - 1) n, (SELECT $1::uuid[] AS c) cs
            RETURNING id
            """,
            conversation_ids,
            count,
        )
    return [r["id"] for r in rows]


async def until_sent(ctx: AppContext, count: int, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with ctx.pool.acquire() as conn:
            done = await conn.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'")
        if done >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"only {done} of {count} sent within {within} s")


def start_worker(
    settings: Settings, dsn: str, log: Path, **extra_env: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "OMNISTREAM_SECRET_KEY": settings.signing_key,
        "OMNISTREAM_DATA_DIR": str(settings.data_dir),
        "OMNISTREAM_ALLOW_PRIVATE_URLS": "true",
        "OMNISTREAM_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    omnistream = Path(sys.executable).parent / "omnistream"
    with log.open("ab") as out:
        return subprocess.Popen([str(omnistream), "worker"], env=env, stdout=out, stderr=out)


async def counts(ctx: AppContext) -> dict[str, int]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM messages GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def test_a_slow_accounts_backlog_does_not_hold_up_other_accounts(
    ctx: AppContext, sandbox: Sandbox, private: Settings
) -> None:
    slow_wa, slow = await connect(ctx, sandbox, rate=1)
    fast_wa, fast = await connect(ctx, sandbox, rate=50)
    backlog = await pending(ctx, slow, 400, conversations=400)  # older: claimed first
    urgent = await pending(ctx, fast, 40, conversations=40)
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.outbound_loop(ctx.pool, private, stop))
    try:
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            async with ctx.pool.acquire() as conn:
                done = await conn.fetchval(
                    "SELECT count(*) FROM messages WHERE id = ANY($1) AND status = 'sent'", urgent
                )
            if done == len(urgent):
                break
            await asyncio.sleep(0.1)
        assert done == len(urgent), f"only {done} of the other account's messages went out"
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT status, attempts, next_attempt_at <= now() AS due FROM messages "
            "WHERE id = ANY($1)",
            backlog,
        )
    sent = [r for r in rows if r["status"] == "sent"]
    assert 1 <= len(sent) <= 8  # 1 per second, as configured
    held = [r for r in rows if r["status"] == "pending"]
    # Stopping gave the claimed but unsent messages back: due now, no attempt spent.
    assert all(r["due"] and r["attempts"] == 0 for r in held)
    assert (await sandbox.rate(slow_wa.external_id))["max_accepted_per_second"] == 1
    assert (await sandbox.rate(fast_wa.external_id))["total_accepted"] == 40
