"""The Graph API endpoints: nodes, sends, templates (media lives in media.py)."""

from __future__ import annotations

from typing import Any

import phonenumbers
from fastapi import APIRouter, Request

from omnistream.sandbox import ids
from omnistream.sandbox.access import (
    Target,
    authorize,
    base_url,
    check_version,
    guard,
    json_body,
    note,
    owner_hint,
    state_of,
    token_of,
)
from omnistream.sandbox.config import AccountConfig
from omnistream.sandbox.errors import GraphError, invalid, no_object
from omnistream.sandbox.media import media_info
from omnistream.sandbox.page_media import PAGE_MEDIA, check_attachment, check_sender_action
from omnistream.sandbox.samples import handle
from omnistream.sandbox.state import Outbound, SandboxState
from omnistream.sandbox.templates import check_send, page
from omnistream.sandbox.validate import (
    MEDIA_TYPES,
    check_page,
    check_whatsapp,
    is_read_receipt,
    wa_id,
)
from omnistream.sandbox.webhooks import page_echo, page_receipts, whatsapp_statuses

router = APIRouter()


def _formatted(digits: str) -> str:
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return "+" + digits
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def phone_info(account: AccountConfig) -> dict[str, Any]:
    return {
        "verified_name": account.name,
        "code_verification_status": "VERIFIED",
        "display_phone_number": _formatted(account.phone_digits),
        "quality_rating": "GREEN",
        "platform_type": "CLOUD_API",
        "throughput": {"level": "STANDARD"},
        "id": account.external_id,
    }


def _node(request: Request, target: Target) -> dict[str, Any]:
    account = target.account
    if target.kind == "media" and target.media is not None:
        return media_info(request, target.media)
    if target.kind == "waba":
        return {
            "id": account.waba,
            "name": f"{account.name} WABA",
            "currency": "USD",
            "timezone_id": "1",
            "message_template_namespace": f"sandbox_{account.waba}",
        }
    if target.kind == "customer" and target.user is not None:
        return _profile(request, account, target.user)
    if account.channel == "whatsapp":
        return phone_info(account)
    info = {"name": account.name, "id": account.external_id}
    if account.channel == "instagram":
        info["username"] = account.name.lower().replace(" ", ".")
    return info


def _profile(request: Request, account: AccountConfig, user: str) -> dict[str, Any]:
    """The User Profile API's answer for a customer who wrote in (customer play)."""
    state = state_of(request)
    key = (account.external_id, user)
    name = state.customers[key]
    picture = f"{base_url(request)}/cdn/profile/{user}.png"
    if account.channel == "instagram":
        body: dict[str, Any] = {"name": name} if name else {}  # Meta may leave it out
        username = state.usernames.get(key) or handle(name, user)
        return {**body, "username": username, "profile_pic": picture, "id": user}
    first, _, last = name.partition(" ")
    return {"first_name": first, "last_name": last, "profile_pic": picture, "id": user}


def no_such_user(state: SandboxState, node: str, token: str) -> GraphError | None:
    """A page token asking about an id no customer of its pages wrote from: Meta's "cannot
    be looked up" (blocked, deleted, no consent). None when the node is something else."""
    if owner_hint(state, node, token) is not None or node in state.media:
        return None
    if not any(a.channel != "whatsapp" for a in state.by_token(token)):
        return None
    details = "No profile is available for this user (blocked, deleted or no consent)."
    return GraphError(100, details, message=f"(#100) {details}", subcode=2018218, whatsapp=False)


def _fields(body: dict[str, Any], wanted: str | None) -> dict[str, Any]:
    if not wanted:
        return body
    names = {f.strip() for f in wanted.split(",")} | {"id"}
    return {k: v for k, v in body.items() if k in names}


@router.get("/{version}/{node}")
async def get_node(version: str, node: str, request: Request) -> dict[str, Any]:
    check_version(version)
    state, token = state_of(request), token_of(request)
    hint = owner_hint(state, node, token)
    note(request, account=hint.external_id if hint else None)
    customer = hint is not None and (hint.external_id, node) in state.customers
    await guard(request, hint, node if customer else None)  # `recipient` faults: that user
    try:
        target = authorize(request, node)
    except GraphError as exc:
        raise no_such_user(state, node, token) or exc from None
    return _fields(_node(request, target), request.query_params.get("fields"))


@router.delete("/{version}/{node}")
async def delete_node(version: str, node: str, request: Request) -> dict[str, Any]:
    check_version(version)
    state = state_of(request)
    hint = owner_hint(state, node, token_of(request))
    note(request, account=hint.external_id if hint else None)
    await guard(request, hint)
    target = authorize(request, node)
    if target.kind != "media" or target.media is None:
        raise no_object(node, "delete")
    del state.media[target.media.id]
    return {"success": True}


@router.get("/{version}/{node}/phone_numbers")
async def phone_numbers(version: str, node: str, request: Request) -> dict[str, Any]:
    check_version(version)
    target = authorize(request, node)
    if target.kind != "waba":
        raise no_object(node)
    return {"data": [phone_info(a) for a in target.accounts]}


@router.get("/{version}/{node}/message_templates")
async def message_templates(version: str, node: str, request: Request) -> dict[str, Any]:
    check_version(version)
    state = state_of(request)
    hint = owner_hint(state, node, token_of(request))
    note(request, account=hint.external_id if hint else None)
    await guard(request, hint)
    target = authorize(request, node)
    if target.kind != "waba":
        raise no_object(node)
    query = {k: v for k, v in request.query_params.items() if k != "access_token"}
    url = f"{base_url(request)}/{version}/{node}/message_templates"
    return page(state.templates_of(node), query, url)


@router.post("/{version}/{node}/messages")
async def send(version: str, node: str, request: Request) -> dict[str, Any]:
    check_version(version)
    state = state_of(request)
    hint = owner_hint(state, node, token_of(request))
    whatsapp = hint is None or hint.channel == "whatsapp"
    note(request, account=hint.external_id if hint else None, whatsapp=whatsapp)
    body = await json_body(request, whatsapp)
    if whatsapp:
        return await _whatsapp(request, state, node, hint, body)
    return await _page(request, state, node, hint, body)


async def _whatsapp(
    request: Request,
    state: SandboxState,
    node: str,
    hint: AccountConfig | None,
    body: dict[str, Any],
) -> dict[str, Any]:
    if is_read_receipt(body):
        await guard(request, hint)
        account = authorize(request, node).account
        if body.get("messaging_product") != "whatsapp":
            raise invalid("The parameter messaging_product is required and must be 'whatsapp'.")
        if not ids.is_wamid(body.get("message_id")):
            raise invalid("The parameter message_id is required and must be a message id.")
        note(request, read=body["message_id"], account=account.external_id)
        return {"success": True}
    to = wa_id(body.get("to")) if isinstance(body.get("to"), str) else None
    count = state.count_send("whatsapp", hint.external_id, to, body) if hint and to else None
    message_type = body.get("type", "text")
    failed = await guard(request, hint, to, message_type if isinstance(message_type, str) else None)
    target = authorize(request, node)
    account = target.account
    if target.kind != "account" or account.channel != "whatsapp":
        raise no_object(node, "post")
    kind = check_whatsapp(body)
    to = wa_id(body["to"])
    category = "service"
    if kind == "template":
        category = check_send(state.templates_of(account.waba), body["template"]).category.lower()
    accepted_at = state.take_rate(account)
    failure: tuple[int, str | None] | None = None
    if failed:
        failure = (failed[0].code or 131026, failed[0].details)
    elif kind in MEDIA_TYPES and "id" in body[kind] and body[kind]["id"] not in state.media:
        failure = (131053, f"Media id {body[kind]['id']} was not found or has expired.")
    elif (
        account.enforce_window
        and kind != "template"
        and not state.settings.instant
        and not state.window_open(account, to, account.window_seconds)
    ):
        failure = (131047, None)
    opaque = body.get("biz_opaque_callback_data")
    message = Outbound(
        id=ids.wamid(to),
        account=account.external_id,
        channel="whatsapp",
        to=to,
        type=kind,
        body=body,
        opaque=opaque if isinstance(opaque, str) else None,
        category=category,
    )
    state.add_outbound(message)
    state.count_accepted(count, message)
    note(request, message_id=message.id, accepted_at=accepted_at)
    timing = state.timing(account)
    if not state.settings.instant and (timing.enabled or failure is not None):
        state.spawn(whatsapp_statuses(state, account, message, failure))
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": body["to"], "wa_id": to}],
        "messages": [{"id": message.id, "message_status": "accepted"}],
    }


async def _page(
    request: Request,
    state: SandboxState,
    node: str,
    hint: AccountConfig | None,
    body: dict[str, Any],
) -> dict[str, Any]:
    recipient = body.get("recipient")
    user = recipient.get("id") if isinstance(recipient, dict) else None
    user = str(user) if isinstance(user, str | int) and str(user) else None
    count = None
    if hint and user and "message" in body:
        count = state.count_send(hint.channel, hint.external_id, user, body)
    failed = await guard(request, hint, user)
    target = authorize(request, node)
    account = target.account
    if target.kind != "account" or account.channel == "whatsapp":
        raise no_object(node, "post")
    user, kind = check_page(body)
    if kind == "sender_action":
        check_sender_action(account, body)
        return {"recipient_id": user}
    if kind in PAGE_MEDIA:
        check_attachment(state, account, kind, body["message"]["attachment"]["payload"])
    if failed:
        # Messenger and Instagram have no asynchronous failure: the send is refused at once.
        raise GraphError(failed[0].code or 551, failed[0].details, subcode=1545041, whatsapp=False)
    if account.enforce_window and not state.settings.instant:
        tagged = body.get("messaging_type") == "MESSAGE_TAG" and body.get("tag") == "HUMAN_AGENT"
        allowed = account.window_seconds if not tagged else max(account.window_seconds, 7 * 86400)
        if not state.window_open(account, user, allowed):
            raise GraphError(
                10,
                "This message is sent outside of allowed window.",
                subcode=2018278,
                whatsapp=False,
            )
    accepted_at = state.take_rate(account)
    message = Outbound(
        id=ids.mid(account.channel, account.external_id),
        account=account.external_id,
        channel=account.channel,
        to=user,
        type=kind,
        body=body,
    )
    state.add_outbound(message)
    state.count_accepted(count, message)
    note(request, message_id=message.id, accepted_at=accepted_at)
    if not state.settings.instant:
        if account.echoes:
            state.spawn(page_echo(state, account, message))
        if state.timing(account).enabled:
            state.spawn(page_receipts(state, account, message))
    return {"recipient_id": user, "message_id": message.id}
