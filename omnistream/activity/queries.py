"""SQL of the activity log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

COLUMNS = "id, agent_id, action, target_type, target_id, metadata_json, created_at"


async def insert(
    conn: Conn,
    agent_id: UUID | None,
    action: str,
    target_type: str | None,
    target_id: UUID | None,
    metadata: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO activity_logs (agent_id, action, target_type, target_id, metadata_json) "
        "VALUES ($1, $2, $3, $4, $5)",
        agent_id,
        action,
        target_type,
        target_id,
        metadata,
    )


async def search(
    conn: Conn,
    *,
    agent_id: UUID | None,
    action: str | None,
    target_type: str | None,
    target_id: UUID | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM activity_logs
         WHERE ($1::uuid IS NULL OR agent_id = $1)
           AND ($2::text IS NULL OR action = $2)
           AND ($3::text IS NULL OR target_type = $3)
           AND ($4::uuid IS NULL OR target_id = $4)
           AND ($5::timestamptz IS NULL OR created_at >= $5)
           AND ($6::timestamptz IS NULL OR created_at < $6)
           AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8::uuid))
         ORDER BY created_at DESC, id DESC
         LIMIT $9
        """,
        agent_id,
        action,
        target_type,
        target_id,
        since,
        until,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
