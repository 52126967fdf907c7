"""SQL of custom contact attributes: their definitions and the values on contacts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

COLUMNS = "a.id, a.key, a.label, a.type, a.options, a.created_at, a.updated_at"


async def all_definitions(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM contact_attribute_definitions a ORDER BY a.label, a.key"
    )


async def by_key(conn: Conn) -> dict[str, dict[str, Any]]:
    """The definitions by key (what attribute_values checks values against)."""
    return {r["key"]: dict(r) for r in await all_definitions(conn)}


async def get(conn: Conn, attribute_id: UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM contact_attribute_definitions a WHERE a.id = $1{lock}",
        attribute_id,
    )


async def insert(
    conn: Conn, key: str, label: str, kind: str, options: list[str]
) -> asyncpg.Record | None:
    """None when the key is taken."""
    return await conn.fetchrow(
        f"""
        WITH a AS (INSERT INTO contact_attribute_definitions (key, label, type, options)
                   VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING RETURNING *)
        SELECT {COLUMNS} FROM a
        """,
        key,
        label,
        kind,
        options,
    )


async def update(
    conn: Conn, attribute_id: UUID, label: str, kind: str, options: list[str]
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH a AS (UPDATE contact_attribute_definitions
                      SET label = $2, type = $3, options = $4, updated_at = now()
                    WHERE id = $1 RETURNING *)
        SELECT {COLUMNS} FROM a
        """,
        attribute_id,
        label,
        kind,
        options,
    )
    assert row is not None
    return row


async def holders(conn: Conn, key: str, values: list[str] | None = None) -> int:
    """How many contacts have a value for the key (one of `values` when given)."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM contacts WHERE attributes ? $1 "
        "AND ($2::text[] IS NULL OR attributes ->> $1 = ANY($2::text[]))",
        key,
        values,
    )
    return count


async def delete(conn: Conn, attribute_id: UUID, key: str) -> int:
    """Deletes the definition and its value on every contact; how many contacts had one."""
    removed: int = await conn.fetchval(
        """
        WITH d AS (DELETE FROM contact_attribute_definitions WHERE id = $1),
             k AS (UPDATE contacts SET attributes = attributes - $2, updated_at = now()
                    WHERE attributes ? $2 RETURNING 1)
        SELECT count(*) FROM k
        """,
        attribute_id,
        key,
    )
    return removed


async def attributes_of(conn: Conn, contact_ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, attributes FROM contacts WHERE id = ANY($1::uuid[])", contact_ids
    )
    return {r["id"]: r["attributes"] for r in rows}


async def set_attributes(conn: Conn, contact_id: UUID, attributes: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE contacts SET attributes = $2, updated_at = now() WHERE id = $1",
        contact_id,
        attributes,
    )
