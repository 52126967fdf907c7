"""Webhooks the sandbox sends: Meta's envelopes, signed, delivered at least once.

Bodies are serialized the way Meta does (compact, non-ASCII and "/" escaped), so a
receiver that re-serializes before checking X-Hub-Signature-256 fails here as it would in
production.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any

import httpx

from omnistream.sandbox.config import AccountConfig
from omnistream.sandbox.errors import status_error
from omnistream.sandbox.state import Outbound, SandboxState

log = logging.getLogger("omnistream.sandbox")


def serialize(payload: dict[str, Any]) -> bytes:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wa_envelope(
    account: AccountConfig, value: dict[str, Any], field: str = "messages"
) -> dict[str, Any]:
    if field == "messages":
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": account.phone_digits,
                "phone_number_id": account.external_id,
            },
            **value,
        }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": account.waba, "changes": [{"value": value, "field": field}]}],
    }


def page_envelope(account: AccountConfig, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "instagram" if account.channel == "instagram" else "page",
        "entry": [
            {"time": int(time.time() * 1000), "id": account.external_id, "messaging": events}
        ],
    }


async def deliver(
    state: SandboxState, account: AccountConfig, payload: dict[str, Any], kind: str
) -> dict[str, Any]:
    """POST a signed webhook, retrying non-2xx answers with doubling delays; record it."""
    settings = state.settings
    body = serialize(payload)
    url = state.webhook_url(account)
    record = state.add_webhook(
        {
            "kind": kind,
            "account": account.external_id,
            "channel": account.channel,
            "url": url,
            "payload": payload,
            "signature": signature(account.app_secret, body),
            "attempts": [],
            "delivered": False,
            "created": time.time(),
        }
    )
    if not url:
        record["error"] = "no webhook_url for this account"
        return record
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "facebookexternalua",
        "X-Hub-Signature": "sha1="
        + hmac.new(account.app_secret.encode(), body, "sha1").hexdigest(),
        "X-Hub-Signature-256": record["signature"],
    }
    delay = settings.webhook_retry_ms / 1000
    for attempt in range(settings.webhook_retries + 1):
        if attempt:
            await asyncio.sleep(delay)
            delay *= 2
        entry: dict[str, Any] = {"at": time.time(), "status": None}
        record["attempts"].append(entry)
        try:
            async with state.posting:
                response = await state.http.post(
                    url, content=body, headers=headers, timeout=settings.webhook_timeout_s
                )
        except httpx.HTTPError as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            continue
        entry["status"] = response.status_code
        if 200 <= response.status_code < 300:
            record["delivered"] = True
            return record
    log.warning("webhook not delivered", extra={"url": url, "kind": kind})
    return record


# WhatsApp statuses -------------------------------------------------------------------------


def _conversation(state: SandboxState, message: Outbound) -> dict[str, Any]:
    key = (message.account, message.to)
    now = int(time.time())
    conv = state.conversations.get(key)
    if conv is None or int(conv["expiration_timestamp"]) <= now:
        conv = {
            "id": secrets.token_hex(16),
            "expiration_timestamp": str(now + 86400),
            "origin": {"type": message.category},
        }
        state.conversations[key] = conv
    return conv


def wa_status(
    state: SandboxState, message: Outbound, status: str, error: dict[str, Any] | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": message.id,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": message.to,
    }
    if message.opaque:
        item["biz_opaque_callback_data"] = message.opaque
    if status in ("sent", "delivered"):
        item["conversation"] = _conversation(state, message)
        free = message.category == "service"
        item["pricing"] = {
            "billable": not free,
            "pricing_model": "PMP",
            "category": message.category,
            "type": "free_customer_service" if free else "regular",
        }
    if error is not None:
        item["errors"] = [error]
    return item


async def whatsapp_statuses(
    state: SandboxState,
    account: AccountConfig,
    message: Outbound,
    failure: tuple[int, str | None] | None,
) -> None:
    """sent -> delivered -> read (or one `failed`), each after its configured delay."""
    timing = state.timing(account)
    if failure is not None:
        await asyncio.sleep(timing.sent_ms / 1000)
        error = status_error(*failure)
        await _report(state, account, message, "failed", error)
        return
    steps = (("sent", timing.sent_ms), ("delivered", timing.delivered_ms), ("read", timing.read_ms))
    for status, delay in steps:
        if delay is None:
            continue
        await asyncio.sleep(delay / 1000)
        await _report(state, account, message, status)


async def _report(
    state: SandboxState,
    account: AccountConfig,
    message: Outbound,
    status: str,
    error: dict[str, Any] | None = None,
) -> None:
    item = wa_status(state, message, status, error)
    message.statuses.append(
        {"status": status, "at": time.time(), **({"error": error} if error else {})}
    )
    await deliver(state, account, wa_envelope(account, {"statuses": [item]}), f"status:{status}")


# Messenger / Instagram receipts ------------------------------------------------------------


def _event(account: AccountConfig, user: str, **fields: Any) -> dict[str, Any]:
    return {
        "sender": {"id": user},
        "recipient": {"id": account.external_id},
        "timestamp": int(time.time() * 1000),
        **fields,
    }


async def page_receipts(state: SandboxState, account: AccountConfig, message: Outbound) -> None:
    """Messenger: delivery then read watermarks. Instagram has no delivery receipts: read only
    (messaging_seen carries the mid; the watermark is added for parsers of either form)."""
    timing = state.timing(account)
    if account.channel == "messenger" and timing.delivered_ms is not None:
        await asyncio.sleep((timing.sent_ms + timing.delivered_ms) / 1000)
        # The watermark says "everything sent up to now was delivered".
        watermark = int(time.time() * 1000)
        event = _event(account, message.to, delivery={"mids": [message.id], "watermark": watermark})
        message.statuses.append({"status": "delivered", "at": time.time()})
        await deliver(state, account, page_envelope(account, [event]), "receipt:delivery")
    if timing.read_ms is not None:
        await asyncio.sleep(timing.read_ms / 1000)
        read: dict[str, Any] = {"watermark": int(time.time() * 1000)}
        if account.channel == "instagram":
            read = {"mid": message.id, **read}
        message.statuses.append({"status": "read", "at": time.time()})
        await deliver(
            state,
            account,
            page_envelope(account, [_event(account, message.to, read=read)]),
            "receipt:read",
        )


async def page_echo(state: SandboxState, account: AccountConfig, message: Outbound) -> None:
    content = message.body.get("message")
    echo = {"mid": message.id, "is_echo": True, "app_id": 1}
    if isinstance(content, dict):
        echo.update({k: v for k, v in content.items() if k in ("text", "attachment", "metadata")})
    event = {
        "sender": {"id": account.external_id},
        "recipient": {"id": message.to},
        "timestamp": int(time.time() * 1000),
        "message": echo,
    }
    await deliver(state, account, page_envelope(account, [event]), "echo")
