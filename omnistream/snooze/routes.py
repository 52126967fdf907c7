"""POST /api/v1/conversations/{id}/snooze and /unsnooze: for who may work the conversation,
on a conversation they may see (404 otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from omnistream.activity.service import record
from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.conversations.schemas import ConversationOut
from omnistream.conversations.service import payload
from omnistream.db.pool import transaction
from omnistream.snooze import queries, service
from omnistream.snooze.schemas import SnoozeIn
from omnistream.snooze.when import zone

router = APIRouter()  # tags per route: the time zone is under auth, not conversations too
ON_CONVERSATION = "/api/v1/conversations/{conversation_id}"
Worker = Annotated[Principal, requires(Perm.CONVERSATIONS_WORK)]
Self = Annotated[Principal, requires(Perm.SELF)]


@router.post(
    f"{ON_CONVERSATION}/snooze",
    tags=["conversations"],
    response_model=ConversationOut,
    summary="Snooze until a time, until the customer's next message, or until tomorrow 09:00",
    description="Exactly one of `until`, `until_next_message: true` or `preset` (`tomorrow`: "
    "09:00 tomorrow, `next_week`: 09:00 next Monday, in `timezone` or the agent's). "
    "The conversation leaves the open list (status `snoozed`) and comes back open when the "
    "time comes or the customer writes, whichever is first. 422: none or several choices, "
    "`until` not in the future or more than 365 days ahead, an unknown `timezone`, a "
    "resolved conversation (`status`). Snoozing again moves the wake time.",
)
async def snooze(ctx: Ctx, conversation_id: UUID, body: SnoozeIn, actor: Worker) -> ConversationOut:
    async with transaction(ctx.pool) as tx:
        until = await service.until_of(tx.conn, actor, body, datetime.now(UTC))
        row = await service.snooze(tx, actor, conversation_id, until)
    return ConversationOut(**payload(row))


@router.post(
    f"{ON_CONVERSATION}/unsnooze",
    tags=["conversations"],
    response_model=ConversationOut,
    summary="End a snooze now (back to open); one that is not snoozed: nothing changes",
)
async def unsnooze(ctx: Ctx, conversation_id: UUID, actor: Worker) -> ConversationOut:
    async with transaction(ctx.pool) as tx:
        row = await service.unsnooze(tx, actor, conversation_id)
    return ConversationOut(**payload(row))


class TimezoneIn(BaseModel):
    timezone: str = Field(max_length=64, description="An IANA time zone name, e.g. Asia/Jakarta.")


class TimezoneOut(BaseModel):
    timezone: str


@router.put(
    "/api/v1/auth/me/timezone",
    response_model=TimezoneOut,
    tags=["auth"],
    summary="Set one's own time zone (snooze's 'tomorrow 09:00' is 09:00 there)",
)
async def set_timezone(ctx: Ctx, body: TimezoneIn, me: Self) -> TimezoneOut:
    zone(body.timezone)
    async with transaction(ctx.pool) as tx:
        await queries.set_agent_timezone(tx.conn, me.agent_id, body.timezone)
        await record(tx.conn, me, "set_timezone", "agent", me.agent_id, timezone=body.timezone)
    return TimezoneOut(timezone=body.timezone)
