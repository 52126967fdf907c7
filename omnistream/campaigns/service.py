"""The rules of campaigns: who manages which, what may be edited when, and the status
machine, each change with its event (admins and the division's supervisors) and an
activity-log entry.

draft → scheduled → running → completed, or failed; running ⇄ paused; draft, scheduled,
running and paused → cancelled. Name, template, variables, account and division may change
only in draft or scheduled. Admins manage every campaign; supervisors those of their
divisions (and must give one of them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.campaigns import content, queries
from omnistream.campaigns.schemas import EDITABLE, CampaignCreate, CampaignUpdate
from omnistream.conversations.visibility import ADMINS, supervisors_of
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.enums import Channel, Role
from omnistream.kit.errors import Conflict, NotFound, Unprocessable

TARGET = "campaign"
SCHEDULE_AHEAD_MAX = timedelta(days=366)
WAKE_CHANNEL = "omnistream_campaigns"
_EMPTY_COUNTS = dict.fromkeys(("total", *queries.COUNTED, "replied"), 0)


def scope(principal: Principal) -> tuple[str, list[UUID]]:
    return principal.role.value, sorted(principal.division_ids)


def audience_of(division_id: UUID | None) -> list[dict[str, Any]]:
    """Who hears about a campaign: admins, and its division's supervisors."""
    return [ADMINS] if division_id is None else [ADMINS, supervisors_of(division_id)]


def payload(row: asyncpg.Record, counts: dict[str, int] | None = None) -> dict[str, Any]:
    skip = ("counts", "audience_filter")
    out = {k: row[k] for k in row.keys() if k not in skip}  # noqa: SIM118 - a Record iterates values
    out["audience_columns"] = list(row["audience_columns"] or [])
    out["counts"] = {**_EMPTY_COUNTS, **(counts if counts is not None else row["counts"] or {})}
    return out


async def emit_campaign(
    conn: Conn,
    event: EventType,
    row: asyncpg.Record,
    actor: Principal | None,
    counts: dict[str, int] | None = None,
) -> None:
    await emit(
        conn,
        event,
        {"campaign": payload(row, counts)},
        actor=actor,
        audience=audience_of(row["division_id"]),
    )


async def get(conn: Conn, principal: Principal, campaign_id: UUID, lock: bool = False) -> Any:
    """The campaign if the principal manages it, else 404 (as if it did not exist)."""
    row = await queries.get(conn, campaign_id, *scope(principal), lock=lock)
    if row is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return row


async def _template(conn: Conn, template_id: UUID, account: asyncpg.Record) -> asyncpg.Record:
    template = await queries.template(conn, template_id)
    if template is None or template["integration_id"] != account["integration_id"]:
        raise Unprocessable.field(
            "template_id", "no such template on this WhatsApp number's integration"
        )
    if template["status"] != "APPROVED":
        raise Unprocessable.field(
            "template_id",
            f"template {template['name']} ({template['language']}) is {template['status']}: "
            "only an APPROVED template can be sent",
            "template_not_approved",
        )
    return template


async def _account(conn: Conn, account_id: UUID) -> asyncpg.Record:
    account = await queries.account(conn, account_id)
    if account is None:
        raise Unprocessable.field("integration_account_id", "no such integration account")
    if account["channel"] != Channel.WHATSAPP:
        raise Unprocessable.field(
            "integration_account_id", "campaigns are sent from a WhatsApp number"
        )
    return account


async def _division(conn: Conn, principal: Principal, division_id: UUID | None) -> None:
    if principal.role is Role.SUPERVISOR and (
        division_id is None or division_id not in principal.division_ids
    ):
        raise Unprocessable.field(
            "division_id", "supervisors create campaigns for one of their own divisions"
        )
    if division_id is not None and not await queries.division_exists(conn, division_id):
        raise Unprocessable.field("division_id", "no such division")


def _values(body: CampaignCreate | CampaignUpdate, base: dict[str, Any]) -> dict[str, Any]:
    values = dict(base)
    for name in body.model_fields_set:
        value = getattr(body, name)
        if name == "variables":
            value = {k: v.model_dump(exclude_none=True) for k, v in value.items()}
        elif name == "header" and value is not None:
            value = value.model_dump(exclude_none=True)
        if value is None and name in ("name", "integration_account_id", "template_id"):
            raise Unprocessable.field(name, "may not be null")
        values[name] = value
    return values


async def _checked(
    conn: Conn, principal: Principal, values: dict[str, Any], columns: list[str] | None
) -> None:
    account = await _account(conn, values["integration_account_id"])
    template = await _template(conn, values["template_id"], account)
    await _division(conn, principal, values["division_id"])
    content.check(template, values["variables"], values["header"], columns)


async def create(tx: Tx, actor: Principal, body: CampaignCreate) -> asyncpg.Record:
    conn = tx.conn
    values = _values(body, {"variables": {}, "header": None, "division_id": None})
    await _checked(conn, actor, values, None)
    campaign_id = await queries.insert(conn, values, actor.agent_id)
    row = await queries.get_any(conn, campaign_id)
    assert row is not None
    await record(conn, actor, "create_campaign", TARGET, campaign_id, name=values["name"])
    await emit_campaign(conn, EventType.CAMPAIGN_CREATED, row, actor)
    return row


def editable(row: asyncpg.Record, what: str = "edited") -> None:
    if row["status"] not in EDITABLE:
        raise Conflict(
            f"a {row['status']} campaign cannot be {what} (only a draft or scheduled one)"
        )


async def update(
    tx: Tx, actor: Principal, campaign_id: UUID, body: CampaignUpdate
) -> asyncpg.Record:
    conn = tx.conn
    row = await get(conn, actor, campaign_id, lock=True)
    editable(row)
    base = {k: row[k] for k in ("name", "integration_account_id", "template_id", "variables")}
    base |= {"header": row["header"], "division_id": row["division_id"]}
    values = _values(body, base)
    if values["integration_account_id"] is None or values["template_id"] is None:
        raise Unprocessable.field("template_id", "the template or account was deleted: choose one")
    columns = list(row["audience_columns"]) if row["audience_source"] else None
    await _checked(conn, actor, values, columns)
    await queries.update(conn, campaign_id, values)
    after = await queries.get_any(conn, campaign_id)
    assert after is not None
    changed = sorted(body.model_fields_set)
    await record(conn, actor, "update_campaign", TARGET, campaign_id, fields=changed)
    await emit_campaign(conn, EventType.CAMPAIGN_UPDATED, after, actor)
    return after


async def delete(tx: Tx, actor: Principal, campaign_id: UUID) -> None:
    conn = tx.conn
    row = await get(conn, actor, campaign_id, lock=True)
    if row["status"] in ("scheduled", "running", "paused"):
        raise Conflict(f"a {row['status']} campaign cannot be deleted: cancel it first")
    await queries.delete(conn, campaign_id)
    await record(conn, actor, "delete_campaign", TARGET, campaign_id, name=row["name"])
    await emit(
        conn,
        EventType.CAMPAIGN_DELETED,
        {"campaign_id": campaign_id},
        actor=actor,
        audience=audience_of(row["division_id"]),
    )


async def _moved(
    conn: Conn, actor: Principal | None, campaign_id: UUID, action: str, **meta: Any
) -> asyncpg.Record:
    after = await queries.get_any(conn, campaign_id)
    assert after is not None
    await record(conn, actor, action, TARGET, campaign_id, **meta)
    await emit_campaign(conn, EventType.CAMPAIGN_UPDATED, after, actor)
    await conn.execute(f"NOTIFY {WAKE_CHANNEL}")
    return after


async def schedule(
    tx: Tx, actor: Principal, campaign_id: UUID, at: datetime | None
) -> asyncpg.Record:
    conn = tx.conn
    row = await get(conn, actor, campaign_id, lock=True)
    editable(row, "scheduled")
    now = datetime.now(UTC)
    if at is not None and at.tzinfo is None:
        raise Unprocessable.field("scheduled_at", "must include a time zone (e.g. Z or +07:00)")
    if at is not None and at > now + SCHEDULE_AHEAD_MAX:
        raise Unprocessable.field("scheduled_at", "may be at most a year ahead")
    if row["integration_account_id"] is None or row["template_id"] is None:
        raise Unprocessable.field("template_id", "the template or account was deleted: choose one")
    account = await _account(conn, row["integration_account_id"])
    template = await _template(conn, row["template_id"], account)
    columns = list(row["audience_columns"]) if row["audience_source"] else None
    content.check(template, row["variables"], row["header"], columns)
    counts = await queries.count(conn, campaign_id)
    if counts["pending"] == 0:
        raise Unprocessable.field(
            "audience", "the campaign has no recipients yet: upload a CSV or choose contacts"
        )
    when = max(at or now, now)
    await queries.set_status(conn, campaign_id, "scheduled", EDITABLE, scheduled_at=when)
    return await _moved(
        conn, actor, campaign_id, "schedule_campaign", scheduled_at=when.isoformat()
    )


_MOVES: dict[str, tuple[str, tuple[str, ...]]] = {
    "pause": ("paused", ("running",)),
    "resume": ("running", ("paused",)),
    "cancel": ("cancelled", ("draft", "scheduled", "running", "paused")),
}


async def move(tx: Tx, actor: Principal, campaign_id: UUID, verb: str) -> asyncpg.Record:
    """pause, resume or cancel; 409 if the campaign's status does not allow it."""
    conn = tx.conn
    row = await get(conn, actor, campaign_id, lock=True)
    status, allowed_from = _MOVES[verb]
    if row["status"] not in allowed_from:
        raise Conflict(f"a {row['status']} campaign cannot be {_PAST[verb]}")
    await queries.set_status(conn, campaign_id, status, allowed_from)
    return await _moved(conn, actor, campaign_id, f"{verb}_campaign")


_PAST = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}


async def fail(conn: Conn, campaign_id: UUID, reason: str) -> asyncpg.Record | None:
    """The sender gave up on a running or paused campaign (an integration-level error)."""
    if not await queries.set_status(
        conn, campaign_id, "failed", ("running", "paused"), reason=reason
    ):
        return None
    return await _moved(conn, None, campaign_id, "fail_campaign", reason=reason)


async def stats(conn: Conn, row: asyncpg.Record) -> dict[str, Any]:
    counts = await queries.count(conn, row["id"])
    sent = counts["sent"] + counts["delivered"] + counts["read"]
    failures = [
        {"error_code": f["error_code"], "reason": f["reason"] or "", "count": f["count"]}
        for f in await queries.failures(conn, row["id"])
    ]
    return {
        "campaign_id": row["id"],
        "status": row["status"],
        "counts": counts,
        "reply_rate": round(counts["replied"] / sent, 4) if sent else 0.0,
        "delivery_rate": round((counts["delivered"] + counts["read"]) / sent, 4) if sent else 0.0,
        "failures": failures,
    }
