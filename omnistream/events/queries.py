"""SQL of the event outbox."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from omnistream.db.pool import Conn

OUTBOX_WAKE_CHANNEL = "omnistream_outbox"  # wakes the dispatcher after a commit


async def insert(
    conn: Conn,
    event_type: str,
    data: dict[str, Any],
    actor: dict[str, Any] | None,
    conversation_id: UUID | None,
    audience: list[dict[str, Any]],
    version: int,
) -> None:
    await conn.execute(
        "INSERT INTO event_outbox (type, data, actor, conversation_id, audience, version) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        event_type,
        data,
        actor,
        conversation_id,
        audience,
        version,
    )
    # Delivered only if the transaction commits; repeated payloads in one tx collapse to one.
    await conn.execute("SELECT pg_notify($1, '')", OUTBOX_WAKE_CHANNEL)
