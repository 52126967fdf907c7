"""The campaign loop against the sandbox over real HTTP, with OmniStream receiving its
webhooks: pause / resume / cancel within a second, a scheduled start, per-recipient errors,
opt-outs by 131050 and by a STOP button, forward-only receipts, and replies linked to the
campaign by context and by time window."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from omnistream.campaigns import replies
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.db.pool import transaction
from omnistream.inbound.model import StatusUpdate
from tests.campaigns.support import (
    create,
    csv_of,
    live_fixture,  # noqa: F401
    numbers,
    recipient_counts,
    running_loop,
    start,
    status_of,
    until,
    upload,
    whatsapp,
)
from tests.sandbox_fixture import Sandbox, sandbox_fixture  # noqa: F401
from tests.templates.test_templates import private_fixture  # noqa: F401


async def fetch(ctx: AppContext, sql: str, *args: Any) -> list[Any]:
    async with ctx.pool.acquire() as conn:
        return list(await conn.fetch(sql, *args))


async def sent_count(sandbox: Sandbox, account: str) -> int:
    return len(await sandbox.requests(path="/messages", method="POST", account=account))


async def test_pause_resume_and_cancel_take_effect_within_a_second(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings, live: str
) -> None:
    remote, account_id, template_id = await whatsapp(ctx, client, admin, sandbox, rate=20)
    campaign = await create(client, admin, account_id, template_id)
    one = f"/api/v1/campaigns/{campaign['id']}"
    await upload(client, admin, campaign["id"], csv_of(numbers(200)))
    async with running_loop(ctx, private):
        await start(client, admin, campaign["id"])

        async def some_sent() -> bool:
            return await sent_count(sandbox, remote.external_id) >= 10

        await until("sending", some_sent, 10)
        assert (await client.post(f"{one}/pause", headers=admin.headers)).status_code == 200
        await asyncio.sleep(1.0)
        at_pause = await sent_count(sandbox, remote.external_id)
        await asyncio.sleep(1.5)
        assert await sent_count(sandbox, remote.external_id) == at_pause, "sent while paused"
        counts = await recipient_counts(ctx, campaign["id"])
        assert counts["pending"] == 200 - at_pause  # the unsent claims went back
        assert (await client.post(f"{one}/resume", headers=admin.headers)).status_code == 200

        async def resumed() -> bool:
            return await sent_count(sandbox, remote.external_id) >= at_pause + 10

        await until("sending again", resumed, 10)
        assert (await client.post(f"{one}/cancel", headers=admin.headers)).status_code == 200
        await asyncio.sleep(1.0)
        at_cancel = await sent_count(sandbox, remote.external_id)
        await asyncio.sleep(1.5)
        assert await sent_count(sandbox, remote.external_id) == at_cancel
    assert await status_of(ctx, campaign["id"]) == "cancelled"
    assert (await recipient_counts(ctx, campaign["id"]))["pending"] == 200 - at_cancel
    # The campaign's share of a rate of 20/s: 16 a second at most.
    rate = await sandbox.rate(account=remote.external_id)
    assert 0 < rate["max_accepted_per_second"] <= 16, rate
    progress = await fetch(ctx, "SELECT data FROM event_outbox WHERE type = 'campaign.progress'")
    assert progress and all(e["data"]["campaign_id"] == campaign["id"] for e in progress)


async def test_a_scheduled_campaign_starts_at_its_time(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings, live: str
) -> None:
    remote, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    campaign = await create(client, admin, account_id, template_id)
    await upload(client, admin, campaign["id"], csv_of(numbers(3)))
    at = datetime.now(UTC) + timedelta(seconds=2)
    async with running_loop(ctx, private):
        await start(client, admin, campaign["id"], scheduled_at=at.isoformat())
        await asyncio.sleep(1.0)
        assert await status_of(ctx, campaign["id"]) == "scheduled"
        assert await sent_count(sandbox, remote.external_id) == 0

        async def completed() -> bool:
            return await status_of(ctx, campaign["id"]) == "completed"

        await until("completed", completed, 15)
    (row,) = await fetch(ctx, "SELECT started_at FROM campaigns")
    assert row["started_at"] >= at
    # Campaign sends alone open no conversation.
    assert await fetch(ctx, "SELECT 1 FROM conversations") == []
    types = [
        e["type"] for e in await fetch(ctx, "SELECT type FROM event_outbox ORDER BY occurred_at")
    ]
    assert types.count("campaign.updated") >= 3  # audience, scheduled, running, completed
    (last,) = await fetch(
        ctx,
        "SELECT data FROM event_outbox WHERE type = 'campaign.updated' ORDER BY occurred_at DESC LIMIT 1",
    )
    assert last["data"]["campaign"]["status"] == "completed"
    assert last["data"]["campaign"]["counts"]["pending"] == 0


async def test_errors_per_recipient_and_opt_outs_by_131050_and_stop(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings, live: str
) -> None:
    remote, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    a, b, c, d, e = numbers(5)
    await sandbox.add_fault("failed_status", recipient=b, code=131050)
    await sandbox.add_fault("failed_status", recipient=c, code=131049)
    await sandbox.add_fault("error", recipient=d, code=131026)
    # e presses the STOP button of an earlier message before the campaign.
    await sandbox.send_customer(remote, e, type="button", payload="STOP", text="Stop promos")
    async with running_loop(ctx, private):

        async def opted() -> bool:
            return bool(await fetch(ctx, "SELECT 1 FROM campaign_opt_outs WHERE phone = $1", e))

        await until("the STOP button opted the number out", opted, 10)
        campaign = await create(client, admin, account_id, template_id)
        r = await upload(client, admin, campaign["id"], csv_of([a, b, c, d, e]))
        assert [x["reason"] for x in r.json()["rejected"]] == ["opted_out"]
        await start(client, admin, campaign["id"])

        async def settled() -> bool:
            counts = await recipient_counts(ctx, campaign["id"])
            return counts == {"read": 1, "failed": 3}

        await until("every outcome recorded", settled, 20)
    rows = {
        r["phone"]: r
        for r in await fetch(
            ctx, "SELECT phone, status, error_code, error_message FROM campaign_recipients"
        )
    }
    assert rows[b]["error_code"] == "131050" and rows[c]["error_code"] == "131049"
    assert rows[d]["error_code"] == "131026" and "not be on WhatsApp" in rows[d]["error_message"]
    outs = {r["phone"]: r["reason"] for r in await fetch(ctx, "SELECT * FROM campaign_opt_outs")}
    assert outs == {b: "meta_131050", e: "keyword"}
    stats = (
        await client.get(f"/api/v1/campaigns/{campaign['id']}/stats", headers=admin.headers)
    ).json()
    assert {f["error_code"]: f["count"] for f in stats["failures"]} == {
        "131050": 1,
        "131049": 1,
        "131026": 1,
    }


async def test_receipts_move_a_recipient_forward_only(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings
) -> None:
    _, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    campaign = await create(client, admin, account_id, template_id)
    await upload(client, admin, campaign["id"], csv_of(numbers(2)))
    first, second = [
        r["id"] for r in await fetch(ctx, "SELECT id FROM campaign_recipients ORDER BY line")
    ]
    now = datetime.now(UTC)

    async def receipt(recipient: UUID, status: str, wamid: str, code: str | None = None) -> str:
        item = StatusUpdate(
            "whatsapp", ("x",), wamid, status, now, code, code and "why", f"c:{recipient}"
        )
        async with transaction(ctx.pool) as tx:
            await replies.apply_receipt(tx.conn, recipient, item)
        (row,) = await fetch(ctx, "SELECT status FROM campaign_recipients WHERE id = $1", recipient)
        return str(row["status"])

    # A worker died before recording the send: the first receipt records it.
    assert await receipt(first, "delivered", "wamid.A") == "delivered"
    assert await receipt(first, "sent", "wamid.A") == "delivered"
    assert await receipt(first, "read", "wamid.A") == "read"
    assert await receipt(first, "failed", "wamid.A", "131000") == "read"
    assert await receipt(first, "delivered", "wamid.A") == "read"
    # A second acceptance under another wamid is ignored.
    assert await receipt(first, "failed", "wamid.B", "131000") == "read"
    assert await receipt(second, "sent", "wamid.C") == "sent"
    assert await receipt(second, "failed", "wamid.C", "131026") == "failed"
    assert await receipt(second, "read", "wamid.C") == "failed"
    rows = await fetch(
        ctx, "SELECT channel_message_id, error_code FROM campaign_recipients ORDER BY line"
    )
    assert [(r["channel_message_id"], r["error_code"]) for r in rows] == [
        ("wamid.A", None),
        ("wamid.C", "131026"),
    ]


async def test_replies_are_linked_by_context_and_by_window(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings, live: str
) -> None:
    remote, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    async with ctx.pool.acquire() as conn:
        sales = await conn.fetchval("INSERT INTO divisions (name) VALUES ('Sales') RETURNING id")
    campaign = await create(client, admin, account_id, template_id, division_id=str(sales))
    a, b, c = numbers(3)
    await upload(client, admin, campaign["id"], csv_of([a, b, c]))
    async with running_loop(ctx, private):
        await start(client, admin, campaign["id"])

        async def all_read() -> bool:
            return await recipient_counts(ctx, campaign["id"]) == {"read": 3}

        await until("sent and read", all_read, 20)
        wamids = {
            r["phone"]: r["channel_message_id"]
            for r in await fetch(ctx, "SELECT phone, channel_message_id FROM campaign_recipients")
        }
        # c's send is older than the reply window (72 h).
        await fetch(
            ctx,
            "UPDATE campaign_recipients SET sent_at = now() - interval '73 hours' WHERE phone = $1",
            c,
        )
        started = time.monotonic()
        await sandbox.send_customer(remote, a, text="Is it still on?", reply_to=wamids[a])
        await sandbox.send_customer(remote, b, text="How much?")
        await sandbox.send_customer(remote, c, text="Hello")

        async def linked() -> bool:
            rows = await fetch(ctx, "SELECT 1 FROM messages WHERE direction = 'inbound'")
            return len(rows) == 3

        await until("the replies stored", linked, 10)
        assert time.monotonic() - started < 10
    rows = {
        r["phone"]: r
        for r in await fetch(
            ctx, "SELECT phone, conversation_id, replied_at, message_id FROM campaign_recipients"
        )
    }
    assert rows[a]["conversation_id"] and rows[b]["conversation_id"]
    assert rows[c]["conversation_id"] is None and rows[c]["replied_at"] is None
    conversations = {
        r["phone"]: r
        for r in await fetch(
            ctx,
            "SELECT k.phone, v.id, v.campaign_id, v.division_id FROM conversations v "
            "JOIN contacts k ON k.id = v.contact_id",
        )
    }
    for phone in (a, b):
        assert conversations[phone]["campaign_id"] == UUID(campaign["id"])
        assert conversations[phone]["division_id"] == sales
    assert conversations[c]["campaign_id"] is None and conversations[c]["division_id"] is None
    # The campaign's message is in a's timeline, before the reply, as the API shows it.
    timeline = await client.get(
        f"/api/v1/conversations/{conversations[a]['id']}/messages", headers=admin.headers
    )
    assert timeline.status_code == 200, timeline.text
    items = timeline.json()["items"]
    kinds = sorted((m["created_at"], m["direction"], m["type"]) for m in items)
    assert [(k[1], k[2]) for k in kinds] == [("outbound", "template"), ("inbound", "text")]
    template = next(m for m in items if m["type"] == "template")
    assert template["content"]["campaign_id"] == campaign["id"]
    assert template["content"]["text"] == "Hi Customer 0, enjoy 20% off your next order!"
    assert template["channel_message_id"] == wamids[a] and template["status"] == "read"
    got = await client.get(f"/api/v1/conversations/{conversations[a]['id']}", headers=admin.headers)
    assert got.json()["campaign_id"] == campaign["id"]
    stats = (
        await client.get(f"/api/v1/campaigns/{campaign['id']}/stats", headers=admin.headers)
    ).json()
    assert stats["counts"]["replied"] == 2 and stats["reply_rate"] == round(2 / 3, 4)


async def test_a_refused_token_stops_the_campaign_as_failed(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings, live: str
) -> None:
    remote, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    await sandbox.add_fault("error", account=remote.external_id, code=190, http_status=401)
    campaign = await create(client, admin, account_id, template_id)
    await upload(client, admin, campaign["id"], csv_of(numbers(30)))
    async with running_loop(ctx, private):
        await start(client, admin, campaign["id"])

        async def failed() -> bool:
            return await status_of(ctx, campaign["id"]) == "failed"

        await until("the campaign failed", failed, 10)
        await asyncio.sleep(1.0)
        attempts = await sent_count(sandbox, remote.external_id)
    got = (await client.get(f"/api/v1/campaigns/{campaign['id']}", headers=admin.headers)).json()
    assert "access token was refused" in got["failure_reason"] and "190" in got["failure_reason"]
    assert got["finished_at"] and got["counts"]["pending"] == 30  # nobody failed for it
    assert attempts <= 16  # stopped at the first answers, not after trying everyone
    (integration,) = await fetch(ctx, "SELECT health FROM integrations")
    assert integration["health"] == "auth_failed"
    actions = await fetch(ctx, "SELECT action FROM activity_logs WHERE action = 'fail_campaign'")
    assert len(actions) == 1
