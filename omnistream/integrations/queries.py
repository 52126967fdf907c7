"""SQL of integrations and their accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

COLUMNS = (
    "i.id, i.channel, i.name, i.credentials_json, i.is_active, i.health, i.health_error, "
    "i.health_checked_at, i.created_at, i.updated_at"
)
ACCOUNT_COLUMNS = (
    "a.id, a.integration_id, a.external_id, a.display_name, a.is_default, a.created_at, "
    "a.send_rate_per_second"  # the outbound sender's per-account limit (0002)
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


# Management (the admin API) ----------------------------------------------------------------


async def insert(
    conn: Conn,
    integration_id: UUID,
    *,
    channel: str,
    name: str,
    is_active: bool,
    credentials: dict[str, Any],
) -> None:
    """The id is chosen by the caller: secrets are sealed against it before they are stored."""
    await conn.execute(
        "INSERT INTO integrations (id, channel, name, is_active, credentials_json) "
        "VALUES ($1, $2, $3, $4, $5)",
        integration_id,
        channel,
        name,
        is_active,
        credentials,
    )


async def get_for_update(conn: Conn, integration_id: UUID) -> asyncpg.Record | None:
    """The integration, locked: every change to it or its accounts takes this lock first, so
    concurrent default switches and credential merges are serialised."""
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM integrations i WHERE i.id = $1 FOR UPDATE", integration_id
    )


async def update(
    conn: Conn,
    integration_id: UUID,
    *,
    name: str | None,
    is_active: bool | None,
    credentials: dict[str, Any] | None,
    reset_health: bool,
) -> None:
    await conn.execute(
        """
        UPDATE integrations
           SET name = COALESCE($2, name),
               is_active = COALESCE($3, is_active),
               credentials_json = COALESCE($4::jsonb, credentials_json),
               health = CASE WHEN $5 THEN 'unknown' ELSE health END,
               health_error = CASE WHEN $5 THEN NULL ELSE health_error END,
               health_checked_at = CASE WHEN $5 THEN NULL ELSE health_checked_at END,
               updated_at = now()
         WHERE id = $1
        """,
        integration_id,
        name,
        is_active,
        credentials,
        reset_health,
    )


async def delete(conn: Conn, integration_id: UUID) -> int:
    """Deletes the integration and its accounts; returns how many conversations lost their
    account (they keep their history, with integration_account_id NULL)."""
    detached: int = await conn.fetchval(
        "SELECT count(*) FROM conversations WHERE integration_account_id IN "
        "(SELECT id FROM integration_accounts WHERE integration_id = $1)",
        integration_id,
    )
    await conn.execute("DELETE FROM integrations WHERE id = $1", integration_id)
    return detached


async def search(
    conn: Conn,
    *,
    channel: str | None,
    is_active: bool | None,
    after: tuple[str, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM integrations i
         WHERE ($1::text IS NULL OR i.channel = $1)
           AND ($2::boolean IS NULL OR i.is_active = $2)
           AND ($3::text IS NULL OR (i.name, i.id) > ($3, $4::uuid))
         ORDER BY i.name, i.id
         LIMIT $5
        """,
        channel,
        is_active,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def record_health(
    conn: Conn, integration_id: UUID, health: str, error: str | None
) -> datetime | None:
    """set_health that returns the check's time (None when the integration is gone)."""
    value: datetime | None = await conn.fetchval(
        "UPDATE integrations SET health = $2, health_error = $3, health_checked_at = now() "
        "WHERE id = $1 RETURNING health_checked_at",
        integration_id,
        health,
        error,
    )
    return value


async def accounts_of(conn: Conn, integration_ids: list[UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {ACCOUNT_COLUMNS} FROM integration_accounts a "
        "WHERE a.integration_id = ANY($1::uuid[]) ORDER BY a.created_at, a.id",
        integration_ids,
    )


async def managed_account(
    conn: Conn, integration_id: UUID, account_id: UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {ACCOUNT_COLUMNS} FROM integration_accounts a "
        "WHERE a.id = $2 AND a.integration_id = $1",
        integration_id,
        account_id,
    )


async def default_account(conn: Conn, integration_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {ACCOUNT_COLUMNS} FROM integration_accounts a "
        "WHERE a.integration_id = $1 AND a.is_default",
        integration_id,
    )


async def external_id_owner(
    conn: Conn, channel: str, external_id: str, except_account: UUID | None
) -> asyncpg.Record | None:
    """The account of this channel that already routes `external_id`, with its integration."""
    return await conn.fetchrow(
        "SELECT a.id, a.integration_id, i.name AS integration_name "
        "FROM integration_accounts a JOIN integrations i ON i.id = a.integration_id "
        "WHERE a.channel = $1 AND a.external_id = $2 "
        "AND ($3::uuid IS NULL OR a.id <> $3)",
        channel,
        external_id,
        except_account,
    )


async def insert_account(
    conn: Conn,
    integration_id: UUID,
    *,
    external_id: str,
    display_name: str,
    is_default: bool,
    send_rate_per_second: int,
) -> UUID:
    value: UUID = await conn.fetchval(
        "INSERT INTO integration_accounts "
        "(integration_id, external_id, display_name, is_default, send_rate_per_second) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
        integration_id,
        external_id,
        display_name,
        is_default,
        send_rate_per_second,
    )
    return value


async def clear_default(conn: Conn, integration_id: UUID, except_account: UUID | None) -> None:
    await conn.execute(
        "UPDATE integration_accounts SET is_default = false "
        "WHERE integration_id = $1 AND is_default AND ($2::uuid IS NULL OR id <> $2)",
        integration_id,
        except_account,
    )


async def update_account(
    conn: Conn,
    account_id: UUID,
    *,
    external_id: str | None,
    display_name: str | None,
    is_default: bool | None,
    send_rate_per_second: int | None,
) -> None:
    await conn.execute(
        """
        UPDATE integration_accounts
           SET external_id = COALESCE($2, external_id),
               display_name = COALESCE($3, display_name),
               is_default = COALESCE($4, is_default),
               send_rate_per_second = COALESCE($5, send_rate_per_second)
         WHERE id = $1
        """,
        account_id,
        external_id,
        display_name,
        is_default,
        send_rate_per_second,
    )


async def delete_account(conn: Conn, account_id: UUID) -> None:
    await conn.execute("DELETE FROM integration_accounts WHERE id = $1", account_id)


async def promote_oldest_account(conn: Conn, integration_id: UUID) -> UUID | None:
    """Makes the oldest account the default (after the default was deleted)."""
    value: UUID | None = await conn.fetchval(
        """
        UPDATE integration_accounts SET is_default = true
         WHERE id = (SELECT id FROM integration_accounts WHERE integration_id = $1
                      ORDER BY created_at, id LIMIT 1)
        RETURNING id
        """,
        integration_id,
    )
    return value


async def count_integrations(conn: Conn, channel: str | None = None) -> int:
    """All integrations, or those of one channel."""
    value: int = await conn.fetchval(
        "SELECT count(*) FROM integrations WHERE $1::text IS NULL OR channel = $1", channel
    )
    return value
