"""Rules about conversations: visibility, assignment, transfers, status."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from omnistream.conversations import queries
from omnistream.conversations.visibility import Scope, state
from omnistream.db.pool import Conn
from omnistream.kit.errors import NotFound


async def get_visible(
    conn: Conn, scope: Scope, conversation_id: UUID, *, for_update: bool = False
) -> asyncpg.Record:
    """The conversation, or 404 when it does not exist or the caller may not see it."""
    row = await queries.get_visible(conn, scope, conversation_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no conversation with id {conversation_id}")
    return row


def payload(row: asyncpg.Record) -> dict[str, Any]:
    """A conversation as carried in events (the same fields as ConversationOut)."""
    return dict(row)


def audience_of(*rows: asyncpg.Record) -> list[dict[str, Any]]:
    """Audience states for an event about these conversation rows (e.g. before and after)."""
    seen: list[dict[str, Any]] = []
    for row in rows:
        entry = state(row["division_id"], row["assigned_agent_id"])
        if entry not in seen:
            seen.append(entry)
    return seen
