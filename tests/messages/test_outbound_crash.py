"""Crash safety of sending, end to end: a SIGKILLed `omnistream worker` mid-batch sends
nothing twice and loses nothing.

The sandbox's status webhooks reach a live OmniStream (the API under uvicorn on loopback,
the inbound loop in this process) while the worker, a separate process, is killed with
sends in flight. Those sends were accepted by "Meta" but never recorded by the worker; their
statuses carry our message id (biz_opaque_callback_data), so the inbound loop records the
wamid and the status on them (inbound/accepted.py), and the restarted worker does not send
them again: the sandbox counts exactly one send per message.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from fastapi import FastAPI

from omnistream.config import Settings
from omnistream.context import AppContext
from tests.channels.test_channel_outbound import connect
from tests.channels.test_ratelimit import counts, pending, start_worker
from tests.processes import receiving
from tests.sandbox_fixture import Sandbox, sandbox_fixture  # noqa: F401

COUNT = 300


@pytest.fixture(name="live")
async def live_fixture(app: FastAPI, ctx: AppContext) -> AsyncIterator[str]:
    """OmniStream receiving webhooks and applying them; yields the webhook URL."""
    async with receiving(app, ctx) as url:
        yield url


async def until(what: str, check: Callable[[], Awaitable[bool]], within: float) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.05)


async def fetchval(ctx: AppContext, sql: str) -> int:
    async with ctx.pool.acquire() as conn:
        value: int = await conn.fetchval(sql)
    return value


@pytest.mark.timeout(90)
async def test_sigkill_mid_sending_sends_every_message_exactly_once(
    ctx: AppContext,
    sandbox: Sandbox,
    settings: Settings,
    test_dsn: str,
    tmp_path: Path,
    live: str,
) -> None:
    await sandbox.settings(webhook_url=live)
    wa, account = await connect(ctx, sandbox, rate=200)
    # Every send takes 150 ms: many are in flight at the sandbox when the worker dies.
    await sandbox.add_fault("slow", account=wa.external_id, path_contains="/messages", delay_ms=150)
    ids = await pending(ctx, account, COUNT, conversations=COUNT)
    log = tmp_path / "worker.log"
    first = start_worker(settings, test_dsn, log)
    try:
        deadline = time.monotonic() + 30
        while (await counts(ctx)).get("pending", 0) > COUNT - 100:
            assert first.poll() is None and time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    async with ctx.pool.acquire() as conn:
        leased = {  # claimed by the dead worker and not recorded as sent (yet)
            str(r["id"])
            for r in await conn.fetch(
                "SELECT id FROM messages WHERE status = 'pending' AND next_attempt_at > now()"
            )
        }

    async def sandbox_done() -> bool:  # the dead worker's sends are answered
        sends = await sandbox.requests(path="/messages", method="POST", account=wa.external_id)
        return all(r["status"] is not None for r in sends)

    async def inbound_done() -> bool:  # every status webhook delivered and applied
        if not await sandbox.settle(within=5):
            return False
        return (
            await fetchval(ctx, "SELECT count(*) FROM webhook_audit WHERE status = 'pending'") == 0
        )

    await until("the sandbox answered the dead worker's sends", sandbox_done, 5)
    # Receipts that meet a deadlock with another batch are retried after 1, 2, 4 ... s.
    await until("the status webhooks were applied", inbound_done, 20)
    sends = {s["key"].rsplit(":", 1)[1]: s for s in await sandbox.sends(wa.external_id)}
    accepted_unrecorded = leased & set(sends)
    assert accepted_unrecorded, "no send was accepted but unrecorded at the kill"
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id::text, status, channel_message_id FROM messages WHERE id::text = ANY($1)",
            list(sends),
        )
        # The statuses recorded every accepted send, also those the worker never recorded.
        assert {r["id"]: r["channel_message_id"] for r in rows} == {
            key: s["message_ids"][0] for key, s in sends.items()
        }
        assert {r["status"] for r in rows} <= {"sent", "delivered", "read"}
    # The next worker takes the dead one's claims over (after a short grace here: the
    # statuses of its accepted sends are all applied already).
    second = start_worker(settings, test_dsn, log, OMNISTREAM_WORKER_TAKEOVER_GRACE_SECONDS="1")
    try:

        async def all_read() -> bool:
            return (await counts(ctx)) == {"read": COUNT}

        await until("every message sent and read", all_read, 20)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(15)
        except subprocess.TimeoutExpired:
            second.kill()
    await until("the sandbox is idle", lambda: sandbox.settle(within=5), 10)
    sends = {s["key"].rsplit(":", 1)[1]: s for s in await sandbox.sends(wa.external_id)}
    assert set(sends) == set(map(str, ids)), "every message reached the channel"
    twice = {key: s["accepted"] for key, s in sends.items() if s["accepted"] != 1}
    assert not twice, f"sent more than once: {twice}"
    async with ctx.pool.acquire() as conn:
        recorded = {
            r["id"]: r["channel_message_id"]
            for r in await conn.fetch("SELECT id::text, channel_message_id FROM messages")
        }
    assert recorded == {key: s["message_ids"][0] for key, s in sends.items()}
    assert second.returncode == 0, log.read_text()[-2000:]
    print(f"accepted but unrecorded at the kill: {len(accepted_unrecorded)}, sent twice: 0")
