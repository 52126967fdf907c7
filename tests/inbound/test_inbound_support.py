"""Shared pieces of the inbound tests (no tests here): Meta integrations made with sealed
credentials and plain INSERTs, signed webhook calls through the real endpoint, payload
fixtures from tests/fixtures/meta, and the worker's tick run until nothing is due."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import orjson
import pytest

from omnistream.context import AppContext
from omnistream.inbound.signature import app_secrets_of, signature
from omnistream.inbound.worker import process_batch
from omnistream.integrations.credentials import seal
from omnistream.kit.enums import Channel

FIXTURES = Path(__file__).parent.parent / "fixtures" / "meta"
WEBHOOK = "/webhooks/meta"
PHONE_ID = "106540352242922"
PHONE_ID_2 = "206540352242922"
PAGE_ID = "110000000000001"
IG_ID = "17841400000000001"
WA_SECRET = "wa-app-secret-0f3e9"
PAGE_SECRET = "page-app-secret-9a1c"
IG_SECRET = "ig-app-secret-51d7"
TOKEN = "EAAG-test-access-token"


@dataclass
class Account:
    integration_id: UUID
    account_id: UUID
    external_id: str


async def integration(
    ctx: AppContext,
    channel: str,
    external_ids: list[str],
    *,
    app_secret: str,
    verify_token: str = "verify-me",
    base_url: str | None = None,
    active: bool = True,
    access_token: str = TOKEN,
) -> list[Account]:
    """An integration with sealed credentials and its accounts, straight into the tables."""
    integration_id = uuid4()
    chan = Channel(channel)
    token_field = "access_token" if chan is Channel.WHATSAPP else "page_access_token"
    values: dict[str, Any] = {
        token_field: access_token,
        "app_secret": app_secret,
        "verify_token": verify_token,
        "api_version": "v21.0",
    }
    if chan is Channel.WHATSAPP:
        values["waba_id"] = "102290129340398"
    if base_url:
        values["base_url"] = base_url
    stored = seal(ctx.box, chan, integration_id, values)
    found = []
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO integrations (id, channel, name, credentials_json, is_active) "
            "VALUES ($1, $2, $3, $4, $5)",
            integration_id,
            channel,
            f"{channel} test",
            stored,
            active,
        )
        for n, external_id in enumerate(external_ids):
            account_id = await conn.fetchval(
                "INSERT INTO integration_accounts (integration_id, external_id, display_name, "
                "is_default) VALUES ($1, $2, $3, $4) RETURNING id",
                integration_id,
                external_id,
                f"Account {external_id}",
                n == 0,
            )
            found.append(Account(integration_id, account_id, external_id))
    return found


async def whatsapp(ctx: AppContext, base_url: str | None = None) -> list[Account]:
    return await integration(
        ctx, "whatsapp", [PHONE_ID, PHONE_ID_2], app_secret=WA_SECRET, base_url=base_url
    )


async def messenger(ctx: AppContext) -> Account:
    (account,) = await integration(ctx, "messenger", [PAGE_ID], app_secret=PAGE_SECRET)
    return account


async def instagram(ctx: AppContext) -> Account:
    (account,) = await integration(ctx, "instagram", [IG_ID], app_secret=IG_SECRET)
    return account


def fixture(name: str, **replace: str) -> bytes:
    """A payload file's raw bytes, with placeholders (e.g. MEDIA_BASE) replaced."""
    text = (FIXTURES / f"{name}.json").read_text()
    for key, value in replace.items():
        text = text.replace(key, value)
    return text.encode()


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(fixture(name))
    return data


async def post(
    client: httpx.AsyncClient, body: bytes | dict[str, Any], secret: str = WA_SECRET
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return await client.post(
        WEBHOOK,
        content=raw,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature(secret, raw)},
    )


async def deliver(
    client: httpx.AsyncClient, body: bytes | dict[str, Any], secret: str = WA_SECRET
) -> None:
    r = await post(client, body, secret)
    assert r.status_code == 200, r.text
    assert r.text == "EVENT_RECEIVED"


async def drain(ctx: AppContext) -> int:
    """Run the inbound tick until nothing is due; returns the rows handled."""
    total = 0
    while handled := await process_batch(ctx.pool, ctx.settings, ctx.box):
        total += handled
    return total


async def rows(ctx: AppContext, sql: str, *args: Any) -> list[Any]:
    async with ctx.pool.acquire() as conn:
        return list(await conn.fetch(sql, *args))


async def one(ctx: AppContext, sql: str, *args: Any) -> Any:
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(sql, *args)
    assert row is not None, sql
    return row


async def value(ctx: AppContext, sql: str, *args: Any) -> Any:
    async with ctx.pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def message(ctx: AppContext, channel_message_id: str) -> Any:
    return await one(
        ctx, "SELECT * FROM messages WHERE channel_message_id = $1", channel_message_id
    )


async def audits(ctx: AppContext) -> list[Any]:
    return await rows(ctx, "SELECT * FROM webhook_audit ORDER BY id")


async def outbound(
    ctx: AppContext,
    conversation_id: UUID,
    channel_message_id: str,
    *,
    channel: str = "whatsapp",
    status: str = "sent",
    created_at: Any = None,
) -> UUID:
    """An outbound message as the sender leaves it once the channel accepted it."""
    return await value(  # type: ignore[no-any-return]
        ctx,
        "INSERT INTO messages (conversation_id, channel, channel_message_id, direction, type, "
        "content, status, sent_at, created_at) VALUES ($1, $2, $3, 'outbound', 'text', "
        '\'{"text": "our reply"}\', $4, now(), COALESCE($5, now())) RETURNING id',
        conversation_id,
        channel,
        channel_message_id,
        status,
        created_at,
    )


async def conversation_for(
    ctx: AppContext,
    channel: str,
    account: Account,
    *,
    phone: str | None = None,
    identity: str | None = None,
) -> UUID:
    """A contact (by WhatsApp phone or channel identity) with an open conversation."""
    async with ctx.pool.acquire() as conn:
        contact_id = await conn.fetchval(
            "INSERT INTO contacts (name, phone) VALUES ('Known', $1) RETURNING id", phone
        )
        if identity:
            await conn.execute(
                "INSERT INTO contact_identities (channel, external_id, contact_id) "
                "VALUES ($1, $2, $3)",
                channel,
                identity,
                contact_id,
            )
        conversation_id: UUID = await conn.fetchval(
            "INSERT INTO conversations (contact_id, channel, integration_account_id) "
            "VALUES ($1, $2, $3) RETURNING id",
            contact_id,
            channel,
            account.account_id,
        )
    return conversation_id


@pytest.fixture(autouse=True)
def _fresh_secrets(request: pytest.FixtureRequest) -> None:
    """Each test sees the integrations it created (the secret cache outlives a test)."""
    if "app" in request.fixturenames:
        app_secrets_of(request.getfixturevalue("app")).invalidate()
