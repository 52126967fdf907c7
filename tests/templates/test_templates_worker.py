"""The template sync worker's tick against the Graph API sandbox over real HTTP: one worker
at a time, due integrations only, system activity entries, and a failed sync retried after a
short back-off rather than a whole interval."""

from __future__ import annotations

import asyncio

from omnistream.templates import queries
from omnistream.templates.worker import sync_tick
from tests.inbound.test_inbound_support import rows, value
from tests.sandbox_fixture import sandbox_fixture  # noqa: F401
from tests.templates.test_templates import connect, private_fixture  # noqa: F401


async def test_the_worker_tick_syncs_due_integrations_one_worker_at_a_time(
    ctx, sandbox, private
) -> None:
    _, account = await connect(ctx, sandbox)
    async with ctx.pool.acquire() as holder:  # another worker is running the tick
        assert await queries.try_tick_lock(holder)
        try:
            assert await sync_tick(ctx.pool, private, ctx.box) is None
        finally:
            await queries.tick_unlock(holder)
    assert await value(ctx, "SELECT count(*) FROM wa_templates") == 0
    ticks = await asyncio.gather(*(sync_tick(ctx.pool, private, ctx.box) for _ in range(3)))
    assert sorted(t or 0 for t in ticks) == [0, 0, 1]  # the others: locked out, or nothing due
    assert await value(ctx, "SELECT count(*) FROM wa_templates") == 8
    (event,) = await rows(ctx, "SELECT * FROM event_outbox WHERE type = 'template.synced'")
    assert event["data"]["trigger"] == "schedule" and event["actor"] == {"type": "system"}
    assert await sync_tick(ctx.pool, private, ctx.box) == 0  # synced: due again in an hour
    await value(ctx, "UPDATE wa_template_syncs SET attempted_at = now() - interval '2 hours'")
    assert await sync_tick(ctx.pool, private, ctx.box) == 1
    # One system entry (no agent): the first sync changed templates; the second changed none.
    (log,) = await rows(ctx, "SELECT * FROM activity_logs")
    assert (log["agent_id"], log["action"], log["target_id"]) == (
        None,
        "sync_templates",
        account.integration_id,
    )
    assert log["metadata_json"] == {
        "ok": True, "added": 8, "updated": 0, "removed": 0, "trigger": "schedule"
    }  # fmt: skip
    assert account.integration_id == await value(
        ctx, "SELECT integration_id FROM wa_template_syncs"
    )


async def test_a_failed_scheduled_sync_is_retried_soon_backing_off(ctx, sandbox, private) -> None:
    _, account = await connect(ctx, sandbox)
    await sandbox.add_fault("http_500", path_contains="message_templates", times=2)
    retry = 0.5  # seconds here; a minute in production

    async def tick() -> int | None:
        return await sync_tick(ctx.pool, private, ctx.box, retry_seconds=retry)

    async def failures() -> tuple[int, str | None]:
        (sync,) = await rows(ctx, "SELECT * FROM wa_template_syncs")
        return sync["consecutive_failures"], sync["error"]

    assert await tick() == 1  # Meta answers 500
    count, error = await failures()
    assert count == 1 and error is not None and "500" in error
    assert await tick() == 0  # not an hour, but not at once either
    await asyncio.sleep(retry + 0.1)
    assert await tick() == 1  # fails again: the next wait doubles
    assert (await failures())[0] == 2
    await asyncio.sleep(retry + 0.1)
    assert await tick() == 0  # 0.6 s of 1 s
    await asyncio.sleep(retry)
    assert await tick() == 1  # the fault is over: synced
    assert await failures() == (0, None)
    assert await value(ctx, "SELECT count(*) FROM wa_templates") == 8
    await asyncio.sleep(2 * retry)
    assert await tick() == 0  # a success waits the whole interval again
    assert account.integration_id == await value(
        ctx, "SELECT integration_id FROM wa_template_syncs"
    )
