"""What the snooze tests read back: the snooze events, activity entries and notifications."""

from __future__ import annotations

from typing import Any
from uuid import UUID

URL = "/api/v1/conversations"


async def events(ctx: Any, kind: str) -> list[dict[str, Any]]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT data, audience, actor FROM event_outbox WHERE type = $1 ORDER BY pos", kind
        )
    return [dict(r) for r in rows]


async def entries(ctx: Any, action: str) -> list[dict[str, Any]]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT agent_id, target_id, metadata_json FROM activity_logs WHERE action = $1 "
            "ORDER BY created_at, id",
            action,
        )
    return [dict(r) for r in rows]


async def notifications(ctx: Any, conversation_id: UUID) -> list[dict[str, Any]]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT recipient_id, kind, data FROM notifications WHERE conversation_id = $1",
            conversation_id,
        )
    return [dict(r) for r in rows]


async def status(ctx: Any, conversation_id: UUID) -> tuple[str, Any]:
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, snoozed_until FROM conversations WHERE id = $1", conversation_id
        )
    assert row is not None
    return row["status"], row["snoozed_until"]
