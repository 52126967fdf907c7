"""Shared set-up of the campaign tests: a WhatsApp number on the sandbox with its templates
synced, campaigns made through the API, the campaign loop and OmniStream's webhook
receiver running in this process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from omnistream.campaigns.worker import campaign_loop
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.messages.senders import meta_registry
from tests.conftest import Agent
from tests.processes import receiving
from tests.sandbox_fixture import Sandbox, SandboxAccount
from tests.templates.test_templates import connect, synced, template

NAMED = "welcome_offer"  # Hi {{name}}, enjoy {{discount}} off your next order!
VARIABLES = {"name": {"column": "name"}, "discount": {"value": "20%"}}


async def whatsapp(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent, sandbox: Sandbox, rate: int = 80
) -> tuple[SandboxAccount, UUID, UUID]:
    """(the sandbox account, our account id, the welcome_offer template id)."""
    remote, account = await connect(ctx, sandbox)
    await synced(client, admin, account)
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE integration_accounts SET send_rate_per_second = $2 WHERE id = $1",
            account.account_id,
            rate,
        )
    row = await template(ctx, NAMED)
    return remote, account.account_id, row["id"]


async def create(
    client: httpx.AsyncClient, agent: Agent, account_id: UUID, template_id: UUID, **extra: Any
) -> dict[str, Any]:
    body = {
        "name": "December promo",
        "integration_account_id": str(account_id),
        "template_id": str(template_id),
        "variables": VARIABLES,
        **extra,
    }
    r = await client.post("/api/v1/campaigns", json=body, headers=agent.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def upload(
    client: httpx.AsyncClient, agent: Agent, campaign_id: str, text: str | bytes, **form: str
) -> httpx.Response:
    data = text.encode() if isinstance(text, str) else text
    return await client.put(
        f"/api/v1/campaigns/{campaign_id}/audience/csv",
        files={"file": ("audience.csv", data, "text/csv")},
        data=form,
        headers=agent.headers,
    )


def numbers(count: int, start: int = 0) -> list[str]:
    """Valid US numbers (WhatsApp ids) that the sandbox accepts."""
    return [f"1650555{(start + i):04d}" for i in range(count)]


def csv_of(phones: list[str]) -> str:
    return "phone,name\n" + "".join(f"+{p},Customer {i}\n" for i, p in enumerate(phones))


async def start(
    client: httpx.AsyncClient, agent: Agent, campaign_id: str, **body: Any
) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/campaigns/{campaign_id}/schedule", json=body, headers=agent.headers
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def until(what: str, check: Callable[[], Awaitable[bool]], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.05)


async def status_of(ctx: AppContext, campaign_id: str) -> str:
    async with ctx.pool.acquire() as conn:
        status: str = await conn.fetchval(
            "SELECT status FROM campaigns WHERE id = $1", UUID(campaign_id)
        )
    return status


async def recipient_counts(ctx: AppContext, campaign_id: str) -> dict[str, int]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT status, count(*)::int AS n FROM campaign_recipients WHERE campaign_id = $1 "
            "GROUP BY status",
            UUID(campaign_id),
        )
    return {r["status"]: r["n"] for r in rows}


@contextlib.asynccontextmanager
async def running_loop(ctx: AppContext, settings: Settings) -> AsyncIterator[None]:
    """The campaign loop in this process, sending through the sandbox."""
    stop = asyncio.Event()
    async with meta_registry(ctx.pool, settings) as registry:
        task = asyncio.create_task(campaign_loop(ctx.pool, settings, stop, registry))
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)


@pytest.fixture(name="live")
async def live_fixture(app: FastAPI, ctx: AppContext, sandbox: Sandbox) -> AsyncIterator[str]:
    """OmniStream receiving the sandbox's webhooks and applying them; the sandbox posts
    to it."""
    async with receiving(app, ctx) as url:
        await sandbox.settings(webhook_url=url)
        yield url
