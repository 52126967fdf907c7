"""/api/v1/conversations: the inbox list, one conversation, and what agents do with it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.contacts import service as contact_service
from omnistream.context import Ctx
from omnistream.conversations import email_start, label_list_queries, queries, service
from omnistream.conversations.schemas import (
    AssignIn,
    ConversationItem,
    ConversationOut,
    ConversationPage,
    EmailAccountOut,
    EmailConversationCreate,
    EmailConversationOut,
    HistoryEntry,
    PriorityIn,
    TabCounts,
    TransferIn,
    TransferOut,
    TransferResult,
)
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn, transaction
from omnistream.kit.enums import Channel, ConversationStatus, Priority
from omnistream.kit.errors import BadRequest, NotFound, Unprocessable
from omnistream.kit.openapi import problems
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from omnistream.labels import queries as label_queries
from omnistream.messages.presentation import message_payload
from omnistream.messages.schemas import MessageOut

router = APIRouter(tags=["conversations"])
BASE = "/api/v1/conversations"
Reader = Annotated[Principal, requires(Perm.CONVERSATIONS_READ)]
Worker = Annotated[Principal, requires(Perm.CONVERSATIONS_WORK)]
Sender = Annotated[Principal, requires(Perm.MESSAGES_SEND)]
COUNT_CAP = 10_000
_DUE_SOON_MINUTES = int(queries.SLA_DUE_SOON.total_seconds() // 60)


def _assignee(value: str | None) -> str | UUID | None:
    if value in (None, "me", "unassigned"):
        return value
    try:
        return UUID(value)
    except ValueError:
        raise Unprocessable.field("assignee", "must be 'me', 'unassigned' or an agent id") from None


def _priorities(value: str | None) -> tuple[Priority, ...]:
    names = [] if value is None else [n.strip() for n in value.split(",")]
    try:
        return tuple(dict.fromkeys(Priority(n) for n in names))
    except ValueError:
        raise Unprocessable.field(
            "priority", f"must be one or several of {', '.join(Priority)}, comma-separated"
        ) from None


LABELS_MAX = 20  # label ids in one list filter


async def _labels(conn: Conn, value: str | None) -> tuple[UUID, ...]:
    """Distinct label ids, each of an existing label, else a 422 naming `label`."""
    if value is None:
        return ()
    try:
        ids = tuple(dict.fromkeys(UUID(n.strip()) for n in value.split(",")))
    except ValueError:
        raise Unprocessable.field(
            "label", "must be one or several label ids, comma-separated"
        ) from None
    if len(ids) > LABELS_MAX:
        raise Unprocessable.field("label", f"at most {LABELS_MAX} labels")
    unknown = set(ids) - await label_queries.existing(conn, list(ids))
    if unknown:
        raise Unprocessable.field(
            "label", f"no label with id {', '.join(map(str, sorted(unknown)))}"
        )
    return ids


def _after(cursor: str | None, sort: str) -> tuple[tuple[datetime, UUID] | None, Priority | None]:
    """The cursor's (sort key, id), and with sort=priority also its priority."""
    if cursor is None:
        return None, None
    if sort != queries.PRIORITY_SORT:
        return decode_cursor(cursor, datetime, UUID), None
    name, at, row_id = decode_cursor(cursor, str, datetime, UUID)
    try:
        return (at, row_id), Priority(name)
    except ValueError:
        raise BadRequest.field(
            "cursor", "is malformed; pass next_cursor from a previous page"
        ) from None


def _next_cursor(rows: list[Any], limit: int, sort: str) -> str | None:
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    if sort == queries.PRIORITY_SORT:
        return encode_cursor(last["priority"], last["last_message_at"], last["id"])
    return encode_cursor(last[sort], last["id"])


@router.get(BASE, response_model=ConversationPage, summary="The inbox: list conversations")
async def list_conversations(
    ctx: Ctx,
    principal: Reader,
    status: ConversationStatus | None = None,
    channel: Channel | None = None,
    assignee: Annotated[
        str | None, Query(max_length=40, description="me, unassigned or an agent id")
    ] = None,
    division_id: UUID | None = None,
    contact_id: UUID | None = None,
    unread: bool = False,
    q: Annotated[
        str | None, Query(max_length=200, description="Contact name / phone, last message")
    ] = None,
    sla: Annotated[
        Literal["breached", "due_soon"] | None,
        Query(
            description="SLA state (docs/sla.md), open conversations only: `breached`, an "
            "SLA target overdue (`sla_due_at` now or earlier); `due_soon`, the next target "
            f"due within {_DUE_SOON_MINUTES} minutes (`sla_due_at` after now, at most "
            f"{_DUE_SOON_MINUTES} minutes ahead)."
        ),
    ] = None,
    priority: Annotated[
        str | None,
        Query(
            max_length=100,
            description="One or several of none, low, medium, high, urgent, comma-separated "
            "(e.g. `high,urgent`): conversations with any of them.",
        ),
    ] = None,
    label: Annotated[
        str | None,
        Query(
            max_length=1000,
            description="One or several label ids, comma-separated: conversations with any "
            f"of them (at most {LABELS_MAX}; an unknown one is a 422).",
        ),
    ] = None,
    sort: Annotated[
        Literal["last_message_at", "created_at", "sla_due_at", "priority"],
        Query(
            description="`last_message_at` (default) and `created_at`: newest first. "
            "`sla_due_at`: the most urgent SLA target first (ascending), and only open "
            "conversations with a due time (no SLA policy, or resolved: not listed). "
            "`priority`: urgent first, then high, medium, low and none; within one "
            "priority, newest last message first."
        ),
    ] = "last_message_at",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ConversationPage:
    priorities = _priorities(priority)
    after, after_priority = _after(cursor, sort)
    async with ctx.pool.acquire() as conn:
        filters = queries.ListFilter(
            status=status,
            channel=channel,
            assignee=_assignee(assignee),
            division_id=division_id,
            contact_id=contact_id,
            unread_only=unread,
            q=q,
            phone_patterns=contact_service.phone_patterns(q, ctx.settings.default_region),
            sla=sla,
            priorities=priorities,
            labels=await _labels(conn, label),
            sort=sort,
            after=after,
            after_priority=after_priority,
            limit=limit + 1,
        )
        rows = await label_list_queries.list_page(conn, Scope.of(principal), filters)
    return ConversationPage(
        items=[service.list_item(r) for r in rows[:limit]],
        next_cursor=_next_cursor(rows, limit, sort),
    )


@router.get(
    f"{BASE}/counts", response_model=TabCounts, summary="Open counts for Mine / Unassigned / All"
)
async def tab_counts(ctx: Ctx, principal: Reader) -> TabCounts:
    tabs = [
        queries.ListFilter(status="open", assignee="me"),
        queries.ListFilter(status="open", assignee="unassigned"),
        queries.ListFilter(status="open"),
    ]
    async with ctx.pool.acquire() as conn:
        mine, unassigned, everything = await queries.counts(
            conn, Scope.of(principal), tabs, COUNT_CAP
        )
    return TabCounts(mine=mine, unassigned=unassigned, all_open=everything, cap=COUNT_CAP)


@router.get(
    f"{BASE}/email/accounts",
    response_model=list[EmailAccountOut],
    summary="The email accounts one may start an email conversation from (active ones)",
)
async def email_accounts(ctx: Ctx, actor: Sender) -> list[EmailAccountOut]:
    async with ctx.pool.acquire() as conn:
        rows = await email_start.accounts(conn)
    return [EmailAccountOut(**dict(r)) for r in rows]


@router.post(
    f"{BASE}/email",
    status_code=201,
    response_model=EmailConversationOut,
    summary="Start an email conversation: a new thread to an address, assigned to the caller",
)
async def start_email(
    ctx: Ctx, body: EmailConversationCreate, actor: Sender
) -> EmailConversationOut:
    async with transaction(ctx.pool) as tx:
        row, message = await email_start.start(
            tx, actor, body, assign_on_reply=ctx.settings.assign_on_reply
        )
    return EmailConversationOut(
        conversation=ConversationOut(**service.payload(row)),
        message=MessageOut(**message_payload(message)),
    )


@router.get(
    f"{BASE}/{{conversation_id}}", response_model=ConversationItem, summary="One conversation"
)
async def get_conversation(ctx: Ctx, conversation_id: UUID, principal: Reader) -> ConversationItem:
    async with ctx.pool.acquire() as conn:
        row = await queries.with_contact(conn, Scope.of(principal), conversation_id)
    if row is None:
        raise NotFound(f"no conversation with id {conversation_id}")
    return service.list_item(row)


@router.get(
    "/api/v1/contacts/{contact_id}/conversations",
    response_model=ConversationPage,
    summary="A contact's conversations (those the caller may see); 404 for a contact the "
    "caller may not see, as GET /contacts/{id}",
)
async def contact_conversations(
    ctx: Ctx,
    contact_id: UUID,
    principal: Reader,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ConversationPage:
    async with ctx.pool.acquire() as conn:
        await contact_service.check_visible(conn, Scope.of(principal), contact_id)
    return await list_conversations(
        ctx, principal, contact_id=contact_id, cursor=cursor, limit=limit
    )


@router.post(
    f"{BASE}/{{conversation_id}}/assign",
    response_model=ConversationOut,
    summary="Assign to an agent",
)
async def assign(ctx: Ctx, conversation_id: UUID, body: AssignIn, actor: Worker) -> ConversationOut:
    async with transaction(ctx.pool) as tx:
        row = await service.assign(tx, actor, conversation_id, body.agent_id)
    return ConversationOut(**service.payload(row))


@router.post(
    f"{BASE}/{{conversation_id}}/unassign", response_model=ConversationOut, summary="Unassign"
)
async def unassign(ctx: Ctx, conversation_id: UUID, actor: Worker) -> ConversationOut:
    async with transaction(ctx.pool) as tx:
        row = await service.unassign(tx, actor, conversation_id)
    return ConversationOut(**service.payload(row))


@router.post(
    f"{BASE}/{{conversation_id}}/take",
    response_model=ConversationOut,
    summary="Take an unassigned conversation (409 if someone else has it)",
    responses=problems(409),
)
async def take(ctx: Ctx, conversation_id: UUID, actor: Worker) -> ConversationOut:
    async with transaction(ctx.pool) as tx:
        row = await service.take(tx, actor, conversation_id)
    return ConversationOut(**service.payload(row))


@router.post(
    f"{BASE}/{{conversation_id}}/transfer",
    response_model=TransferResult,
    summary="Transfer to an agent and/or a division, with a reason",
)
async def transfer(
    ctx: Ctx, conversation_id: UUID, body: TransferIn, actor: Worker
) -> TransferResult:
    async with transaction(ctx.pool) as tx:
        row, moved = await service.transfer(
            tx, actor, conversation_id, body.agent_id, body.division_id, body.reason
        )
    return TransferResult(
        conversation=ConversationOut(**service.payload(row)), transfer=TransferOut(**dict(moved))
    )


@router.get(
    f"{BASE}/{{conversation_id}}/transfers",
    response_model=list[TransferOut],
    summary="The conversation's transfer history, oldest first",
)
async def transfers(ctx: Ctx, conversation_id: UUID, principal: Reader) -> list[TransferOut]:
    async with ctx.pool.acquire() as conn:
        await service.get_visible(conn, Scope.of(principal), conversation_id)
        rows = await queries.transfers(conn, conversation_id)
    return [TransferOut(**dict(r)) for r in rows]


_HISTORY_NAMES = {
    "assign_conversation": "assigned",
    "unassign_conversation": "unassigned",
    "take_conversation": "taken",
    "transfer_conversation": "transferred",
    "resolve_conversation": "resolved",
    "reopen_conversation": "reopened",
    "snooze_conversation": "snoozed",
    "unsnooze_conversation": "unsnoozed",
}


@router.get(
    f"{BASE}/{{conversation_id}}/history",
    response_model=list[HistoryEntry],
    summary="Assignments, transfers, resolves and reopens, oldest first (the timeline's "
    "system lines)",
)
async def history(
    ctx: Ctx,
    conversation_id: UUID,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[HistoryEntry]:
    async with ctx.pool.acquire() as conn:
        await service.get_visible(conn, Scope.of(principal), conversation_id)
        rows = await queries.history(conn, conversation_id, limit)
    return [
        HistoryEntry(
            id=r["id"],
            action=_HISTORY_NAMES[r["action"]],
            agent_id=r["agent_id"],
            agent_name=r["agent_name"],
            details=r["metadata_json"] or {},
            created_at=r["created_at"],
        )
        for r in rows
    ]


@router.post(
    f"{BASE}/{{conversation_id}}/resolve", response_model=ConversationOut, summary="Resolve"
)
async def resolve(ctx: Ctx, conversation_id: UUID, actor: Worker) -> ConversationOut:
    async with transaction(ctx.pool) as tx:
        row = await service.set_status(tx, actor, conversation_id, "resolved")
    return ConversationOut(**service.payload(row))


@router.post(f"{BASE}/{{conversation_id}}/reopen", response_model=ConversationOut, summary="Reopen")
async def reopen(ctx: Ctx, conversation_id: UUID, actor: Worker) -> ConversationOut:
    async with transaction(ctx.pool) as tx:
        row = await service.set_status(tx, actor, conversation_id, "open")
    return ConversationOut(**service.payload(row))


@router.post(
    f"{BASE}/{{conversation_id}}/priority",
    response_model=ConversationOut,
    summary="Set the priority (none, low, medium, high or urgent)",
)
async def set_priority(
    ctx: Ctx, conversation_id: UUID, body: PriorityIn, actor: Worker
) -> ConversationOut:
    async with transaction(ctx.pool) as tx:
        row = await service.set_priority(tx, actor, conversation_id, body.priority)
    return ConversationOut(**service.payload(row))


@router.post(
    f"{BASE}/{{conversation_id}}/read", response_model=ConversationOut, summary="Mark as read"
)
async def mark_read(ctx: Ctx, conversation_id: UUID, actor: Worker) -> ConversationOut:
    async with transaction(ctx.pool) as tx:
        row = await service.mark_read(tx, actor, conversation_id)
    return ConversationOut(**service.payload(row))
