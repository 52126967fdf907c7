"""Rows for the search tests, written straight into the database (real rows, no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx

from omnistream.context import AppContext
from tests.conftest import Agent

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def message(
    ctx: AppContext,
    conversation_id: UUID,
    text: str | None = None,
    *,
    minutes: int = 0,
    kind: str = "text",
    caption: str | None = None,
    direction: str = "inbound",
) -> UUID:
    content: dict[str, Any] = {}
    if text is not None:
        content["text"] = text
    if caption is not None:
        content["caption"] = caption
    async with ctx.pool.acquire() as conn:
        value: UUID = await conn.fetchval(
            "INSERT INTO messages (conversation_id, channel, direction, type, content, status, "
            "created_at) SELECT id, channel, $2, $3, $4, $5, $6 FROM conversations WHERE id = $1 "
            "RETURNING id",
            conversation_id,
            direction,
            kind,
            content,
            "received" if direction == "inbound" else "sent",
            at(minutes),
        )
        # The conversation's activity follows its newest message, as inbound does.
        await conn.execute(
            "UPDATE conversations SET last_message_at = greatest(last_message_at, $2) "
            "WHERE id = $1",
            conversation_id,
            at(minutes),
        )
    return value


async def note(
    ctx: AppContext, conversation_id: UUID, body: str, *, minutes: int = 0, by: UUID | None = None
) -> UUID:
    async with ctx.pool.acquire() as conn:
        value: UUID = await conn.fetchval(
            "INSERT INTO conversation_notes (conversation_id, agent_id, body, created_at) "
            "VALUES ($1, $2, $3, $4) RETURNING id",
            conversation_id,
            by,
            body,
            at(minutes),
        )
    return value


async def search(
    client: httpx.AsyncClient, who: Agent, q: str | None, **params: Any
) -> httpx.Response:
    query = {k: str(v) for k, v in params.items() if v is not None}
    if q is not None:
        query["q"] = q
    return await client.get("/api/v1/search", params=query, headers=who.headers)


async def found(client: httpx.AsyncClient, who: Agent, q: str, **params: Any) -> list[Any]:
    """The results' items (asserting a 200)."""
    r = await search(client, who, q, **params)
    assert r.status_code == 200, r.text
    items: list[Any] = r.json()["items"]
    return items


def conversation_ids(items: list[Any]) -> list[str]:
    return [i["conversation"]["id"] for i in items]
