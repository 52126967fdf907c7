"""Two `omnistream worker` processes on one campaign (issue 13): nobody gets it twice, the
number's rate holds in every second (the sandbox enforces it, answering 429 above it, and
counts every second) and the campaign keeps to its share of it, while an agent's replies
in a conversation on the same number go out within a second.

The processes and helpers are test_campaign_crash.py's: the sandbox and OmniStream's
webhook receiver run as processes of their own. No status webhooks here (the campaign's
sends are recorded by the workers), so the sandbox keeps up with 250 sends a second.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from omnistream.channels.ratelimit import bulk_share
from omnistream.config import Settings
from omnistream.context import AppContext
from tests.campaigns.support import recipient_counts, status_of, whatsapp
from tests.campaigns.test_campaign_crash import (
    accepted,
    audience,
    check_exactly_once,
    receiver_fixture,  # noqa: F401
    sandbox_process,
    stop_all,
    until,
)
from tests.channels.test_ratelimit import start_worker
from tests.conftest import Agent
from tests.templates.test_templates import private_fixture  # noqa: F401

# Measures rates and races deadlines: under pytest-xdist it runs with no other test beside it.
pytestmark = pytest.mark.alone

COUNT = 2000
RATE = 250
SHARE = bulk_share(RATE, Settings.model_fields["campaign_rate_share"].default)  # 200/s
REPLIES = 3
CUSTOMER = "16505559999"  # not in the audience (numbers(COUNT))


@pytest.mark.timeout(120)
async def test_two_workers_share_a_campaign_within_the_rate_and_replies_go_out_at_once(
    ctx: AppContext,
    client: httpx.AsyncClient,
    admin: Agent,
    private: Settings,
    receiver: str,
    settings: Settings,
    test_dsn: str,
    tmp_path: Path,
) -> None:
    config = {"timing": {"enabled": False}, "rate_limit_per_second": RATE}
    async with sandbox_process(tmp_path, receiver, **config) as sandbox:
        remote, account_id, template_id = await whatsapp(ctx, client, admin, sandbox, RATE)
        account = remote.external_id
        # A customer writes in on the campaign's number: the agent's conversation.
        said = await sandbox.send_customer(remote, CUSTOMER, text="Is the promo still on?")
        assert said["delivered"], said
        conversation: list[UUID] = []

        async def conversation_found() -> bool:
            async with ctx.pool.acquire() as conn:
                found = await conn.fetchval(
                    "SELECT id FROM conversations WHERE integration_account_id = $1",
                    account_id,
                )
            conversation.extend([found] if found else [])
            return found is not None

        await until("the customer's conversation", conversation_found, 10)
        campaign_id = await audience(client, admin, account_id, template_id, COUNT)

        log = tmp_path / "workers.log"
        workers = [start_worker(settings, test_dsn, log) for _ in range(2)]
        claimers: set[int] = set()  # the worker keys seen holding the campaign's recipients

        async def watch() -> None:
            while True:
                async with ctx.pool.acquire() as conn:
                    rows = await conn.fetch(
                        "SELECT DISTINCT claimed_by FROM campaign_recipients "
                        "WHERE campaign_id = $1 AND claimed_by IS NOT NULL",
                        UUID(campaign_id),
                    )
                claimers.update(r["claimed_by"] for r in rows)
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        replies: list[UUID] = []
        try:

            async def both_sending() -> bool:
                return len(claimers) >= 2 and await accepted(sandbox, account) >= 100

            await until("both workers sending", both_sending, 30, workers, log)
            # The agent replies three times, a second apart, while the campaign's backlog
            # waits for its slots: each reply goes out at once, in the slots it keeps.
            for i in range(REPLIES):
                r = await client.post(
                    f"/api/v1/conversations/{conversation[0]}/messages",
                    json={"type": "text", "text": f"Yes, until Sunday ({i})"},
                    headers=admin.headers,
                )
                assert r.status_code == 201, r.text
                replies.append(UUID(r.json()["id"]))

                async def reply_sent(reply: UUID = replies[-1]) -> bool:
                    async with ctx.pool.acquire() as conn:
                        status = await conn.fetchval(
                            "SELECT status FROM messages WHERE id = $1", reply
                        )
                    return status in ("sent", "delivered", "read")

                await until(f"reply {i} sent", reply_sent, 10, workers, log)
                await asyncio.sleep(1.0)
            assert await status_of(ctx, campaign_id) == "running", "the replies came too late"

            async def completed() -> bool:
                return await status_of(ctx, campaign_id) == "completed"

            await until("the campaign completed", completed, 60, workers, log)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            stop_all(workers, log)

        assert len(claimers) == 2, claimers
        await check_exactly_once(ctx, sandbox, account, campaign_id, COUNT)
        assert await recipient_counts(ctx, campaign_id) == {"sent": COUNT}
        assert await accepted(sandbox, account) == COUNT + REPLIES

        # The rate: never more than RATE sends of the number in a second (the sandbox would
        # have answered 429), and the campaign never more than its share (give or take a
        # send or two that a busy machine delivered after the second it was started in).
        rate = await sandbox.rate(account)
        seconds = [s["accepted"] for s in rate["per_second"]]
        assert rate["limit"] == RATE
        assert rate["over_limit_seconds"] == [], seconds
        assert rate["total_throttled"] == 0, seconds
        assert rate["max_accepted_per_second"] <= SHARE + REPLIES + 3, seconds

        # Each reply went out within a second of being written, in the middle of the
        # campaign's sends.
        async with ctx.pool.acquire() as conn:
            waited = await conn.fetch(
                "SELECT extract(epoch FROM sent_at - created_at)::float8 AS s, sent_at "
                "FROM messages WHERE id = ANY($1) ORDER BY created_at",
                replies,
            )
            first, last = await conn.fetchrow(
                "SELECT min(sent_at), max(sent_at) FROM campaign_recipients WHERE campaign_id = $1",
                UUID(campaign_id),
            )
        latencies = [round(r["s"], 3) for r in waited]
        assert len(latencies) == REPLIES and max(latencies) <= 1.0, latencies
        assert all(first < r["sent_at"] < last for r in waited)
        took = (last - first).total_seconds()
        print(
            f"{COUNT} recipients by 2 workers in {took:.1f} s at {RATE}/s (campaign share "
            f"{SHARE}/s), busiest second {rate['max_accepted_per_second']}, reply latencies "
            f"{latencies} s"
        )
