"""What every Graph route does first: version, token, the object named, injected faults."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from omnistream.sandbox.config import AccountConfig
from omnistream.sandbox.errors import GraphError, bad_token, invalid, no_object
from omnistream.sandbox.state import Fault, Media, SandboxState

_VERSION = re.compile(r"^v\d{1,3}\.\d{1,2}$")


def state_of(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def note(request: Request, **fields: Any) -> None:
    """Add to this request's record (see app.Recorder)."""
    record = request.scope.get("state", {}).get("record")
    if record is not None:
        record.update(fields)


def base_url(request: Request) -> str:
    public = state_of(request).settings.public_url
    return (public or str(request.base_url)).rstrip("/")


def check_version(version: str) -> None:
    if version == "_sandbox":
        raise HTTPException(404, "no such control endpoint")
    if not _VERSION.match(version):
        raise GraphError(2500, f"Unknown path components: /{version}", http_status=400)


def token_of(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return request.query_params.get("access_token", "")


@dataclass
class Target:
    """What a path's node names, once the token is known to be allowed to see it."""

    kind: str  # account | media | waba | customer
    account: AccountConfig
    media: Media | None = None
    user: str | None = None
    accounts: tuple[AccountConfig, ...] = ()


def owner_hint(state: SandboxState, node: str, token: str) -> AccountConfig | None:
    """The account a request is about, before authentication (for faults and recording)."""
    if node == "me":
        owned = state.by_token(token)
        return owned[0] if owned else None
    if account := state.account(node):
        return account
    if media := state.media.get(node):
        return state.account(media.owner)
    wabas = state.by_waba(node)
    if wabas:
        return wabas[0]
    # A customer's profile: the token's account they wrote to.
    knowing = (a for a in state.by_token(token) if (a.external_id, node) in state.customers)
    return next(knowing, None)


async def guard(
    request: Request,
    account: AccountConfig | None,
    recipient: str | None = None,
    message_type: str | None = None,
) -> list[Fault]:
    """Apply the matching faults: sleep, fail now, or hand back `failed_status` faults."""
    state = state_of(request)
    faults = state.take_faults(
        account.external_id if account else None,
        recipient,
        token_of(request),
        request.url.path,
        message_type,
    )
    if faults:
        note(request, faults=[f.id for f in faults])
    for fault in faults:
        if fault.kind == "slow" and fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
    for fault in faults:
        if fault.kind == "http_500":
            raise GraphError(
                fault.code or 2,
                fault.details,
                message="An unexpected error has occurred. Please retry your request later.",
                http_status=fault.http_status or 500,
            )
        if fault.kind == "error":
            raise GraphError(fault.code or 131000, fault.details, http_status=fault.http_status)
    return [f for f in faults if f.kind == "failed_status"]


def authorize(request: Request, node: str) -> Target:
    """Check the bearer token (190) and that it may see `node` (100, subcode 33)."""
    state = state_of(request)
    token = token_of(request)
    owned = state.by_token(token) if token else []
    if not owned:
        raise bad_token()
    if node == "me":
        pages = [a for a in owned if a.channel != "whatsapp"] or owned
        return Target("account", pages[0])
    for account in owned:
        if account.external_id == node:
            return Target("account", account)
    media = state.media.get(node)
    if media is not None:
        for account in owned:
            if account.external_id == media.owner:
                return Target("media", account, media=media)
    wabas = [a for a in owned if a.channel == "whatsapp" and a.waba == node]
    if wabas:
        return Target("waba", wabas[0], accounts=tuple(wabas))
    for account in owned:
        if (account.external_id, node) in state.customers:
            return Target("customer", account, user=node)
    raise no_object(node, request.method.lower())


async def json_body(request: Request, whatsapp: bool = True) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        raise invalid("The request body is empty; a JSON object is required.", whatsapp=whatsapp)
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid("The request body is not valid JSON.", whatsapp=whatsapp) from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.", whatsapp=whatsapp)
    return body
