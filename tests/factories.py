"""Test data made straight in the database (real rows; no mocks), for inbox tests."""

from __future__ import annotations

import secrets
from datetime import datetime
from uuid import UUID

from omnistream.context import AppContext


async def division(ctx: AppContext, name: str | None = None) -> UUID:
    async with ctx.pool.acquire() as conn:
        value: UUID = await conn.fetchval(
            "INSERT INTO divisions (name) VALUES ($1) RETURNING id",
            name or f"Division {secrets.token_hex(3)}",
        )
    return value


async def contact(
    ctx: AppContext, name: str = "Budi Santoso", phone: str | None = None, email: str | None = None
) -> UUID:
    async with ctx.pool.acquire() as conn:
        value: UUID = await conn.fetchval(
            "INSERT INTO contacts (name, phone, email) VALUES ($1, $2, $3) RETURNING id",
            name,
            phone or "628" + "".join(secrets.choice("0123456789") for _ in range(9)),
            email,
        )
    return value


async def conversation(
    ctx: AppContext,
    *,
    contact_id: UUID | None = None,
    division_id: UUID | None = None,
    assigned_agent_id: UUID | None = None,
    channel: str = "whatsapp",
    status: str = "open",
    last_message_at: datetime | None = None,
    preview: str = "",
    unread: int = 0,
    last_inbound_at: datetime | None = None,
) -> UUID:
    contact_id = contact_id or await contact(ctx)
    async with ctx.pool.acquire() as conn:
        value: UUID = await conn.fetchval(
            """
            INSERT INTO conversations (contact_id, division_id, assigned_agent_id, channel, status,
                                       resolved_at, last_message_at, last_message_preview,
                                       unread_count, last_inbound_at)
            VALUES ($1, $2, $3, $4, $5, CASE WHEN $5 = 'resolved' THEN now() END,
                    COALESCE($6, now()), $7, $8, COALESCE($9, now()))
            RETURNING id
            """,
            contact_id,
            division_id,
            assigned_agent_id,
            channel,
            status,
            last_message_at,
            preview,
            unread,
            last_inbound_at,
        )
    return value
