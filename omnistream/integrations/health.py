"""Whether an integration can talk to Meta: the connection test and the stored health.

The admin's "test connection" probes the Graph API with the integration's token; the
outbound sender marks an integration `auth_failed` when Meta answers error 190 to a send.
Both go through `record_health`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from omnistream.db.pool import Conn
from omnistream.integrations import queries
from omnistream.kit.net import BlockedAddressError, http_client

PROBE_TIMEOUT_SECONDS = 5.0
# Meta's "the token is no good" codes: 190 invalid / expired OAuth token, 102 session
# error, 0 AuthException.
AUTH_ERROR_CODES = frozenset({0, 102, 190})
_MAX_DETAIL = 500


class Health(StrEnum):
    UNKNOWN = "unknown"  # never checked, or the credentials changed since
    OK = "ok"
    AUTH_FAILED = "auth_failed"  # HTTP 401 or Meta error 190: replace the token
    UNREACHABLE = "unreachable"  # connection error, timeout, 5xx, blocked private address
    MISCONFIGURED = "misconfigured"  # answered, but wrong id / permission / not the Graph API


@dataclass(frozen=True)
class HealthOutcome:
    health: Health
    detail: str

    @property
    def ok(self) -> bool:
        return self.health is Health.OK


async def record_health(
    conn: Conn, integration_id: UUID, outcome: HealthOutcome
) -> datetime | None:
    """Store the outcome (the error text only when not ok) with the time of the check;
    returns that time, or None when the integration no longer exists."""
    error = None if outcome.ok else outcome.detail[:_MAX_DETAIL]
    return await queries.record_health(conn, integration_id, outcome.health.value, error)


def probe_url(base_url: str, api_version: str, node: str) -> str:
    """GET {base_url}/{api_version}/{node}: a phone number id, or `me` for a page token."""
    return f"{base_url.rstrip('/')}/{api_version}/{quote(node, safe='')}"


def graph_error(body: Any) -> tuple[int | None, str]:
    """(code, message) of a Graph API error body {"error": {"code", "message"}}."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, ""
    code = error.get("code")
    message = error.get("message")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        message if isinstance(message, str) else "",
    )


def classify(status: int, body: Any) -> HealthOutcome:
    """What a Graph API answer to the probe says about the integration."""
    code, message = graph_error(body)
    said = f" (Meta error {code}: {message})" if code is not None else ""
    if 200 <= status < 300:
        if not isinstance(body, dict) or "id" not in body:
            return HealthOutcome(
                Health.MISCONFIGURED, f"HTTP {status} without a Graph API object: check base_url"
            )
        name = body.get("verified_name") or body.get("name") or ""
        number = body.get("display_phone_number") or body.get("id")
        shown = f"{name} ({number})" if name else str(number)
        return HealthOutcome(Health.OK, f"connected: {shown}")
    if status == 401 or code in AUTH_ERROR_CODES:
        return HealthOutcome(
            Health.AUTH_FAILED, f"the access token was refused (HTTP {status}){said}"
        )
    if status == 429 or status >= 500:
        return HealthOutcome(Health.UNREACHABLE, f"the Graph API answered HTTP {status}{said}")
    return HealthOutcome(Health.MISCONFIGURED, f"the Graph API answered HTTP {status}{said}")


async def probe(
    url: str,
    token: str,
    *,
    allow_private: bool,
    seconds: float | None = None,
) -> HealthOutcome:
    """One authenticated GET; never raises for network trouble. The token never appears in
    the returned detail (an echoing server cannot leak it back through us)."""
    seconds = seconds or PROBE_TIMEOUT_SECONDS
    try:
        async with http_client(allow_private, timeout=seconds) as client:
            response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
    except BlockedAddressError as exc:
        outcome = HealthOutcome(Health.UNREACHABLE, f"blocked: {exc}")
    except httpx.TimeoutException:
        outcome = HealthOutcome(Health.UNREACHABLE, f"no answer within {seconds:g} s")
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        outcome = HealthOutcome(Health.UNREACHABLE, f"cannot connect: {reason}")
    else:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        outcome = classify(response.status_code, body)
    detail = outcome.detail.replace(token, "[redacted]") if token else outcome.detail
    return HealthOutcome(outcome.health, detail[:_MAX_DETAIL])
