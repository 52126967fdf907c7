"""Rules about conversations: visibility, assignment, transfers, status, read marks."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.conversations import priority_queries, queries
from omnistream.conversations.schemas import ContactBrief, ConversationItem
from omnistream.conversations.visibility import Scope, state
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.enums import Channel, Priority, Role
from omnistream.kit.errors import Conflict, NotFound, Unprocessable
from omnistream.messages import queries as message_queries
from omnistream.messages import receipt_queries


async def get_visible(
    conn: Conn, scope: Scope, conversation_id: UUID, *, for_update: bool = False
) -> asyncpg.Record:
    """The conversation, or 404 when it does not exist or the caller may not see it."""
    row = await queries.get_visible(conn, scope, conversation_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no conversation with id {conversation_id}")
    return row


def payload(row: asyncpg.Record) -> dict[str, Any]:
    """A conversation as carried in events (the fields of ConversationOut)."""
    return {k: row[k] for k in queries.COLUMN_NAMES}


def audience_of(*rows: asyncpg.Record) -> list[dict[str, Any]]:
    """Audience states for an event about these conversation rows (e.g. before and after)."""
    seen: list[dict[str, Any]] = []
    for row in rows:
        entry = state(row["division_id"], row["assigned_agent_id"])
        if entry not in seen:
            seen.append(entry)
    return seen


async def _changed(
    tx: Tx,
    actor: Principal,
    event: EventType,
    action: str,
    before: asyncpg.Record,
    after: asyncpg.Record,
    **extra: Any,
) -> None:
    data = {"conversation": payload(after), **extra}
    await emit(
        tx.conn,
        event,
        data,
        actor=actor,
        conversation_id=after["id"],
        audience=audience_of(before, after),
    )
    await record(tx.conn, actor, action, "conversation", after["id"], **extra)


async def _assignable(tx: Tx, actor: Principal, agent_id: UUID, division_id: UUID | None) -> None:
    agent = await queries.agent_for_assignment(tx.conn, agent_id)
    if agent is None:
        raise NotFound(f"no agent with id {agent_id}")
    if not agent["is_active"]:
        raise Unprocessable.field("agent_id", "the agent is deactivated")
    if (
        actor.role is not Role.ADMIN
        and division_id is not None
        and division_id not in agent["division_ids"]
    ):
        raise Unprocessable.field(
            "agent_id", "the agent is not a member of the conversation's division"
        )


async def assign(tx: Tx, actor: Principal, conversation_id: UUID, agent_id: UUID) -> asyncpg.Record:
    before = await get_visible(tx.conn, Scope.of(actor), conversation_id, for_update=True)
    await _assignable(tx, actor, agent_id, before["division_id"])
    if before["assigned_agent_id"] == agent_id:
        return before
    after = await queries.set_assignee(tx.conn, conversation_id, agent_id, before["division_id"])
    await _changed(
        tx,
        actor,
        EventType.CONVERSATION_ASSIGNED,
        "assign_conversation",
        before,
        after,
        previous_agent_id=before["assigned_agent_id"],
        agent_id=agent_id,
    )
    return after


async def unassign(tx: Tx, actor: Principal, conversation_id: UUID) -> asyncpg.Record:
    before = await get_visible(tx.conn, Scope.of(actor), conversation_id, for_update=True)
    if before["assigned_agent_id"] is None:
        return before
    after = await queries.set_assignee(tx.conn, conversation_id, None, before["division_id"])
    await _changed(
        tx,
        actor,
        EventType.CONVERSATION_ASSIGNED,
        "unassign_conversation",
        before,
        after,
        previous_agent_id=before["assigned_agent_id"],
        agent_id=None,
    )
    return after


async def take(tx: Tx, actor: Principal, conversation_id: UUID) -> asyncpg.Record:
    before = await queries.get(tx.conn, conversation_id)
    # Judged as if unassigned: losing a race for a conversation of one's own pool is a 409
    # ("someone was faster"), not a 404; anything outside the pool stays a 404.
    if before is None or not Scope.of(actor).can_see(before["division_id"], None):
        raise NotFound(f"no conversation with id {conversation_id}")
    if before["assigned_agent_id"] == actor.agent_id:
        return before
    if before["assigned_agent_id"] is None:
        after = await _take(tx, actor, before)
        if after is not None:
            return after
    raise Conflict("another agent already has this conversation")


async def take_on_reply(tx: Tx, actor: Principal, before: asyncpg.Record) -> asyncpg.Record:
    """An agent answering an unassigned conversation takes it (as in Chatwoot and Zendesk),
    announced and audited as a Take, with `on_reply: true`. `before` is locked by the reply;
    an assigned conversation is returned unchanged."""
    if before["assigned_agent_id"] is not None:
        return before
    after = await _take(tx, actor, before, on_reply=True)
    assert after is not None  # locked and unassigned
    return after


async def _take(
    tx: Tx, actor: Principal, before: asyncpg.Record, **details: Any
) -> asyncpg.Record | None:
    """Assign an unassigned conversation to the actor, with its event and audit row; None
    when someone else took it first."""
    after = await queries.take(tx.conn, before["id"], actor.agent_id)
    if after is not None:
        await _changed(
            tx,
            actor,
            EventType.CONVERSATION_ASSIGNED,
            "take_conversation",
            before,
            after,
            previous_agent_id=None,
            agent_id=actor.agent_id,
            **details,
        )
    return after


async def transfer(
    tx: Tx,
    actor: Principal,
    conversation_id: UUID,
    agent_id: UUID | None,
    division_id: UUID | None,
    reason: str,
) -> tuple[asyncpg.Record, asyncpg.Record]:
    """Move to an agent and/or a division; returns (conversation, transfer record)."""
    before = await get_visible(tx.conn, Scope.of(actor), conversation_id, for_update=True)
    target_division = before["division_id"]
    if division_id is not None:
        if not await queries.division_exists(tx.conn, division_id):
            raise NotFound(f"no division with id {division_id}")
        target_division = division_id
    if agent_id is not None:
        await _assignable(tx, actor, agent_id, target_division)
        target_agent: UUID | None = agent_id
    else:
        # A new division without a named agent goes to that division's unassigned pool.
        moved = target_division != before["division_id"]
        target_agent = None if moved else before["assigned_agent_id"]
    if target_agent == before["assigned_agent_id"] and target_division == before["division_id"]:
        raise Unprocessable(
            "the conversation is already there",
            errors=[{"field": "agent_id", "message": "nothing would change"}],
        )
    after = await queries.set_assignee(tx.conn, conversation_id, target_agent, target_division)
    moved_record = await queries.insert_transfer(
        tx.conn, conversation_id, before, after, actor.agent_id, reason
    )
    await _changed(
        tx,
        actor,
        EventType.CONVERSATION_TRANSFERRED,
        "transfer_conversation",
        before,
        after,
        transfer=dict(moved_record),
    )
    return after, moved_record


async def set_status(
    tx: Tx, actor: Principal, conversation_id: UUID, status: str
) -> asyncpg.Record:
    before = await get_visible(tx.conn, Scope.of(actor), conversation_id, for_update=True)
    if before["status"] == status:
        return before
    after = await queries.set_status(tx.conn, conversation_id, status)
    resolved = status == "resolved"
    await _changed(
        tx,
        actor,
        EventType.CONVERSATION_RESOLVED if resolved else EventType.CONVERSATION_REOPENED,
        "resolve_conversation" if resolved else "reopen_conversation",
        before,
        after,
    )
    return after


async def set_priority(
    tx: Tx, actor: Principal, conversation_id: UUID, priority: Priority
) -> asyncpg.Record:
    """A conversation.updated event and a set_priority activity entry (with the previous
    priority), as other changes of a conversation; setting the same priority changes nothing."""
    before = await get_visible(tx.conn, Scope.of(actor), conversation_id, for_update=True)
    if before["priority"] == priority:
        return before
    after = await priority_queries.set_priority(tx.conn, conversation_id, priority)
    await _changed(
        tx,
        actor,
        EventType.CONVERSATION_UPDATED,
        "set_priority",
        before,
        after,
        previous_priority=before["priority"],
        priority=priority.value,
    )
    return after


async def mark_read(tx: Tx, actor: Principal, conversation_id: UUID) -> asyncpg.Record:
    """Unread count to 0; on WhatsApp also queues the read receipt of the latest inbound
    message, which the outbound sender sends after commit (best effort, and only if
    OMNISTREAM_WHATSAPP_MARK_READ is on in the worker)."""
    before = await get_visible(tx.conn, Scope.of(actor), conversation_id)
    after = await queries.mark_read(tx.conn, conversation_id)
    if after is None:
        return before
    if after["channel"] == Channel.WHATSAPP and await receipt_queries.queue_read_receipt(
        tx.conn, conversation_id
    ):
        await message_queries.wake_sender(tx.conn)
    await emit(
        tx.conn,
        EventType.CONVERSATION_UPDATED,
        {"conversation": payload(after)},
        actor=actor,
        conversation_id=conversation_id,
        audience=audience_of(after),
    )
    return after


def list_item(row: asyncpg.Record) -> ConversationItem:
    """A conversation as lists show it (the inbox, search results), from a row with
    queries.COLUMN_NAMES and the contact's, assignee's and integration's columns."""
    base = {k: row[k] for k in queries.COLUMN_NAMES}
    contact = ContactBrief(
        id=row["contact_id"],
        name=row["contact_name"],
        phone=row["contact_phone"],
        email=row["contact_email"],
        profile_pic_url=row["contact_profile_pic_url"],
    )
    return ConversationItem(
        **base,
        contact=contact,
        assigned_agent_name=row["assigned_agent_name"],
        integration_id=row["integration_id"],
    )
