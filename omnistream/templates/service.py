"""Rules about WhatsApp templates: applying a sync, live status updates, the API views, and
the content of a template send. Takes a connection; never commits.

A sync is fetched with no transaction open (templates/graph.py) and applied here in one
transaction, serialised per integration, so an admin's sync and the worker's never
interleave. Templates gone at Meta are marked (removed_at_meta), never deleted: messages and
campaigns keep referring to them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.inbound.model import TemplateStatusUpdate
from omnistream.integrations import queries as integration_queries
from omnistream.integrations.credentials import DEFAULT_API_VERSION, DEFAULT_GRAPH_URL, unseal
from omnistream.kit.crypto import DecryptError, SecretBox
from omnistream.kit.enums import Channel
from omnistream.kit.errors import NOT_SET, AppError, Conflict, NotFound, Unprocessable
from omnistream.templates import queries
from omnistream.templates.components import (
    GONE,
    HEADER_FORMATS,
    STATUS_ALIASES,
    STATUSES,
    TemplateRow,
    language_key,
    row_of,
    shown,
    spec_of,
)
from omnistream.templates.graph import SyncError, SyncTarget
from omnistream.templates.schemas import (
    BodyParameter,
    ButtonParameter,
    HeaderParameter,
    ParameterSpec,
    SyncOut,
    TemplateOut,
    TemplateSend,
    TemplateSummary,
)
from omnistream.templates.sending import content_of

TARGET = "integration"
SUMMARY_FIELDS = tuple(TemplateSummary.model_fields)
# What a sync compares to tell an updated template from an unchanged one.
_COMPARED = (
    "external_id",
    "category",
    "status",
    "status_reason",
    "parameter_format",
    "header_type",
    "header_media_url",
    "body_text",
    "footer_text",
)


class GraphCallFailed(AppError):
    """A Graph API call made for the request failed; `detail` says why, in Meta's words."""

    status, slug, title = 502, "graph-error", "The Graph API call failed"


# Views ----------------------------------------------------------------------------------------


def summary(row: asyncpg.Record) -> dict[str, Any]:
    return {k: row[k] for k in SUMMARY_FIELDS}


def not_sendable(row: asyncpg.Record, unsupported: str | None) -> str | None:
    if row["removed_at_meta"] is not None:
        return "it no longer exists at Meta"
    if row["status"] != "APPROVED":
        return f"it is {row['status']}: only APPROVED templates can be sent"
    return f"OmniStream cannot send it: {unsupported}" if unsupported else None


def detail(row: asyncpg.Record) -> TemplateOut:
    """The template with the parameters a send must give (positional or named, header media
    type, buttons by index)."""
    spec = spec_of(row["components_json"], row["parameter_format"])
    header = None
    if spec.header_type in HEADER_FORMATS:
        header = HeaderParameter(
            type=spec.header_type.lower(),
            required=spec.header_needs,
            name=spec.header_params[0] if spec.header_params else None,
            media_example_url=row["header_media_url"],
        )
    examples = spec.body_examples
    body = [
        BodyParameter(
            name=n, placeholder=shown(n), example=examples[i] if i < len(examples) else None
        )
        for i, n in enumerate(spec.body_params)
    ]
    buttons = [
        ButtonParameter(
            index=b.index,
            type=b.type,
            text=b.text,
            sub_type=b.sub_type,
            parameter=b.parameter,
            takes=b.takes,
            url=b.url,
        )
        for b in spec.buttons
    ]
    why = not_sendable(row, spec.unsupported)
    parameters = ParameterSpec(
        format="named" if spec.named else "positional",
        header=header,
        body=body,
        buttons=buttons,
        sendable=why is None,
        not_sendable_because=why,
    )
    return TemplateOut(
        **summary(row),
        header_media_url=row["header_media_url"],
        components=list(row["components_json"]),
        parameters=parameters,
    )


async def get(conn: Conn, template_id: UUID) -> asyncpg.Record:
    row = await queries.get(conn, template_id)
    if row is None:
        raise NotFound(f"no template with id {template_id}")
    return row


# Syncing --------------------------------------------------------------------------------------


def target_of(box: SecretBox, row: asyncpg.Record) -> SyncTarget:
    """The decrypted sync target of an integration row, or 409 saying what is missing."""
    if row["channel"] != Channel.WHATSAPP:
        raise Conflict(f"templates exist only for WhatsApp integrations, not {row['channel']}")
    if not row["is_active"]:
        raise Conflict("the integration is turned off: turn it on to sync its templates")
    try:
        values = unseal(box, Channel.WHATSAPP, row["id"], row["credentials_json"])
    except DecryptError as exc:
        raise Conflict(
            f"the stored credentials cannot be decrypted ({exc}); enter them again"
        ) from None
    if not values.get("waba_id"):
        raise Conflict.field(
            "credentials.waba_id", "is not set: templates belong to the WABA", NOT_SET
        )
    token = values.get("access_token") or ""
    if not token or any(c in token for c in "\r\n"):
        raise Conflict.field("credentials.access_token", "is not set", NOT_SET)
    base = (values.get("base_url") or DEFAULT_GRAPH_URL).rstrip("/")
    return SyncTarget(
        integration_id=row["id"],
        name=row["name"],
        waba_id=str(values["waba_id"]),
        token=token,
        graph_url=f"{base}/{values.get('api_version') or DEFAULT_API_VERSION}",
    )


async def target(conn: Conn, box: SecretBox, integration_id: UUID) -> SyncTarget:
    row = await integration_queries.get(conn, integration_id)
    if row is None:
        raise NotFound(f"no integration with id {integration_id}")
    return target_of(box, row)


def _differs(old: asyncpg.Record, new: TemplateRow) -> bool:
    if old["removed_at_meta"] is not None or old["components_json"] != new.components:
        return True
    return any(old[name] != getattr(new, name) for name in _COMPARED)


async def apply_sync(
    tx: Tx,
    target: SyncTarget,
    listed: list[dict[str, Any]],
    *,
    actor: Principal | None,
    fetched_at: datetime,
) -> SyncOut:
    """Upsert what Meta listed by (name, language), mark the rest removed; events for each
    changed template and for the sync; an activity entry when an admin asked for it, or
    (agent NULL, trigger "schedule") when the worker's sync changed something."""
    conn, integration_id = tx.conn, target.integration_id
    if not await queries.lock_integration(conn, integration_id):
        raise NotFound(f"no integration with id {integration_id}")  # deleted while fetching
    fresh: dict[tuple[str, str], TemplateRow] = {}
    for raw in listed:
        if (row := row_of(raw)) is not None:
            fresh[row.key] = row  # Meta lists a key once; should it not, the last one wins
    existing = {
        (r["name"], r["language"]): r for r in await queries.of_integration(conn, integration_id)
    }
    changed: list[TemplateRow] = []
    for key, listed_row in fresh.items():
        row, old = listed_row, existing.get(key)
        if old is not None and old["status_updated_at"] and old["status_updated_at"] > fetched_at:
            # A status webhook arrived after this listing was read: it is newer.
            row = replace(row, status=old["status"], status_reason=old["status_reason"])
        elif old is not None and old["status"] == row.status and row.status_reason is None:
            row = replace(row, status_reason=old["status_reason"])  # a webhook said more
        if old is None or _differs(old, row):
            changed.append(row)
    written = await queries.upsert(conn, integration_id, changed, fetched_at)
    gone = [r["id"] for k, r in existing.items() if k not in fresh and r["removed_at_meta"] is None]
    removed = await queries.mark_removed(conn, gone)
    await queries.touch(conn, integration_id)
    added = sum(1 for row in changed if row.key not in existing)
    counts = (added, len(changed) - added, len(removed))
    synced_at = await queries.record_sync(conn, integration_id, None, counts)
    assert synced_at is not None  # the integration is locked
    for stored in [*written, *removed]:
        before = existing.get((stored["name"], stored["language"]))
        if before is not None:  # new ones are told by template.synced
            await _emit_updated(conn, stored, before["status"], actor)
    result = SyncOut(
        integration_id=integration_id,
        added=counts[0],
        updated=counts[1],
        removed=counts[2],
        unchanged=len(fresh) - len(changed),
        total=len(fresh),
        synced_at=synced_at,
    )
    if actor is not None or any(counts):
        data = {**result.model_dump(), "trigger": "admin" if actor else "schedule"}
        await emit(conn, EventType.TEMPLATE_SYNCED, data, actor=actor)
    if actor is not None or any(counts):  # a scheduled sync that changed nothing: no entry
        trigger = {} if actor is not None else {"trigger": "schedule"}
        await record(
            conn,
            actor,
            "sync_templates",
            TARGET,
            integration_id,
            ok=True,
            **_counts(result),
            **trigger,
        )
    return result


def _counts(result: SyncOut) -> dict[str, int]:
    return {"added": result.added, "updated": result.updated, "removed": result.removed}


async def record_failure(
    tx: Tx, target: SyncTarget, exc: SyncError, *, actor: Principal | None
) -> None:
    """A failed sync: stored for the next attempt and the admin; an admin's is logged."""
    await queries.record_sync(tx.conn, target.integration_id, f"{exc.code}: {exc.reason}")
    if actor is not None:
        await record(
            tx.conn,
            actor,
            "sync_templates",
            TARGET,
            target.integration_id,
            ok=False,
            error_code=exc.code,
            error=exc.reason,
        )


def failed(exc: SyncError) -> GraphCallFailed:
    return GraphCallFailed(
        f"the templates could not be read from Meta: {exc.reason}",
        extra={"graph_error_code": exc.code, "integration_auth_failed": exc.auth},
    )


async def _emit_updated(
    conn: Conn, row: asyncpg.Record, previous_status: str | None, actor: Principal | None
) -> None:
    data = {"template": summary(row), "previous_status": previous_status}
    await emit(conn, EventType.TEMPLATE_UPDATED, data, actor=actor)


# Status webhooks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusOutcome:
    routed: bool  # an active integration has this WABA
    note: str | None = None  # what was skipped, and why


async def apply_status_update(conn: Conn, item: TemplateStatusUpdate) -> StatusOutcome:
    """A `message_template_status_update`: the status (or Meta's note) moves at once. A
    redelivered older webhook (entry.time before the status we hold) changes nothing, as
    does the same webhook twice."""
    integrations = await queries.integrations_of_waba(conn, item.waba_id)
    label = f"template {item.name or item.template_id} ({item.language or '?'})"
    if not integrations:
        return StatusOutcome(False, f"no active WhatsApp integration has WABA {item.waba_id}")
    event = item.event.strip().upper()
    removed = event in GONE
    status = event if event in STATUSES else STATUS_ALIASES.get(event)
    language = language_key(item.language) if item.language else None
    rows = await queries.matching(conn, integrations, item.template_id, item.name, language)
    if not rows:
        return StatusOutcome(True, f"{label} is not synced yet: the next sync adds it")
    stale = 0
    for row in rows:
        held_since = row["status_updated_at"]
        if item.occurred_at and held_since and item.occurred_at < held_since.replace(microsecond=0):
            stale += 1
            continue
        reason = item.reason
        if status is None and not removed:  # FLAGGED, LOCKED, ...: a note, same status
            reason = f"{event}: {reason}" if reason else event
        new_status = status or row["status"]
        same = new_status == row["status"] and reason == row["status_reason"]
        if same and (not removed or row["removed_at_meta"] is not None):
            continue
        updated = await queries.set_status(
            conn, row["id"], new_status, reason, removed, item.occurred_at
        )
        await _emit_updated(conn, updated, row["status"], None)
        await record(  # Meta changed it: a system entry (no agent)
            conn,
            None,
            "template_status_changed",
            "template",
            row["id"],
            integration_id=row["integration_id"],
            name=row["name"],
            language=row["language"],
            event=event,
            previous_status=row["status"],
            status=new_status,
            reason=reason,
            removed=removed,
        )
    if stale:
        return StatusOutcome(True, f"{event} of {label} is older than its status: ignored")
    return StatusOutcome(True)


# Sending --------------------------------------------------------------------------------------


async def outbound_content(
    conn: Conn, conversation: asyncpg.Record, send: TemplateSend | None
) -> dict[str, Any]:
    """The stored content of a template reply in this conversation, or 422: the template
    must be an APPROVED one of the conversation's integration, and the parameters must fit
    its components."""
    if send is None:
        raise Unprocessable.field("template", "is required for a template message")
    by_id = send.template_id is not None
    if by_id and (send.name is not None or send.language is not None):
        raise Unprocessable.field("template.name", "give template_id or name + language, not both")
    if not by_id and (send.name is None or send.language is None):
        missing = "template.name" if send.name is None else "template.language"
        raise Unprocessable.field(missing, "give template_id, or name and language")
    account_id = conversation["integration_account_id"]
    if account_id is None:
        raise Unprocessable.field(
            "template", "the conversation has no WhatsApp account to send from"
        )
    language = language_key(send.language) if send.language else None
    row = await queries.for_send(conn, account_id, send.template_id, send.name, language)
    field = "template.template_id" if by_id else "template.name"
    if row is None:
        raise Unprocessable.field(
            field, "no such template in this conversation's WhatsApp integration (sync it first?)"
        )
    why = not_sendable(row, None)
    if why is not None:
        raise Unprocessable.field(field, f"{row['name']} ({row['language']}) cannot be sent: {why}")
    return content_of(row, send.parameters)
