"""Rules about integrations: sealed credentials, activation, one default account, routing.

Every change to an integration or its accounts first locks the integration's row, so
concurrent default switches and credential merges are serialised. Activity-log rows name
credential fields, never their values.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.channels.email.account import tls_problems
from omnistream.db.pool import Conn, Tx
from omnistream.integrations import queries
from omnistream.integrations.credentials import (
    FIELDS,
    missing,
    public_view,
    seal,
)
from omnistream.integrations.schemas import (
    AccountCreate,
    AccountOut,
    AccountUpdate,
    IntegrationCreate,
    IntegrationOut,
    IntegrationUpdate,
    clean_credentials,
    clean_external_id,
)
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel
from omnistream.kit.errors import TAKEN, Conflict, NotFound, Unprocessable
from omnistream.reports import facts_queries as report_facts

TARGET = "integration"
# Used only by inbound webhooks: changing them does not change what the connection test saw.
_WEBHOOK_ONLY = frozenset({"app_secret", "verify_token"})


# Reading ------------------------------------------------------------------------------------


async def get(conn: Conn, integration_id: UUID) -> asyncpg.Record:
    row = await queries.get(conn, integration_id)
    if row is None:
        raise NotFound(f"no integration with id {integration_id}")
    return row


async def views(conn: Conn, rows: list[asyncpg.Record]) -> list[IntegrationOut]:
    """The API shape of integrations, with their accounts (one query for the whole page)."""
    accounts: dict[UUID, list[AccountOut]] = {r["id"]: [] for r in rows}
    for a in await queries.accounts_of(conn, list(accounts)):
        accounts[a["integration_id"]].append(AccountOut(**dict(a)))
    out = []
    for r in rows:
        channel = Channel(r["channel"])
        stored = r["credentials_json"]
        out.append(
            IntegrationOut(
                **{k: r[k] for k in ("id", "name", "is_active", "created_at", "updated_at")},
                channel=channel,
                credentials=public_view(channel, stored),
                missing_credentials=missing(channel, stored),
                health=r["health"],
                health_error=r["health_error"],
                health_checked_at=r["health_checked_at"],
                accounts=accounts[r["id"]],
            )
        )
    return out


async def view(conn: Conn, integration_id: UUID) -> IntegrationOut:
    return (await views(conn, [await get(conn, integration_id)]))[0]


# Integrations -------------------------------------------------------------------------------


def _require_complete(channel: Channel, stored: dict[str, Any]) -> None:
    absent = missing(channel, stored)
    if absent:
        errors = [
            {"field": f"credentials.{n}", "in": "body", "message": "is required to activate"}
            for n in absent
        ]
        raise Unprocessable(
            f"an active {channel.value} integration needs: {', '.join(absent)}", errors=errors
        )


def _require_consistent(channel: Channel, stored: dict[str, Any]) -> None:
    """Rules across fields, on the merged values (a change may touch only one of them):
    email's TLS "none" only with a loopback host."""
    if channel is Channel.EMAIL and (found := tls_problems(stored)):
        errors = [{"field": f"credentials.{n}", "in": "body", "message": m} for n, m in found]
        names = ", ".join(e["field"] for e in errors)
        raise Unprocessable(f"invalid fields: {names}", errors=errors)


async def _locked(conn: Conn, integration_id: UUID) -> asyncpg.Record:
    row = await queries.get_for_update(conn, integration_id)
    if row is None:
        raise NotFound(f"no integration with id {integration_id}")
    return row


async def create(tx: Tx, box: SecretBox, actor: Principal, data: IntegrationCreate) -> UUID:
    values = clean_credentials(data.channel, data.credentials)
    integration_id = uuid4()
    stored = seal(box, data.channel, integration_id, values)
    _require_consistent(data.channel, stored)
    if data.is_active:
        _require_complete(data.channel, stored)
    await queries.insert(
        tx.conn,
        integration_id,
        channel=data.channel.value,
        name=data.name,
        is_active=data.is_active,
        credentials=stored,
    )
    await record(
        tx.conn,
        actor,
        "create_integration",
        TARGET,
        integration_id,
        channel=data.channel.value,
        name=data.name,
        is_active=data.is_active,
        credentials_set=sorted(stored),
    )
    return integration_id


async def update(
    tx: Tx, box: SecretBox, actor: Principal, integration_id: UUID, data: IntegrationUpdate
) -> None:
    current = await _locked(tx.conn, integration_id)
    channel = Channel(current["channel"])
    before: dict[str, Any] = current["credentials_json"]
    values = clean_credentials(channel, data.credentials or {})
    stored = seal(box, channel, integration_id, values, before)
    secret = FIELDS[channel].secret
    changed = sorted(
        n
        for n, v in values.items()
        if (n in secret and (v is not None or n in before))
        or (n not in secret and before.get(n) != v)
    )
    changes = {
        k: v
        for k, v in data.model_dump(include={"name", "is_active"}, exclude_none=True).items()
        if current[k] != v
    }
    if not changes and not changed:
        return
    if changed:
        _require_consistent(channel, stored)
    # Checked when it is activated or its credentials change while active (a rename alone
    # never fails on a field that a later version made required).
    is_active = current["is_active"] if data.is_active is None else data.is_active
    if is_active and ("is_active" in changes or changed):
        _require_complete(channel, stored)
    await queries.update(
        tx.conn,
        integration_id,
        name=changes.get("name"),
        is_active=changes.get("is_active"),
        credentials=stored if changed else None,
        reset_health=bool(set(changed) - _WEBHOOK_ONLY),
    )
    await record(
        tx.conn,
        actor,
        "update_integration",
        TARGET,
        integration_id,
        changes=changes,
        credentials_set=[n for n in changed if n in stored],
        credentials_cleared=[n for n in changed if n not in stored],
    )


async def delete(tx: Tx, actor: Principal, integration_id: UUID) -> None:
    current = await _locked(tx.conn, integration_id)
    accounts = await queries.accounts_of(tx.conn, [integration_id])
    for account in accounts:  # their conversations lose the account: no event says so
        await report_facts.mark_dirty(tx.conn, "integration_account_id", account["id"])
    detached = await queries.delete(tx.conn, integration_id)
    await record(
        tx.conn,
        actor,
        "delete_integration",
        TARGET,
        integration_id,
        channel=current["channel"],
        name=current["name"],
        accounts=len(accounts),
        conversations_detached=detached,
    )


# Accounts -----------------------------------------------------------------------------------


async def get_account(conn: Conn, integration_id: UUID, account_id: UUID) -> asyncpg.Record:
    row = await queries.managed_account(conn, integration_id, account_id)
    if row is None:
        raise NotFound(f"integration {integration_id} has no account with id {account_id}")
    return row


def _taken(external_id: str, integration_name: str | None = None) -> Conflict:
    where = f" of the integration {integration_name!r}" if integration_name else ""
    return Conflict.field(
        "external_id", f"{external_id!r} is already an account{where} on this channel", TAKEN
    )


async def _ensure_routable(
    conn: Conn, channel: Channel, external_id: str, except_account: UUID | None
) -> None:
    """An external id routes to one account per channel, across all integrations."""
    owner = await queries.external_id_owner(conn, channel.value, external_id, except_account)
    if owner is not None:
        raise _taken(external_id, owner["integration_name"])


async def create_account(
    tx: Tx, actor: Principal, integration_id: UUID, data: AccountCreate
) -> asyncpg.Record:
    integration = await _locked(tx.conn, integration_id)
    channel = Channel(integration["channel"])
    external_id = clean_external_id(channel, data.external_id)
    await _ensure_routable(tx.conn, channel, external_id, None)
    has_default = await queries.default_account(tx.conn, integration_id) is not None
    is_default = data.is_default or not has_default
    if is_default and has_default:
        await queries.clear_default(tx.conn, integration_id, None)
    try:
        account_id = await queries.insert_account(
            tx.conn,
            integration_id,
            external_id=external_id,
            display_name=data.display_name,
            is_default=is_default,
            send_rate_per_second=data.send_rate_per_second,
        )
    except asyncpg.UniqueViolationError:  # another integration took it concurrently
        raise _taken(external_id) from None
    await record(
        tx.conn,
        actor,
        "create_integration_account",
        TARGET,
        integration_id,
        account_id=account_id,
        external_id=external_id,
        is_default=is_default,
        send_rate_per_second=data.send_rate_per_second,
    )
    return await get_account(tx.conn, integration_id, account_id)


async def update_account(
    tx: Tx, actor: Principal, integration_id: UUID, account_id: UUID, data: AccountUpdate
) -> asyncpg.Record:
    integration = await _locked(tx.conn, integration_id)
    current = await get_account(tx.conn, integration_id, account_id)
    channel = Channel(integration["channel"])
    external_id = None
    if data.external_id is not None:
        external_id = clean_external_id(channel, data.external_id)
        await _ensure_routable(tx.conn, channel, external_id, account_id)
    if data.is_default is False and current["is_default"]:
        raise Conflict.field(
            "is_default", "an integration always has one default; make another account default"
        )
    if data.is_default and not current["is_default"]:
        await queries.clear_default(tx.conn, integration_id, account_id)
    try:
        await queries.update_account(
            tx.conn,
            account_id,
            external_id=external_id,
            display_name=data.display_name,
            is_default=data.is_default or None,
            send_rate_per_second=data.send_rate_per_second,
        )
    except asyncpg.UniqueViolationError:
        raise _taken(external_id or "") from None
    after = await get_account(tx.conn, integration_id, account_id)
    changes = {
        k: after[k]
        for k in ("external_id", "display_name", "is_default", "send_rate_per_second")
        if after[k] != current[k]
    }
    if changes:
        await record(
            tx.conn,
            actor,
            "update_integration_account",
            TARGET,
            integration_id,
            account_id=account_id,
            changes=changes,
        )
    return after


async def delete_account(tx: Tx, actor: Principal, integration_id: UUID, account_id: UUID) -> None:
    await _locked(tx.conn, integration_id)
    current = await get_account(tx.conn, integration_id, account_id)
    await report_facts.mark_dirty(tx.conn, "integration_account_id", account_id)
    await queries.delete_account(tx.conn, account_id)
    promoted = None
    if current["is_default"]:
        promoted = await queries.promote_oldest_account(tx.conn, integration_id)
    await record(
        tx.conn,
        actor,
        "delete_integration_account",
        TARGET,
        integration_id,
        account_id=account_id,
        external_id=current["external_id"],
        new_default=promoted,
    )
