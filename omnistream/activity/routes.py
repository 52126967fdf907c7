"""GET /api/v1/activity: the audit trail, filtered, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from omnistream.activity import queries
from omnistream.activity.schemas import ActivityOut
from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Reads
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of

router = APIRouter(prefix="/api/v1/activity", tags=["activity"])


@router.get("", response_model=Page[ActivityOut], summary="Search the activity log")
async def list_activity(
    reads: Reads,
    _: Annotated[Principal, requires(Perm.ACTIVITY_READ)],
    agent_id: UUID | None = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    target_type: Annotated[str | None, Query(max_length=100)] = None,
    target_id: UUID | None = None,
    since: Annotated[AwareDatetime | None, Query(description="Inclusive, ISO 8601")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Exclusive, ISO 8601")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page[ActivityOut]:
    after = decode_cursor(cursor, datetime, UUID) if cursor else None  # (created_at, id)
    # The replica's connection when it is fit (docs/read-replica.md).
    rows = await reads.run(
        lambda conn: queries.search(
            conn,
            agent_id=agent_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            since=since,
            until=until,
            after=after,
            limit=limit + 1,
        )
    )
    kept, next_cursor = page_of(rows, limit, lambda r: (r["created_at"], r["id"]))
    items = [
        ActivityOut(
            id=r["id"],
            agent_id=r["agent_id"],
            agent_name=r["agent_name"],
            action=r["action"],
            target_type=r["target_type"],
            target_id=r["target_id"],
            target_name=r["target_name"],
            metadata=r["metadata_json"],
            names=r["names"],
            created_at=r["created_at"],
        )
        for r in kept
    ]
    return Page[ActivityOut](items=items, next_cursor=next_cursor)
