"""The connection test: what it calls for each channel (Graph API, or a mailbox's IMAP and
SMTP servers), running it with no transaction open, and recording the outcome as the
integration's health."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple
from uuid import UUID

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.channels.email.account import (
    EmailAccountSettings,
    EmailSettingsError,
    account_settings,
    check_account,
)
from omnistream.db.pool import Conn, Tx
from omnistream.integrations import queries
from omnistream.integrations.credentials import DEFAULT_API_VERSION, DEFAULT_GRAPH_URL, unseal
from omnistream.integrations.health import HealthOutcome, probe, probe_url, record_health
from omnistream.integrations.schemas import ConnectionTest
from omnistream.integrations.service import TARGET, get
from omnistream.kit.crypto import DecryptError, SecretBox
from omnistream.kit.enums import Channel
from omnistream.kit.errors import NOT_SET, Conflict, NotFound


class GraphProbe(NamedTuple):
    url: str
    token: str


ProbeTarget = GraphProbe | EmailAccountSettings


async def probe_target(conn: Conn, box: SecretBox, integration_id: UUID) -> ProbeTarget:
    """What the connection test calls: for WhatsApp the default account's phone_number_id,
    for Messenger and Instagram the page token's `me` (URL and token); for email the
    default account's mailbox (its IMAP and SMTP settings)."""
    row = await get(conn, integration_id)
    channel = Channel(row["channel"])
    try:
        values = unseal(box, channel, integration_id, row["credentials_json"])
    except DecryptError as exc:
        raise Conflict(
            f"the stored credentials cannot be decrypted ({exc}); enter them again"
        ) from None
    if channel is Channel.EMAIL:
        return await _mailbox_target(conn, integration_id, values)
    token_field = "access_token" if channel is Channel.WHATSAPP else "page_access_token"
    token = values.get(token_field)
    if not token:
        raise Conflict.field(f"credentials.{token_field}", "is not set", NOT_SET)
    node = "me"
    if channel is Channel.WHATSAPP:
        account = await queries.default_account(conn, integration_id)
        if account is None:
            raise Conflict("add an account (the phone_number_id) before testing the connection")
        node = account["external_id"]
    url = probe_url(
        values.get("base_url") or DEFAULT_GRAPH_URL,
        values.get("api_version") or DEFAULT_API_VERSION,
        node,
    )
    return GraphProbe(url, token)


async def _mailbox_target(
    conn: Conn, integration_id: UUID, values: dict[str, Any]
) -> EmailAccountSettings:
    account = await queries.default_account(conn, integration_id)
    if account is None:
        raise Conflict("add an account (the mailbox address) before testing the connection")
    try:
        return account_settings(values, account["external_id"])
    except EmailSettingsError as exc:
        code = NOT_SET if exc.reason == "is not set" else None
        raise Conflict.field(exc.field, exc.reason, code) from None


async def run_probe(target: ProbeTarget, *, allow_private: bool) -> HealthOutcome:
    """The connection test itself (no transaction may be open: it talks to the network).
    Without `allow_private` (OMNISTREAM_ALLOW_PRIVATE_URLS) neither the Graph API nor a
    mail server may be on a private or loopback address: an email test then names the
    refused side, e.g. "IMAP connect failed: mail.example resolves to 10.0.0.5, ..."."""
    if isinstance(target, EmailAccountSettings):
        imap = replace(target.imap, allow_private=allow_private)
        smtp = replace(target.smtp, allow_private=allow_private)
        return await check_account(target._replace(imap=imap, smtp=smtp))
    return await probe(target.url, target.token, allow_private=allow_private)


async def record_test(
    tx: Tx, actor: Principal, integration_id: UUID, outcome: HealthOutcome
) -> ConnectionTest:
    checked_at = await record_health(tx.conn, integration_id, outcome)
    if checked_at is None:  # deleted while the probe ran
        raise NotFound(f"no integration with id {integration_id}")
    await record(
        tx.conn,
        actor,
        "test_integration",
        TARGET,
        integration_id,
        ok=outcome.ok,
        health=outcome.health.value,
    )
    return ConnectionTest(
        ok=outcome.ok, health=outcome.health, detail=outcome.detail, checked_at=checked_at
    )
