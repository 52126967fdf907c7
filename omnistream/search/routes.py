"""/api/v1/search: messages, notes and contacts of the conversations the caller may see."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx, Reads
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn
from omnistream.kit.enums import Channel, ConversationStatus
from omnistream.kit.errors import Unprocessable
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from omnistream.search import queries, service
from omnistream.search.schemas import SearchPage

router = APIRouter(tags=["search"])
Reader = Annotated[Principal, requires(Perm.CONVERSATIONS_READ)]


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise Unprocessable.field(name, "must carry a time zone (e.g. Z or +07:00)")
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise Unprocessable.field(name, "is out of range") from None


def _filters(
    channel: Channel | None = None,
    status: ConversationStatus | None = None,
    division_id: UUID | None = None,
    agent_id: Annotated[UUID | None, Query(description="The assignee.")] = None,
    contact_id: UUID | None = None,
    since: Annotated[
        datetime | None,
        Query(alias="from", description="Hits written at or after (ISO 8601 with a zone)."),
    ] = None,
    until: Annotated[
        datetime | None,
        Query(alias="to", description="Hits written before (ISO 8601 with a zone)."),
    ] = None,
) -> queries.SearchFilter:
    return queries.SearchFilter(
        channel=channel.value if channel else None,
        status=status.value if status else None,
        division_id=division_id,
        agent_id=agent_id,
        contact_id=contact_id,
        since=_aware("from", since),
        until=_aware("to", until),
    )


@router.get(
    "/api/v1/search",
    response_model=SearchPage,
    summary="Search messages, notes and contacts; one result per conversation, newest first",
    description="Full text over message texts and captions, internal notes and the contact's "
    "name, email and phone, in the conversations the caller may see (docs/search.md). Every "
    "word must match within one message, note or contact: messages and notes by word "
    "beginning (`refu` finds *refund*), contacts anywhere (`3456` and `0812` find "
    "+62 812…3456). Case and accents are ignored. Results are conversations, ordered like "
    "the inbox by last activity, newest first, each with its best hit.",
)
async def search(
    ctx: Ctx,
    reads: Reads,
    principal: Reader,
    q: Annotated[
        str, Query(description=f"What to find: 1-{service.MAX_QUERY} characters after trimming.")
    ],
    filters: Annotated[queries.SearchFilter, Depends(_filters)],
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> SearchPage:
    text = q.strip()
    if not 1 <= len(text) <= service.MAX_QUERY:
        raise Unprocessable.field("q", f"must be 1-{service.MAX_QUERY} characters (trimmed)")
    if "\x00" in text:
        raise Unprocessable.field("q", "must not contain NUL characters")
    after = decode_cursor(cursor, datetime, UUID) if cursor else None

    async def read(conn: Conn) -> SearchPage:
        async with conn.transaction(readonly=True):
            await queries.custom_plans(conn)
            query = await service.prepare(conn, text, ctx.settings.default_region)
            if query is None:
                return SearchPage(items=[], next_cursor=None)
            scope = Scope.of(principal)
            items, last = await service.search(conn, scope, query, filters, after, limit)
        return SearchPage(items=items, next_cursor=encode_cursor(*last) if last else None)

    return await reads.run(read)  # the replica's when it is fit (docs/read-replica.md)
