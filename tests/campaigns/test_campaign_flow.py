"""A campaign end to end in one process: created, audience from CSV, started, sent through
the sandbox over real HTTP, receipts applied, completed."""

from __future__ import annotations

from omnistream.config import Settings
from omnistream.context import AppContext
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


async def test_a_campaign_sends_to_everyone_once_and_completes(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings, live: str
) -> None:
    remote, account_id, template_id = await whatsapp(ctx, client, admin, sandbox, rate=50)
    campaign = await create(client, admin, account_id, template_id)
    assert campaign["status"] == "draft"
    phones = numbers(40)
    r = await upload(client, admin, campaign["id"], csv_of(phones))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 40
    async with running_loop(ctx, private):
        await start(client, admin, campaign["id"])

        async def completed() -> bool:
            return await status_of(ctx, campaign["id"]) == "completed"

        await until("completed", completed, 30)

        async def all_read() -> bool:
            return await recipient_counts(ctx, campaign["id"]) == {"read": 40}

        await until("every receipt applied", all_read, 20)
    sends = await sandbox.recipients(account=remote.external_id)
    print(sends)
