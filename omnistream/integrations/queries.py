"""SQL of integrations and their accounts."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

COLUMNS = (
    "i.id, i.channel, i.name, i.credentials_json, i.is_active, i.health, i.health_error, "
    "i.health_checked_at, i.created_at, i.updated_at"
)
ACCOUNT_COLUMNS = (
    "a.id, a.integration_id, a.external_id, a.display_name, a.is_default, a.created_at"
)


async def get(conn: Conn, integration_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM integrations i WHERE i.id = $1", integration_id
    )


async def account_by_external_id(
    conn: Conn, channels: list[str], external_id: str
) -> asyncpg.Record | None:
    """Routing: the account a webhook names (phone_number_id / page id / IG id), with its
    integration's columns prefixed `integration_`."""
    return await conn.fetchrow(
        f"""
        SELECT {ACCOUNT_COLUMNS}, i.channel, i.credentials_json, i.is_active
          FROM integration_accounts a JOIN integrations i ON i.id = a.integration_id
         WHERE a.external_id = $2 AND i.channel = ANY($1::text[])
         ORDER BY i.is_active DESC, a.created_at LIMIT 1
        """,
        channels,
        external_id,
    )


async def account_by_id(conn: Conn, account_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        SELECT {ACCOUNT_COLUMNS}, i.channel, i.credentials_json, i.is_active
          FROM integration_accounts a JOIN integrations i ON i.id = a.integration_id
         WHERE a.id = $1
        """,
        account_id,
    )


async def active_credentials(conn: Conn, channels: list[str]) -> list[asyncpg.Record]:
    """Every active integration of these channels with its stored credentials."""
    return await conn.fetch(
        "SELECT id, channel, credentials_json FROM integrations "
        "WHERE is_active AND channel = ANY($1::text[])",
        channels,
    )


async def set_health(conn: Conn, integration_id: UUID, health: str, error: str | None) -> None:
    await conn.execute(
        "UPDATE integrations SET health = $2, health_error = $3, health_checked_at = now() "
        "WHERE id = $1",
        integration_id,
        health,
        error,
    )
