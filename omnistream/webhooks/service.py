"""Rules about outgoing-webhook endpoints: checked URLs, sealed secrets and their rotation,
enabling and disabling, with events (admins only) and activity-log entries.

The secret is returned by create and rotate only; every other answer, event and log entry
carries the endpoint without it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.config import Settings
from omnistream.conversations.visibility import ADMINS
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.crypto import DecryptError, SecretBox
from omnistream.kit.errors import Conflict, NotFound, Unprocessable
from omnistream.kit.net import allowed_addresses, forbidden_address, ip_literal
from omnistream.webhooks import delivery_queries, queries
from omnistream.webhooks.schemas import WebhookCreate, WebhookOut, WebhookUpdate, WebhookWithSecret
from omnistream.webhooks.signing import new_secret, seal, unseal

TARGET = "webhook"
ROTATION_OVERLAP = timedelta(hours=24)
DISABLED_NOTE = "the endpoint was disabled before this delivery was attempted"


async def check_url(url: str, settings: Settings) -> None:
    """422 naming `url` unless it is a https:// URL (http:// with private URLs allowed)
    whose host resolves to at least one address that may be called."""
    allow_private = settings.allow_private_urls

    def refused(message: str, kind: str = "webhook_url") -> Unprocessable:
        return Unprocessable.field("url", message, kind)

    if any(c.isspace() or ord(c) < 32 for c in url):
        raise refused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise refused("must be a URL with a valid host and port") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise refused(
            "must be a https:// URL with a host"
            + ("" if allow_private else " (http:// only with OMNISTREAM_ALLOW_PRIVATE_URLS)")
        )
    if parts.username is not None or parts.password is not None:
        raise refused("must not contain a user name or password (the secret signs requests)")
    if parts.fragment:
        raise refused("must not contain a #fragment")
    if allow_private:
        return
    host = parts.hostname
    literal = ip_literal(host)
    if literal is not None:
        if forbidden_address(literal):
            raise refused(f"{literal} is a loopback, private, link-local or reserved address")
        return
    try:
        usable = await allowed_addresses(host, port or 443)
    except (OSError, UnicodeError):
        raise refused(f"the host {host} cannot be resolved", "webhook_url_unresolved") from None
    if not usable:
        raise refused(
            f"the host {host} resolves only to loopback, private, link-local or reserved addresses",
            "webhook_url_private",
        )


def view(row: asyncpg.Record, now: datetime | None = None) -> WebhookOut:
    """The API shape of a row of queries.search."""
    until = row["previous_expires_at"]
    valid = until if until is not None and until > (now or datetime.now(UTC)) else None
    names = set(WebhookOut.model_fields) - {"previous_secret_valid_until"}
    return WebhookOut(**{k: row[k] for k in names}, previous_secret_valid_until=valid)


async def get(conn: Conn, webhook_id: UUID) -> WebhookOut:
    rows = await queries.search(conn, webhook_id=webhook_id)
    if not rows:
        raise NotFound(f"no webhook with id {webhook_id}")
    return view(rows[0])


async def _locked(conn: Conn, webhook_id: UUID) -> asyncpg.Record:
    row = await queries.get(conn, webhook_id, lock=True)
    if row is None:
        raise NotFound(f"no webhook with id {webhook_id}")
    return row


async def _announce(
    tx: Tx, actor: Principal | None, kind: EventType, webhook: WebhookOut, **extra: Any
) -> None:
    data = {"webhook": webhook.model_dump(mode="json"), **extra}
    await emit(tx.conn, kind, data, actor=actor, audience=[ADMINS])


async def create(
    tx: Tx, box: SecretBox, actor: Principal, body: WebhookCreate
) -> WebhookWithSecret:
    webhook_id, secret = uuid4(), new_secret()
    await queries.insert(
        tx.conn,
        webhook_id,
        url=body.url,
        description=body.description,
        events=body.events,
        is_active=body.is_active,
        max_concurrency=body.max_concurrency,
        secret=seal(box, webhook_id, secret),
        created_by=actor.agent_id,
    )
    out = await get(tx.conn, webhook_id)
    await _announce(tx, actor, EventType.WEBHOOK_CREATED, out)
    await record(
        tx.conn, actor, "webhook_created", TARGET, webhook_id, url=body.url, events=body.events
    )
    return WebhookWithSecret(**out.model_dump(), secret=secret)


async def update(tx: Tx, actor: Principal, webhook_id: UUID, body: WebhookUpdate) -> WebhookOut:
    current = await _locked(tx.conn, webhook_id)
    given = body.model_dump(exclude_unset=True)
    for name in ("url", "description", "events", "max_concurrency", "is_active"):
        if name in given and given[name] is None:
            raise Unprocessable.field(name, "must not be null")
    changes = {k: v for k, v in given.items() if k != "is_active" and v != current[k]}
    if changes:
        await queries.update(tx.conn, webhook_id, changes)
    toggled = "is_active" in given and given["is_active"] != current["is_active"]
    if toggled and given["is_active"]:
        await queries.enable(tx.conn, webhook_id)
    elif toggled:
        await queries.update(
            tx.conn,
            webhook_id,
            {"is_active": False, "disabled_reason": None, "disabled_at": datetime.now(UTC)},
        )
        await queries.fail_pending(tx.conn, [webhook_id], DISABLED_NOTE)
    out = await get(tx.conn, webhook_id)
    fields = sorted([*changes, *(["is_active"] if toggled else [])])
    if fields:
        await _announce(tx, actor, EventType.WEBHOOK_UPDATED, out, changed=fields)
        await record(
            tx.conn, actor, "webhook_updated", TARGET, webhook_id, changed=fields, url=out.url
        )
    return out


async def rotate(
    tx: Tx, box: SecretBox, actor: Principal, webhook_id: UUID, now: datetime | None = None
) -> WebhookWithSecret:
    """A new secret; the current one stays valid (both signatures sent) for 24 hours."""
    current = await _locked(tx.conn, webhook_id)
    fresh = new_secret()
    try:
        old: str | None = unseal(box, webhook_id, current["secret"])
    except DecryptError:  # OMNISTREAM_SECRET_KEY changed: the old secret is gone anyway
        old = None
    until = (now or datetime.now(UTC)) + ROTATION_OVERLAP if old else None
    await queries.rotate(
        tx.conn,
        webhook_id,
        seal(box, webhook_id, fresh),
        seal(box, webhook_id, old, "previous") if old else None,
        until,
    )
    out = await get(tx.conn, webhook_id)
    await _announce(tx, actor, EventType.WEBHOOK_UPDATED, out, changed=["secret"])
    await record(
        tx.conn,
        actor,
        "webhook_secret_rotated",
        TARGET,
        webhook_id,
        previous_valid_until=until,
        url=out.url,
    )
    return WebhookWithSecret(**out.model_dump(), secret=fresh)


async def delete(tx: Tx, actor: Principal, webhook_id: UUID) -> None:
    current = await _locked(tx.conn, webhook_id)
    out = await get(tx.conn, webhook_id)
    await queries.delete(tx.conn, webhook_id)
    await _announce(tx, actor, EventType.WEBHOOK_DELETED, out)
    await record(tx.conn, actor, "webhook_deleted", TARGET, webhook_id, url=current["url"])


async def require_active(conn: Conn, webhook_id: UUID) -> asyncpg.Record:
    row = await queries.get(conn, webhook_id)
    if row is None:
        raise NotFound(f"no webhook with id {webhook_id}")
    if not row["is_active"]:
        raise Conflict("the webhook is disabled: enable it first (is_active: true)")
    return row


async def disable_failing(tx: Tx, now: datetime, days: float) -> list[UUID]:
    """Disable every active endpoint whose deliveries have all failed for `days`: its
    pending deliveries fail, admins get webhook.disabled, the activity log says why."""
    rows = await delivery_queries.disable_failing(tx.conn, now, days)
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    reason = f"the endpoint was disabled: every delivery failed for {days:g} days"
    await queries.fail_pending(tx.conn, ids, reason)
    for row in rows:
        out = await get(tx.conn, row["id"])
        await _announce(tx, None, EventType.WEBHOOK_DISABLED, out)
        await record(
            tx.conn,
            None,
            "webhook_auto_disabled",
            TARGET,
            row["id"],
            url=row["url"],
            failing_since=row["failing_since"].isoformat(),
            days=days,
        )
    return ids
