"""A SIGKILLed `omnistream worker`: its claims are taken over after the grace period, not at
the end of their 300-second lease, and still nothing is sent twice unless the channel's
status of a send accepted before the kill comes later than the grace.

Each test runs real `omnistream worker` processes (with a short grace, set by
OMNISTREAM_WORKER_TAKEOVER_GRACE_SECONDS) against the sandbox, whose status webhooks reach a
live OmniStream (the API on a loopback port and the inbound loop: tests/messages/
test_outbound_crash.live)."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from omnistream.config import Settings
from omnistream.context import AppContext
from tests.channels.test_channel_outbound import connect, conversation
from tests.channels.test_ratelimit import counts, pending, start_worker
from tests.inbound.test_inbound_support import Account
from tests.messages.test_outbound_crash import (
    fetchval,
    live_fixture,  # noqa: F401 (fixture "live")
    until,
)
from tests.sandbox_fixture import Sandbox, SandboxAccount, sandbox_fixture  # noqa: F401
from tests.scheduled.test_scheduled import Schedule, due, schedule, scheduled  # noqa: F401


class Workers:
    """`omnistream worker` processes of one test, all stopped at its end."""

    def __init__(self, settings: Settings, dsn: str, log: Path, grace: float) -> None:
        self.settings, self.dsn, self.log, self.grace = settings, dsn, log, grace
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        grace = f"{self.grace:g}"
        proc = start_worker(
            self.settings, self.dsn, self.log, OMNISTREAM_WORKER_TAKEOVER_GRACE_SECONDS=grace
        )
        self.started.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> float:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        return time.monotonic()

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture
def workers(settings: Settings, test_dsn: str, tmp_path: Path) -> Iterator[Workers]:
    made: list[Workers] = []

    def make(grace: float) -> Workers:
        w = Workers(settings, test_dsn, tmp_path / "worker.log", grace)
        made.append(w)
        return w

    yield make  # type: ignore[misc]
    for w in made:
        w.stop_all()


async def slow_account(
    ctx: AppContext, sandbox: Sandbox, live: str, delay_ms: int, rate: int | None = None
) -> tuple[SandboxAccount, Account]:
    """A WhatsApp account whose every send takes `delay_ms` at "Meta", with its status
    webhooks reaching the live OmniStream."""
    await sandbox.settings(webhook_url=live)
    wa, account = await connect(ctx, sandbox, rate=rate)
    await sandbox.add_fault(
        "slow", account=wa.external_id, path_contains="/messages", delay_ms=delay_ms
    )
    return wa, account


async def write_replies(ctx: AppContext, conversations: list[UUID], each: int) -> None:
    """`each` more pending replies in every conversation (as agents writing on)."""
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO messages (conversation_id, channel, direction, type, content, status,
                                  next_attempt_at, created_at)
            SELECT c, 'whatsapp', 'outbound', 'text', jsonb_build_object('text', 'More ' || n),
                   'pending', now(), clock_timestamp()
              FROM generate_series(1, $2) n, unnest($1::uuid[]) c
            """,
            conversations,
            each,
        )


async def conversations_of(ctx: AppContext, ids: list[UUID]) -> list[UUID]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT DISTINCT conversation_id FROM messages WHERE id = ANY($1)", ids
        )
    return [r["conversation_id"] for r in rows]


async def in_flight(sandbox: Sandbox, account: str, since: int = 0) -> bool:
    """A send is at the sandbox, unanswered (made at or after request index `since`)."""
    sends = await sandbox.requests(path="/messages", since=since, method="POST", account=account)
    return any(s["status"] is None for s in sends)


async def next_index(sandbox: Sandbox) -> int:
    recorded = await sandbox.requests()
    return max((r["index"] for r in recorded), default=-1) + 1


async def sends_by_message(sandbox: Sandbox, account: str) -> dict[str, dict[str, object]]:
    return {s["key"].rsplit(":", 1)[1]: s for s in await sandbox.sends(account)}


@pytest.mark.timeout(120)
async def test_replies_resume_within_the_grace_after_repeated_kills(
    ctx: AppContext, sandbox: Sandbox, live: str, workers
) -> None:
    grace = 4.0
    pool = workers(grace)
    # Slow sends and a rate limit: at every kill some replies are at the sandbox (accepted
    # after the kill, recorded from their status) and some are claimed but not yet sent
    # (stranded until a takeover).
    wa, account = await slow_account(ctx, sandbox, live, 200, rate=40)
    conversations = await conversations_of(ctx, await pending(ctx, account, 20, conversations=20))
    last_kill = 0.0
    for _ in range(5):
        since = await next_index(sandbox)  # this worker's sends, not the last one's
        proc = pool.start()
        await until("a send in flight", lambda s=since: in_flight(sandbox, wa.external_id, s), 30)
        await write_replies(ctx, conversations, 2)  # agents keep writing meanwhile
        await asyncio.sleep(random.uniform(0.1, 0.6))  # any moment will do
        last_kill = pool.kill(proc)
    await sandbox.clear_faults()
    pool.start()

    async def none_pending() -> bool:
        return "pending" not in await counts(ctx)

    await until("every reply left pending", none_pending, grace + 15)
    resumed_after = time.monotonic() - last_kill
    await until("the sandbox is idle", lambda: sandbox.settle(within=5), 15)
    sends = await sends_by_message(sandbox, wa.external_id)
    total = 20 + 5 * 2 * 20
    assert len(sends) == total, "every reply reached the channel"
    twice = {key: s["accepted"] for key, s in sends.items() if s["accepted"] != 1}
    assert not twice, f"sent more than once: {twice}"
    assert set((await counts(ctx)).keys()) <= {"sent", "delivered", "read"}
    log = pool.log.read_text()
    assert "took over the claims of a stopped worker" in log, "no claim was stranded"
    print(f"every reply left pending {resumed_after:.1f} s after the last kill (grace {grace})")


@pytest.mark.timeout(60)
async def test_a_send_accepted_before_the_kill_is_not_sent_again(
    ctx: AppContext, sandbox: Sandbox, live: str, workers
) -> None:
    pool = workers(8.0)
    # The send is at "Meta" when the worker dies; Meta accepts it 1.5 s later and reports
    # it 2 s after that: later than the kill, within the grace.
    wa, account = await slow_account(ctx, sandbox, live, 1500)
    await sandbox.settings(timing={"sent_ms": 2000, "delivered_ms": 0, "read_ms": 0})
    (message_id,) = await pending(ctx, account, 1, conversations=1)
    first = pool.start()
    await until("the send is at the sandbox", lambda: in_flight(sandbox, wa.external_id), 30)
    pool.kill(first)
    pool.start()

    async def read() -> bool:
        return (await counts(ctx)) == {"read": 1}

    await until("the message was recorded from its statuses", read, 20)
    await asyncio.sleep(8.0 + 4)  # past the grace and a takeover pass: nothing more is sent
    sends = await sends_by_message(sandbox, wa.external_id)
    assert sends[str(message_id)]["accepted"] == 1
    async with ctx.pool.acquire() as conn:
        recorded = await conn.fetchval(
            "SELECT channel_message_id FROM messages WHERE id = $1", message_id
        )
    assert recorded == sends[str(message_id)]["message_ids"][0]


@pytest.mark.timeout(60)
async def test_a_status_later_than_the_grace_means_one_second_send_recognised(
    ctx: AppContext, sandbox: Sandbox, live: str, workers
) -> None:
    pool = workers(1.0)
    wa, account = await slow_account(ctx, sandbox, live, 800)
    await sandbox.settings(timing={"sent_ms": 7000, "delivered_ms": None, "read_ms": None})
    (message_id,) = await pending(ctx, account, 1, conversations=1)
    first = pool.start()
    await until("the send is at the sandbox", lambda: in_flight(sandbox, wa.external_id), 30)
    pool.kill(first)
    pool.start()

    async def sent_twice() -> bool:
        sends = await sends_by_message(sandbox, wa.external_id)
        found = sends.get(str(message_id))
        return found is not None and found["accepted"] == 2

    await until("sent again after the grace", sent_twice, 20)
    await until("both sends' statuses arrived", lambda: sandbox.settle(within=5), 20)
    await until(
        "every webhook applied",
        lambda: _none_pending_audits(ctx),
        10,
    )
    send = (await sends_by_message(sandbox, wa.external_id))[str(message_id)]
    first_id, second_id = send["message_ids"]
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, status, channel_message_id FROM messages")
        audits = await conn.fetch(
            "SELECT status, convert_from(body, 'UTF8') AS body, error FROM webhook_audit"
        )
    # One message row; it keeps the channel id of the send recorded first (the second, whose
    # answer the worker wrote down), and the first send's late status is ignored, not failed.
    assert [(r["id"], r["status"]) for r in rows] == [(message_id, "sent")]
    assert rows[0]["channel_message_id"] == second_id
    late = [a for a in audits if first_id in a["body"]]
    assert late and all(a["status"] == "processed" for a in late), late


async def _none_pending_audits(ctx: AppContext) -> bool:
    pending_audits = await fetchval(
        ctx, "SELECT count(*) FROM webhook_audit WHERE status = 'pending'"
    )
    return pending_audits == 0


@pytest.mark.timeout(60)
async def test_a_live_but_slow_owner_is_not_taken_over(
    ctx: AppContext, sandbox: Sandbox, live: str, workers
) -> None:
    pool = workers(1.0)
    wa, account = await slow_account(ctx, sandbox, live, 9000)
    (message_id,) = await pending(ctx, account, 1, conversations=1)
    pool.start()
    await until("the send is at the sandbox", lambda: in_flight(sandbox, wa.external_id), 30)
    pool.start()  # a second worker, whose takeover pass would take a dead owner's claim
    await asyncio.sleep(6)  # far past the grace and several takeover passes
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, claimed_by, recovering_since FROM messages WHERE id = $1", message_id
        )
    assert row["status"] == "pending" and row["claimed_by"] is not None
    assert row["recovering_since"] is None
    assert len(await sandbox.requests(path="/messages", method="POST")) == 1

    async def sent() -> bool:
        return (await counts(ctx)).get("pending", 0) == 0

    await until("the slow send finished", sent, 15)
    assert (await sends_by_message(sandbox, wa.external_id))[str(message_id)]["accepted"] == 1


@pytest.mark.timeout(90)
async def test_scheduled_replies_of_a_killed_worker_go_out_once_after_the_grace(
    ctx: AppContext,
    sandbox: Sandbox,
    live: str,
    workers,
    schedule: Schedule,  # noqa: F811 (the fixture)
) -> None:
    grace = 3.0
    pool = workers(grace)
    wa, account = await slow_account(ctx, sandbox, live, 300, rate=20)
    ids = []
    for n in range(12):
        conversation_id = await conversation(ctx, account, who=f"6281300000{n:03d}")
        for k in range(3):
            ids.append(await scheduled(schedule, conversation_id, text=f"Reminder {n}.{k}"))
    await due(ctx, *ids)  # all due now: the worker turns them into replies and sends them
    first = pool.start()
    await until("a send in flight", lambda: in_flight(sandbox, wa.external_id), 30)
    await asyncio.sleep(0.3)
    killed_at = pool.kill(first)
    await sandbox.clear_faults()
    pool.start()

    async def all_out() -> bool:
        rows = await fetchval(
            ctx,
            "SELECT count(*) FROM scheduled_messages s JOIN messages m ON m.id = s.message_id "
            "WHERE s.status = 'sent' AND m.status <> 'pending'",
        )
        return rows == len(ids)

    await until("every scheduled reply left pending", all_out, grace + 15)
    print(f"scheduled replies out {time.monotonic() - killed_at:.1f} s after the kill")
    await until("the sandbox is idle", lambda: sandbox.settle(within=5), 15)
    assert "took over the claims of a stopped worker" in pool.log.read_text()
    sends = await sends_by_message(sandbox, wa.external_id)
    assert len(sends) == len(ids)
    assert all(s["accepted"] == 1 for s in sends.values()), sends
