"""Inbound media fetched from the Meta Graph API sandbox (a real server on loopback): the
Graph lookup with the account's token, the download, the sha256 check, retries with
backoff, permanent failures, Messenger CDN URLs, and serving the file once ready."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.inbound import media as inbound_media
from omnistream.inbound.media import fetch_media
from tests.inbound.test_inbound_support import (
    _fresh_secrets,  # noqa: F401 - autouse
    deliver,
    drain,
    integration,
    one,
    rows,
    value,
)
from tests.sandbox_fixture import Sandbox, SandboxAccount, sandbox_fixture  # noqa: F401

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n" + b"0" * 500
ANA = "16505551234"


@pytest.fixture
def fetch_settings(settings: Settings) -> Settings:
    """OMNISTREAM_ALLOW_PRIVATE_URLS=true: the sandbox listens on loopback."""
    return settings.model_copy(update={"allow_private_urls": True})


async def connect(ctx: AppContext, sandbox: Sandbox, channel: str = "whatsapp") -> SandboxAccount:
    """A sandbox account and the OmniStream integration pointing at it."""
    account = await sandbox.register_account(channel)
    await integration(
        ctx,
        channel,
        [account.external_id],
        app_secret=account.app_secret,
        access_token=account.access_token,
        base_url=sandbox.url,
    )
    return account


async def customer_sends(
    client: Any, sandbox: Sandbox, account: SandboxAccount, kind: str, **fields: Any
) -> dict[str, Any]:
    """The sandbox builds the customer's webhook; it is posted, signed, to our endpoint."""
    sent = await sandbox.send_customer(
        account, ANA if account.channel == "whatsapp" else "2400000000000001", kind, **fields
    )
    payload: dict[str, Any] = sent["payload"]
    return payload


def wa_media(payload: dict[str, Any]) -> dict[str, Any]:
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    part: dict[str, Any] = message[message["type"]]
    return part


def stored_files(settings: Settings) -> set[Path]:
    return {p for p in settings.media_dir.rglob("*") if p.is_file()}


async def media_row(ctx: AppContext) -> Any:
    return await one(ctx, "SELECT * FROM media")


async def test_whatsapp_image_is_fetched_stored_and_served(
    ctx, client, sandbox, fetch_settings, admin
) -> None:
    account = await connect(ctx, sandbox)
    payload = await customer_sends(
        client,
        sandbox,
        account,
        "image",
        media_base64=base64.b64encode(JPEG).decode(),
        mime_type="image/jpeg",
        caption="the box",
    )
    await deliver(client, payload, account.app_secret)
    await drain(ctx)
    row = await media_row(ctx)
    assert (row["status"], row["channel_media_id"]) == ("pending", wa_media(payload)["id"])
    before = await value(ctx, "SELECT count(*) FROM event_outbox WHERE type = 'message.updated'")

    assert await fetch_media(ctx.pool, fetch_settings, ctx.box) == 1
    row = await media_row(ctx)
    assert row["status"] == "ready", row["error"]
    assert (row["size_bytes"], row["sha256"]) == (len(JPEG), hashlib.sha256(JPEG).hexdigest())
    assert row["filename"] == "image.jpg" and row["mime_type"] == "image/jpeg"
    assert (Path(fetch_settings.media_dir) / row["storage_path"]).read_bytes() == JPEG
    # Both Graph calls carried the account's token.
    recorded = await sandbox.requests()
    lookups = [r for r in recorded if r["path"].endswith(wa_media(payload)["id"])]
    assert lookups and all(
        r["headers"].get("authorization") == f"Bearer {account.access_token}" for r in lookups
    )
    # The message shows the file as ready, live.
    updated = await rows(ctx, "SELECT data FROM event_outbox WHERE type = 'message.updated'")
    assert len(updated) == before + 1
    assert updated[-1]["data"]["message"]["media"]["status"] == "ready"
    # And agents download it.
    r = await client.get(f"/api/v1/media/{row['id']}", headers=admin.headers)
    assert r.status_code == 200 and r.content == JPEG
    assert r.headers["content-type"] == "image/jpeg"
    assert await fetch_media(ctx.pool, fetch_settings, ctx.box) == 0  # nothing left


async def test_a_pending_file_answers_409_until_fetched(ctx, client, sandbox, admin) -> None:
    account = await connect(ctx, sandbox)
    payload = await customer_sends(
        client,
        sandbox,
        account,
        "document",
        media_base64=base64.b64encode(PDF).decode(),
        mime_type="application/pdf",
        filename="inv.pdf",
    )
    await deliver(client, payload, account.app_secret)
    await drain(ctx)
    row = await media_row(ctx)
    assert row["filename"] == "inv.pdf"
    r = await client.get(f"/api/v1/media/{row['id']}", headers=admin.headers)
    assert r.status_code == 409


async def test_a_sha256_mismatch_retries_then_fails(ctx, client, sandbox, fetch_settings) -> None:
    account = await connect(ctx, sandbox)
    payload = await customer_sends(
        client, sandbox, account, "image", media_base64=base64.b64encode(JPEG).decode()
    )
    # The webhook names the hash of other bytes (base64, as WhatsApp writes it).
    wa_media(payload)["sha256"] = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    await deliver(client, payload, account.app_secret)
    await drain(ctx)
    kept_before = stored_files(fetch_settings)
    assert await fetch_media(ctx.pool, fetch_settings, ctx.box) == 1
    row = await media_row(ctx)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert stored_files(fetch_settings) == kept_before  # nothing kept, not even a .part
    assert row["error"].startswith("sha256 mismatch: expected ")
    assert hashlib.sha256(JPEG).hexdigest() in row["error"]
    assert await value(ctx, "SELECT next_attempt_at > now() + interval '3 seconds' FROM media")
    assert await fetch_media(ctx.pool, fetch_settings, ctx.box) == 0  # backing off
    await value(
        ctx,
        "UPDATE media SET attempts = $1, next_attempt_at = now()",
        inbound_media.MAX_ATTEMPTS - 1,
    )
    await fetch_media(ctx.pool, fetch_settings, ctx.box)
    row = await media_row(ctx)
    assert row["status"] == "failed"
    assert (
        "sha256 mismatch" in row["error"] and f"after {inbound_media.MAX_ATTEMPTS}" in row["error"]
    )
    failed = await one(
        ctx, "SELECT data FROM event_outbox WHERE type = 'message.updated' ORDER BY pos DESC"
    )
    assert failed["data"]["message"]["media"]["status"] == "failed"


async def test_a_graph_error_is_retried_with_backoff(ctx, client, sandbox, fetch_settings) -> None:
    account = await connect(ctx, sandbox)
    payload = await customer_sends(
        client,
        sandbox,
        account,
        "audio",
        media_base64=base64.b64encode(b"OggS" + b"a" * 300).decode(),
        mime_type="audio/ogg",
    )
    media_id = wa_media(payload)["id"]
    await sandbox.add_fault("http_500", path_contains=media_id, times=1)
    await deliver(client, payload, account.app_secret)
    await drain(ctx)
    await fetch_media(ctx.pool, fetch_settings, ctx.box)
    row = await media_row(ctx)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["error"] == "the Graph API answered HTTP 500"
    await value(ctx, "UPDATE media SET next_attempt_at = now()")
    await fetch_media(ctx.pool, fetch_settings, ctx.box)
    row = await media_row(ctx)
    assert (row["status"], row["attempts"], row["error"]) == ("ready", 2, None)
    assert row["size_bytes"] == 304


async def test_media_gone_at_meta_fails_at_once(ctx, client, sandbox, fetch_settings) -> None:
    account = await connect(ctx, sandbox)
    payload = await customer_sends(client, sandbox, account, "video")
    wa_media(payload)["id"] = "9999999999999999"  # unknown to the Graph API
    await deliver(client, payload, account.app_secret)
    await drain(ctx)
    await fetch_media(ctx.pool, fetch_settings, ctx.box)
    row = await media_row(ctx)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["error"].startswith("the Graph API answered HTTP 4")


async def test_private_addresses_are_refused_unless_allowed(ctx, client, sandbox, settings) -> None:
    account = await connect(ctx, sandbox)
    await deliver(
        client, await customer_sends(client, sandbox, account, "sticker"), account.app_secret
    )
    await drain(ctx)
    await fetch_media(ctx.pool, settings, ctx.box)  # OMNISTREAM_ALLOW_PRIVATE_URLS unset
    row = await media_row(ctx)
    assert row["status"] == "pending" and "private or local address" in row["error"]
    assert not await sandbox.requests()


async def test_messenger_attachments_are_fetched_from_their_url(
    ctx, client, sandbox, fetch_settings
) -> None:
    account = await connect(ctx, sandbox, "messenger")
    payload = await customer_sends(
        client,
        sandbox,
        account,
        "document",
        media_base64=base64.b64encode(PDF).decode(),
        mime_type="application/pdf",
        filename="price list.pdf",
    )
    await deliver(client, payload, account.app_secret)
    await drain(ctx)
    row = await media_row(ctx)
    assert (
        row["source_url"].startswith(sandbox.url) and row["mime_type"] == "application/octet-stream"
    )
    await fetch_media(ctx.pool, fetch_settings, ctx.box)
    row = await media_row(ctx)
    assert row["status"] == "ready", row["error"]
    assert row["mime_type"] == "application/pdf"  # the CDN's type replaces the guess
    assert (Path(fetch_settings.media_dir) / row["storage_path"]).read_bytes() == PDF
    # A CDN URL is fetched without the page token.
    downloads = [r for r in await sandbox.requests() if "/cdn/" in r["path"]]
    assert all("authorization" not in r["headers"] for r in downloads)
