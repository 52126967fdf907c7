"""What the channel code needs to talk to Meta for one account: decrypted, in one object."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn
from omnistream.integrations import queries
from omnistream.integrations.credentials import DEFAULT_API_VERSION, DEFAULT_GRAPH_URL, unseal
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel


@dataclass(frozen=True)
class AccountConfig:
    account_id: UUID
    integration_id: UUID
    channel: Channel
    external_id: str  # phone_number_id / page id / IG account id
    is_active: bool
    access_token: str  # WhatsApp access token, or the page access token
    app_secret: str
    verify_token: str
    base_url: str
    api_version: str
    waba_id: str | None

    @property
    def graph_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/{self.api_version}"


def _config(box: SecretBox, row: asyncpg.Record) -> AccountConfig:
    channel = Channel(row["channel"])
    values = unseal(box, channel, row["integration_id"], row["credentials_json"])
    return AccountConfig(
        account_id=row["id"],
        integration_id=row["integration_id"],
        channel=channel,
        external_id=row["external_id"],
        is_active=row["is_active"],
        access_token=values.get("access_token") or values.get("page_access_token") or "",
        app_secret=values.get("app_secret", ""),
        verify_token=values.get("verify_token", ""),
        base_url=values.get("base_url") or DEFAULT_GRAPH_URL,
        api_version=values.get("api_version") or DEFAULT_API_VERSION,
        waba_id=values.get("waba_id"),
    )


async def by_external_id(
    conn: Conn, box: SecretBox, channels: list[Channel], external_id: str
) -> AccountConfig | None:
    row = await queries.account_by_external_id(conn, [c.value for c in channels], external_id)
    return None if row is None else _config(box, row)


async def by_id(conn: Conn, box: SecretBox, account_id: UUID) -> AccountConfig | None:
    row = await queries.account_by_id(conn, account_id)
    return None if row is None else _config(box, row)


async def app_secrets(
    conn: Conn, box: SecretBox, channels: list[Channel]
) -> list[tuple[UUID, str]]:
    """(integration id, app secret) of every active integration of these channels: a webhook's
    signature is checked against these before anything is parsed."""
    rows = await queries.active_credentials(conn, [c.value for c in channels])
    out = []
    for row in rows:
        values = unseal(box, Channel(row["channel"]), row["id"], row["credentials_json"])
        if values.get("app_secret"):
            out.append((row["id"], values["app_secret"]))
    return out


async def verify_tokens(conn: Conn, box: SecretBox, channels: list[Channel]) -> list[str]:
    rows = await queries.active_credentials(conn, [c.value for c in channels])
    tokens = []
    for row in rows:
        values = unseal(box, Channel(row["channel"]), row["id"], row["credentials_json"])
        if values.get("verify_token"):
            tokens.append(values["verify_token"])
    return tokens
