"""Shared set-up of the CSAT tests: a sandbox account of a channel with OmniStream receiving
its webhooks (the inbound loop in this process), the CSAT consumer and the sender tick run
by hand, and the customer's side played through the sandbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from omnistream.channels.registry import ChannelRegistry
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.csat.consumer import consume
from omnistream.events.dispatcher import publish_pending
from omnistream.messages.worker import send_due
from tests.conftest import Agent
from tests.inbound.test_inbound_support import Account, integration
from tests.sandbox_fixture import Sandbox, SandboxAccount

ANA = "16505551234"  # a US number: English
BUDI = "6281234567890"  # an Indonesian number: Bahasa Indonesia
PSID = "2400000000000001"


async def until(what: str, check: Callable[[], Awaitable[bool]], within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.05)


async def rows(ctx: AppContext, sql: str, *args: Any) -> list[Any]:
    async with ctx.pool.acquire() as conn:
        return list(await conn.fetch(sql, *args))


async def value(ctx: AppContext, sql: str, *args: Any) -> Any:
    async with ctx.pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def consume_all(ctx: AppContext) -> None:
    """Publish what was written and let the CSAT consumer take all of it."""
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)
    while (await consume(ctx.pool)) not in (0, None):
        pass


async def send_all(ctx: AppContext, settings: Settings, registry: ChannelRegistry) -> int:
    total = 0
    while handled := await send_due(ctx.pool, settings, registry):
        total += handled
    return total


async def enable(client: httpx.AsyncClient, admin: Agent, **settings: Any) -> dict[str, Any]:
    body = {"channels": ["whatsapp", "messenger", "instagram"], **settings}
    r = await client.put("/api/v1/csat/settings", json=body, headers=admin.headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


@dataclass
class Line:
    """One channel's account on both sides and the customer's id there."""

    channel: str
    remote: SandboxAccount
    local: Account
    customer: str


async def connect(ctx: AppContext, sandbox: Sandbox, channel: str, customer: str) -> Line:
    remote = await sandbox.register_account(channel)
    (local,) = await integration(
        ctx,
        channel,
        [remote.external_id],
        app_secret=remote.app_secret,
        access_token=remote.access_token,
        base_url=sandbox.url,
    )
    return Line(channel, remote, local, customer)


async def customer_sends(ctx: AppContext, sandbox: Sandbox, line: Line, **fields: Any) -> str:
    """The customer's message through the sandbox; returns its channel id once stored."""
    sent = await sandbox.send_customer(line.remote, line.customer, **fields)
    mid = str(sent["message_id"])

    async def stored() -> bool:
        return bool(await value(ctx, "SELECT 1 FROM messages WHERE channel_message_id = $1", mid))

    await until(f"message {mid} stored", stored)
    return mid


async def conversation_of(ctx: AppContext, line: Line) -> Any:
    found = await rows(
        ctx,
        "SELECT * FROM conversations WHERE integration_account_id = $1 ORDER BY created_at",
        line.local.account_id,
    )
    assert len(found) == 1, found
    return found[0]


async def resolve(client: httpx.AsyncClient, agent: Agent, conversation_id: UUID) -> None:
    r = await client.post(f"/api/v1/conversations/{conversation_id}/resolve", headers=agent.headers)
    assert r.status_code == 200, r.text


async def surveys(ctx: AppContext) -> list[Any]:
    return await rows(ctx, "SELECT * FROM csat_surveys ORDER BY created_at")


async def sent_bodies(sandbox: Sandbox, line: Line) -> list[dict[str, Any]]:
    sends = await sandbox.requests(path=f"/{line.remote.external_id}/messages", method="POST")
    return [r["body"] for r in sends]
