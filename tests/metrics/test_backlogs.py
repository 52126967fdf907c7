"""metrics.queries.backlogs: what each queue-draining loop has waiting, on seeded rows
(real tables, the real statement): only waiting items count, ages come from the right
clock, and counts stop at the cap."""

from __future__ import annotations

from typing import Any

from omnistream.context import AppContext
from omnistream.metrics.queries import BACKLOG_CAP, BACKLOG_NAMES, backlogs
from tests import factories


async def _run(ctx: AppContext, sql: str, *args: Any) -> Any:
    async with ctx.pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def test_empty_queues_are_zero(ctx: AppContext) -> None:
    async with ctx.pool.acquire() as conn:
        found = await backlogs(conn)
    assert set(found) == set(BACKLOG_NAMES)
    assert all(b.count == 0 and b.oldest_age_seconds == 0 for b in found.values())


async def test_only_waiting_items_count_with_the_oldest_age(ctx: AppContext) -> None:
    conversation = await factories.conversation(ctx)
    await _run(
        ctx,
        "INSERT INTO webhook_audit (channel, body, signature_valid, status, received_at) "
        "VALUES ('meta', '\\x7b7d', true, 'pending', now() - interval '50 s'), "
        "('meta', '\\x7b7d', true, 'pending', now()), "
        "('meta', '\\x7b7d', true, 'processed', now() - interval '1 hour')",
    )
    await _run(
        ctx,
        "INSERT INTO messages (conversation_id, channel, direction, type, status, created_at) "
        "VALUES ($1, 'whatsapp', 'outbound', 'text', 'pending', now() - interval '30 s'), "
        "($1, 'whatsapp', 'outbound', 'text', 'sent', now() - interval '1 hour'), "
        "($1, 'whatsapp', 'inbound', 'text', 'received', now() - interval '1 hour')",
        conversation,
    )
    await _run(
        ctx,
        "INSERT INTO scheduled_messages (conversation_id, msg_type, content_json, scheduled_at) "
        "VALUES ($1, 'text', '{}', now() - interval '40 s'), "
        "($1, 'text', '{}', now() + interval '1 hour')",  # not due yet: not waiting
        conversation,
    )
    active = await _run(
        ctx,
        "INSERT INTO outgoing_webhooks (url, secret) VALUES ('https://a.test', 'x') RETURNING id",
    )
    disabled = await _run(
        ctx,
        "INSERT INTO outgoing_webhooks (url, secret, is_active) "
        "VALUES ('https://b.test', 'x', false) RETURNING id",
    )
    await _run(
        ctx,
        "INSERT INTO webhook_deliveries (webhook_id, event_type, payload_json, created_at) "
        "VALUES ($1, 'x', '{}', now() - interval '20 s'), ($1, 'x', '{}', now()), "
        "($2, 'x', '{}', now() - interval '1 hour')",  # a disabled endpoint's: not claimed
        active,
        disabled,
    )
    running = await _run(
        ctx,
        "INSERT INTO campaigns (name, status, started_at) "
        "VALUES ('r', 'running', now() - interval '60 s') RETURNING id",
    )
    draft = await _run(ctx, "INSERT INTO campaigns (name) VALUES ('d') RETURNING id")
    await _run(
        ctx,
        "INSERT INTO campaign_recipients (campaign_id, phone) "
        "VALUES ($1, '6281'), ($1, '6282'), ($2, '6283')",
        running,
        draft,
    )
    async with ctx.pool.acquire() as conn:
        found = await backlogs(conn)
    counts = {name: b.count for name, b in found.items()}
    assert counts == {
        "inbound": 2,
        "outbound": 1,
        "scheduled": 1,
        "webhook_deliveries": 2,
        "campaign_recipients": 2,
    }
    expected_age = {
        "inbound": 50,
        "outbound": 30,
        "scheduled": 40,
        "webhook_deliveries": 20,
        "campaign_recipients": 60,
    }
    for name, age in expected_age.items():
        assert age <= found[name].oldest_age_seconds < age + 30, name


async def test_counts_stop_at_the_cap(ctx: AppContext) -> None:
    await _run(
        ctx,
        "INSERT INTO webhook_audit (channel, body, signature_valid) "
        "SELECT 'meta', '\\x7b7d', true FROM generate_series(1, $1)",
        BACKLOG_CAP + 5,
    )
    async with ctx.pool.acquire() as conn:
        found = await backlogs(conn)
    assert found["inbound"].count == BACKLOG_CAP
