"""The control API under /_sandbox: accounts, templates, faults, settings, customer play,
recordings, reset. It has no authentication: the sandbox is for loopback use only."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from omnistream.sandbox.access import base_url, state_of
from omnistream.sandbox.config import AccountConfig, SandboxConfig, StatusTiming, TemplateConfig
from omnistream.sandbox.customers import CustomerMessage, PlayError, build
from omnistream.sandbox.recording import select
from omnistream.sandbox.state import Fault, FaultKind
from omnistream.sandbox.templates import as_graph
from omnistream.sandbox.webhooks import deliver

router = APIRouter(prefix="/_sandbox", tags=["control"])


class FaultIn(BaseModel):
    """A fault: which requests it matches (all given matchers must match) and its effect."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind = Field(
        description="error: answer the Graph error `code` at once; failed_status: accept, then "
        "report a `failed` status webhook with `code` (WhatsApp); http_500: answer HTTP 500; "
        "slow: wait delay_ms, then answer normally"
    )
    account: str | None = Field(None, description="the account's external_id")
    recipient: str | None = Field(None, description="`to` / recipient.id of a send")
    recipient_prefix: str | None = Field(
        None, min_length=1, description="recipients whose number starts with this (e.g. 62811)"
    )
    recipients: list[str] | None = Field(
        None, max_length=1_000_000, description="any of these recipients"
    )
    fraction: float | None = Field(
        None,
        ge=0,
        le=1,
        description="this share of recipients, always the same ones (a hash of the number, "
        "salted with `seed`, default the code)",
    )
    message_type: str | None = Field(
        None, description="WhatsApp sends of this `type` only, e.g. template"
    )
    token: str | None = Field(None, description="the bearer token used")
    path_contains: str | None = None
    code: int | None = Field(None, description="Meta error code (default 131000 / 131026)")
    http_status: int | None = Field(None, ge=400, le=599)
    delay_ms: int = Field(0, ge=0, le=600_000)
    details: str | None = None
    times: int | None = Field(None, ge=1, description="strike this many requests; null: all")
    every: int | None = Field(
        None, ge=1, le=1_000_000, description="strike only the Nth, 2Nth, ... matching request"
    )
    probability: float | None = Field(
        None,
        ge=0,
        le=1,
        description="strike each matching request (of those `every` picks) with this chance",
    )
    seed: int | None = Field(
        None, description="seeds `probability` and `fraction`: the same strikes each run"
    )

    @field_validator("recipient", "recipient_prefix")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        # WhatsApp matches the wa_id (digits): "+62 811-..." means 62811...
        return _digits(value) if value is not None else None

    @field_validator("recipients")
    @classmethod
    def _numbers(cls, values: list[str] | None) -> list[str] | None:
        return [_digits(v) for v in values] if values is not None else None

    @field_validator("seed")
    @classmethod
    def _seed_needs_probability(cls, seed: int | None, info: ValidationInfo) -> int | None:
        # Declared after `probability` and `fraction`, so info.data holds them (absent when
        # invalid, and that error is already reported).
        given = [info.data.get(k) for k in ("probability", "fraction") if k in info.data]
        if seed is not None and len(given) == 2 and given == [None, None]:
            raise ValueError("seed only applies with probability or fraction")
        return seed

    @model_validator(mode="after")
    def _sensible(self) -> FaultIn:
        if self.kind == "slow" and not self.delay_ms:
            raise ValueError("a slow fault needs delay_ms > 0")
        return self


def _digits(number: str) -> str:
    """A phone number as its wa_id; other ids (PSIDs, IGSIDs) pass unchanged."""
    stripped = number.strip()
    if stripped and all(c in "+0123456789 -()." for c in stripped):
        return "".join(c for c in stripped if c.isdigit())
    return stripped


class TemplateIn(TemplateConfig):
    notify: bool = Field(
        True, description="send message_template_status_update when the status changes"
    )


class SettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_url: str | None = None
    webhook_url: str | None = None
    timing: StatusTiming | None = None
    rate_limit_per_second: int | None = Field(None, ge=1)
    instant: bool | None = None
    webhook_retries: int | None = Field(None, ge=0, le=20)
    webhook_retry_ms: int | None = Field(None, ge=0)
    webhook_timeout_s: float | None = Field(None, gt=0)


def account_out(account: AccountConfig) -> dict[str, Any]:
    out = account.model_dump()
    if account.channel == "whatsapp":
        out.update(waba_id=account.waba, display_phone_number=account.phone_digits)
    return out


def _settings_out(settings: SandboxConfig) -> dict[str, Any]:
    return settings.model_dump(exclude={"accounts", "templates"})


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    state = state_of(request)
    return {"ok": True, "accounts": len(state.accounts), "pending_webhooks": len(state.tasks)}


@router.get("/accounts")
async def list_accounts(request: Request) -> dict[str, Any]:
    return {"accounts": [account_out(a) for a in state_of(request).accounts.values()]}


@router.post("/accounts", status_code=201)
async def register_account(account: AccountConfig, request: Request) -> dict[str, Any]:
    """Register (or replace, by external_id) an account."""
    state = state_of(request)
    state.accounts[account.external_id] = account
    return account_out(account)


@router.delete("/accounts/{external_id}", status_code=204)
async def remove_account(external_id: str, request: Request) -> Response:
    if state_of(request).accounts.pop(external_id, None) is None:
        raise HTTPException(404, f"no account {external_id}")
    return Response(status_code=204)


@router.get("/templates")
async def list_templates(request: Request, waba_id: str | None = None) -> dict[str, Any]:
    state = state_of(request)
    items = state.templates_of(waba_id) if waba_id else state.templates
    return {"templates": [{**as_graph(t), "waba_id": t.waba_id} for t in items]}


@router.post("/templates", status_code=201)
async def put_template(template: TemplateIn, request: Request) -> dict[str, Any]:
    """Add or replace (by name, language, waba_id); a status change is announced."""
    state = state_of(request)
    saved, previous = state.put_template(TemplateConfig(**template.model_dump(exclude={"notify"})))
    if template.notify and previous is not None and previous != saved.status:
        for account in state.accounts.values():
            if account.channel != "whatsapp" or saved.waba_id not in (None, account.waba):
                continue
            value = {
                "event": saved.status,
                "message_template_id": int(saved.id or 0),
                "message_template_name": saved.name,
                "message_template_language": saved.language,
                "reason": "NONE",
            }
            payload = {
                "object": "whatsapp_business_account",
                "entry": [
                    {
                        "id": account.waba,
                        "time": int(time.time()),
                        "changes": [{"value": value, "field": "message_template_status_update"}],
                    }
                ],
            }
            state.spawn(deliver(state, account, payload, "template_status"))
    return {**as_graph(saved), "waba_id": saved.waba_id, "previous_status": previous}


@router.delete("/templates")
async def clear_templates(request: Request) -> dict[str, int]:
    state = state_of(request)
    count = len(state.templates)
    state.templates = []
    return {"cleared": count}


@router.post("/faults", status_code=201)
async def add_fault(fault: FaultIn, request: Request) -> dict[str, Any]:
    fields = fault.model_dump()
    if fault.recipients is not None:
        fields["recipients"] = frozenset(fault.recipients)
    added = state_of(request).add_fault(Fault(id="", **fields))
    return added.as_dict()


@router.get("/faults")
async def list_faults(request: Request) -> dict[str, Any]:
    return {"faults": [f.as_dict() for f in state_of(request).faults]}


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, int]:
    state = state_of(request)
    count = len(state.faults)
    state.faults = []
    return {"cleared": count}


@router.delete("/faults/{fault_id}", status_code=204)
async def remove_fault(fault_id: str, request: Request) -> Response:
    state = state_of(request)
    kept = [f for f in state.faults if f.id != fault_id]
    if len(kept) == len(state.faults):
        raise HTTPException(404, f"no fault {fault_id}")
    state.faults = kept
    return Response(status_code=204)


@router.get("/settings")
async def get_settings(request: Request) -> dict[str, Any]:
    return _settings_out(state_of(request).settings)


@router.patch("/settings")
async def patch_settings(patch: SettingsPatch, request: Request) -> dict[str, Any]:
    state = state_of(request)
    merged = {**state.settings.model_dump(), **patch.model_dump(exclude_unset=True)}
    state.settings = SandboxConfig.model_validate(merged)
    return _settings_out(state.settings)


@router.post("/customers/send")
async def customer_send(message: CustomerMessage, request: Request) -> dict[str, Any]:
    """Deliver the webhook Meta would send for a customer's message (see CustomerMessage)."""
    state = state_of(request)
    account = state.account(message.account)
    if account is None:
        raise HTTPException(404, f"no account {message.account}; register it first")
    try:
        payload, message_id, media = build(state, account, message, base_url(request))
    except PlayError as exc:
        raise HTTPException(422, str(exc)) from None
    kind = f"message:{message.type}"
    out: dict[str, Any] = {"message_id": message_id, "payload": payload}
    if media is not None:
        out.update(media_id=media.id, sha256=media.sha256, mime_type=media.mime_type)
    if not message.wait:
        for _ in range(message.deliveries):
            state.spawn(deliver(state, account, payload, kind))
        return out
    records = [await deliver(state, account, payload, kind) for _ in range(message.deliveries)]
    out["deliveries"] = [{k: v for k, v in r.items() if k != "payload"} for r in records]
    out["delivered"] = all(r["delivered"] for r in records)
    return out


@router.get("/requests")
async def list_requests(
    request: Request,
    since: int = Query(0, ge=0, description="first record index to return"),
    path: str | None = Query(None, description="path contains"),
    method: str | None = None,
    account: str | None = None,
    limit: int = Query(1000, ge=1, le=100_000),
) -> dict[str, Any]:
    state = state_of(request)
    found = select(state.requests, since, path, method, account, limit)
    return {"requests": found, "next_index": state.request_seq}


@router.get("/sends")
async def list_sends(
    request: Request, account: str | None = None, duplicates: bool = False
) -> dict[str, Any]:
    """Send attempts per client-side message (key: biz_opaque_callback_data, Messenger
    message.metadata, else account + recipient + a hash of the content)."""
    entries = [
        asdict(s)
        for s in state_of(request).sends.values()
        if (account is None or s.account == account) and (not duplicates or s.accepted > 1)
    ]
    return {"sends": entries, "duplicates": sum(1 for s in entries if s["accepted"] > 1)}


@router.get("/rate")
async def rate(request: Request, account: str | None = None) -> dict[str, Any]:
    """Per account and wall-clock second: requests, sends, accepted sends, 429s (every
    second since the reset, however many requests the recording still holds)."""
    state = state_of(request)
    return state.counters.histogram(state.rate_limits(), account)


@router.get("/recipients")
async def recipients(
    request: Request,
    account: str | None = None,
    to: str | None = Query(None, description="one recipient (wa_id / PSID / IGSID)"),
    min_accepted: int = Query(0, ge=0, description="list only those accepted this often"),
    limit: int = Query(1000, ge=0, le=1_000_000, description="most entries listed"),
) -> dict[str, Any]:
    """Send counts per recipient (attempts, accepted, accepted templates) and a summary of
    all that match (`duplicates`: recipients accepted more than once)."""
    return state_of(request).counters.per_recipient(account, to, min_accepted, limit)


@router.get("/messages")
async def list_messages(
    request: Request, account: str | None = None, to: str | None = None
) -> dict[str, Any]:
    """Accepted sends with the statuses reported for them so far."""
    items = [
        asdict(m)
        for m in state_of(request).outbound.values()
        if (account is None or m.account == account) and (to is None or m.to == to)
    ]
    return {"messages": items}


@router.get("/webhooks")
async def list_webhooks(
    request: Request,
    since: int = Query(0, ge=0),
    kind: str | None = Query(None, description="kind starts with, e.g. status or message"),
    account: str | None = None,
) -> dict[str, Any]:
    state = state_of(request)
    items = [
        w
        for w in state.webhooks
        if w["index"] >= since
        and (kind is None or w["kind"].startswith(kind))
        and (account is None or w["account"] == account)
    ]
    return {"webhooks": items, "next_index": state.webhook_seq}


@router.get("/idle")
async def idle(
    request: Request, within: float = Query(5.0, gt=0, le=120, alias="timeout")
) -> dict[str, Any]:
    """Wait until every scheduled webhook has been delivered (or given up)."""
    state = state_of(request)
    done = await state.idle(within)
    return {"idle": done, "pending": len(state.tasks)}


@router.post("/reset")
async def reset(request: Request) -> dict[str, bool]:
    """Back to the configuration: runtime accounts, faults, recordings and media are gone."""
    state_of(request).reset()
    return {"reset": True}
