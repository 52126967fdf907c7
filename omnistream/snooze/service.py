"""The snooze rules: who may snooze what, until when, and the wake (by time, by the customer,
by an agent). Services take the caller's transaction and never commit.

`snooze` and `unsnooze` act on one conversation; bulk actions call them per conversation
with a time computed once by `until_of`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.conversations.service import audience_of, get_visible, payload
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import Draft, emit, emit_many, jsonable
from omnistream.events.types import EventType
from omnistream.kit.enums import ConversationStatus
from omnistream.kit.errors import Unprocessable
from omnistream.notifications.kinds import NotificationKind
from omnistream.notifications.service import notify
from omnistream.snooze import queries
from omnistream.snooze.schemas import SnoozeIn
from omnistream.snooze.when import check_until, next_week_morning, tomorrow_morning, zone


async def until_of(conn: Conn, actor: Principal, body: SnoozeIn, now: datetime) -> datetime | None:
    """The wake time the request asks for (None: the customer's next message); 422s name
    the field at fault."""
    chosen = [
        name
        for name, given in (
            ("until", body.until is not None),
            ("until_next_message", body.until_next_message),
            ("preset", body.preset is not None),
        )
        if given
    ]
    if len(chosen) != 1:
        message = "give exactly one of until, until_next_message or preset"
        raise Unprocessable(
            message, errors=[{"field": f, "message": message} for f in chosen or ["until"]]
        )
    if body.timezone is not None:
        tz = zone(body.timezone)
    else:
        tz = zone(await queries.agent_timezone(conn, actor.agent_id))
    if body.until is not None:
        return check_until(body.until, now)
    if body.preset == "tomorrow":
        return check_until(tomorrow_morning(now, tz), now)
    if body.preset == "next_week":
        return check_until(next_week_morning(now, tz), now)
    return None


async def snooze(
    tx: Tx, actor: Principal, conversation_id: UUID, until: datetime | None
) -> asyncpg.Record:
    """Snooze a conversation the actor may see (404 otherwise) until `until` (None: the
    customer's next message). A resolved one is a 422; snoozing a snoozed one moves its
    wake time (the same time again changes nothing)."""
    before = await get_visible(tx.conn, Scope.of(actor), conversation_id, for_update=True)
    if before["status"] == ConversationStatus.RESOLVED:
        raise Unprocessable.field(
            "status", "a resolved conversation cannot be snoozed: reopen it first"
        )
    if before["status"] == ConversationStatus.SNOOZED and before["snoozed_until"] == until:
        return before
    after = await queries.snooze(tx.conn, conversation_id, until, actor.agent_id)
    facts = {"snoozed_until": until, "until_next_message": until is None}
    await emit(
        tx.conn,
        EventType.CONVERSATION_SNOOZED,
        {"conversation": payload(after), **facts},
        actor=actor,
        conversation_id=conversation_id,
        audience=audience_of(after),
    )
    await record(
        tx.conn, actor, "snooze_conversation", "conversation", conversation_id, **jsonable(facts)
    )
    if until is not None:
        await queries.wake_loop(tx.conn)
    return after


async def unsnooze(tx: Tx, actor: Principal, conversation_id: UUID) -> asyncpg.Record:
    """Back to open now, by an agent; a conversation that is not snoozed is returned as it is."""
    before = await get_visible(tx.conn, Scope.of(actor), conversation_id, for_update=True)
    if before["status"] != ConversationStatus.SNOOZED:
        return before
    after = await queries.unsnooze(tx.conn, conversation_id)
    facts = {"by": "agent", "snoozed_until": before["snoozed_until"]}
    await emit(
        tx.conn,
        EventType.CONVERSATION_UNSNOOZED,
        {"conversation": payload(after), **facts},
        actor=actor,
        conversation_id=conversation_id,
        audience=audience_of(after),
    )
    await record(
        tx.conn, actor, "unsnooze_conversation", "conversation", conversation_id, **jsonable(facts)
    )
    return after


def woken_event(
    after: dict[str, Any],
    by: str,
    snoozed_until: datetime | None,
    actor: dict[str, Any] | None,
    audience: list[dict[str, Any]],
) -> Draft:
    """The conversation.unsnoozed event of a snooze that ended by itself: by "time" (the
    wake loop; actor None, the system) or "customer" (an inbound message; the contact)."""
    data = {"conversation": after, "by": by, "snoozed_until": snoozed_until}
    return Draft(EventType.CONVERSATION_UNSNOOZED, jsonable(data), actor, after["id"], audience)


async def wake_by_customer(
    conn: Conn, before: asyncpg.Record, contact_id: UUID, actor: dict[str, Any]
) -> asyncpg.Record:
    """The customer wrote to a snoozed conversation (locked by the caller, the inbound
    transaction): open now, with its activity entry, event and the assignee's notification."""
    after = await queries.unsnooze(conn, before["id"])
    facts: dict[str, Any] = {"by": "customer", "contact_id": contact_id}
    await record(conn, None, "unsnooze_conversation", "conversation", before["id"], **facts)
    await emit_many(
        conn,
        [
            woken_event(
                payload(after), "customer", before["snoozed_until"], actor, audience_of(after)
            )
        ],
    )
    await notify_assignees(conn, [payload(after)], "customer")
    return after


async def notify_assignees(conn: Conn, woken: Iterable[Mapping[str, Any]], by: str) -> None:
    """A snooze_ended notification to the assignee of each conversation that woke by itself
    (an unassigned one comes back to its pool's list, with nobody in particular to tell).
    The assignee sees their own conversation, as notify requires. data.reason: "time" or
    "message" (the web app's notification list words it)."""
    tx = Tx(conn)  # notify writes through tx.conn alone (no after-commit work)
    for conversation in woken:
        agent_id = conversation["assigned_agent_id"]
        if agent_id is None:
            continue
        await notify(
            tx,
            UUID(str(agent_id)),
            NotificationKind.SNOOZE_ENDED,
            conversation_id=UUID(str(conversation["id"])),
            actor_id=None,
            data={"reason": "message" if by == "customer" else by},
        )
