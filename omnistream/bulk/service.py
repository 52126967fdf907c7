"""Bulk actions: one action on up to 1,000 conversations in one transaction, each
conversation through the same service function as the single action (the same checks,
event and activity entry) inside a savepoint of its own, so a refusal writes nothing for
that conversation and leaves the others done."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from omnistream.auth.principal import Principal
from omnistream.bulk import queries
from omnistream.bulk.schemas import (
    MAX_ITEMS,
    NEEDS,
    BulkAction,
    BulkFilter,
    BulkIn,
    BulkItem,
    ItemProblem,
)
from omnistream.contacts.service import phone_patterns
from omnistream.conversations import label_list_queries
from omnistream.conversations import queries as conversation_queries
from omnistream.conversations import service as conversations
from omnistream.conversations.schemas import ConversationOut
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn, Tx
from omnistream.kit.errors import AppError, NotFound, Unprocessable
from omnistream.labels import queries as label_queries
from omnistream.labels import service as labels
from omnistream.snooze import service as snoozing

PARAMS = ("agent_id", "division_id", "reason", "label_id", "priority", "snooze")
TAKES: dict[BulkAction, set[str]] = {
    **{action: set(needs) for action, needs in NEEDS.items()},
    BulkAction.TRANSFER: {"agent_id", "division_id", "reason"},
}


async def check_params(conn: Conn, body: BulkIn) -> None:
    """422 naming the field for what the action lacks, does not take, or names but does
    not exist, before any conversation is touched."""
    if (body.ids is None) == (body.filter is None):
        raise Unprocessable(
            "name the conversations: ids or filter (one of them)",
            errors=[{"field": f, "message": "give ids or a filter"} for f in ("ids", "filter")],
        )
    takes = TAKES.get(body.action, set())
    for name in PARAMS:
        given = getattr(body, name) is not None
        if given and name not in takes:
            raise Unprocessable.field(name, f"not a parameter of {body.action.value}")
        if not given and name in NEEDS.get(body.action, ()):
            raise Unprocessable.field(name, f"required by {body.action.value}")
    if body.action is BulkAction.TRANSFER:
        if body.agent_id is None and body.division_id is None:
            raise Unprocessable(
                "name an agent_id, a division_id or both",
                errors=[
                    {"field": f, "message": "name an agent_id, a division_id or both"}
                    for f in ("agent_id", "division_id")
                ],
            )
        if not body.reason:
            raise Unprocessable.field("reason", "must not be empty")
    if body.agent_id is not None:
        agent = await conversation_queries.agent_for_assignment(conn, body.agent_id)
        if agent is None:
            raise Unprocessable.field("agent_id", f"no agent with id {body.agent_id}")
        if not agent["is_active"]:
            raise Unprocessable.field("agent_id", "the agent is deactivated")
    if body.division_id is not None and not await conversation_queries.division_exists(
        conn, body.division_id
    ):
        raise Unprocessable.field("division_id", f"no division with id {body.division_id}")
    if body.label_id is not None and await label_queries.get(conn, body.label_id) is None:
        raise Unprocessable.field("label_id", f"no label with id {body.label_id}")


async def snooze_until(conn: Conn, actor: Principal, body: BulkIn) -> datetime | None:
    """The snooze's wake time, once for every conversation; 422s name the field in
    `snooze`. None for other actions (and for until_next_message)."""
    if body.snooze is None:
        return None
    try:
        return await snoozing.until_of(conn, actor, body.snooze, datetime.now(UTC))
    except Unprocessable as error:
        raise _within("snooze", error) from None


def _within(parent: str, error: Unprocessable) -> Unprocessable:
    """The error of a nested object's check, its fields named inside `parent`."""
    for item in error.errors or []:
        item["field"] = f"{parent}.{item['field']}"
    return Unprocessable(f"{parent}.{error.detail}", errors=error.errors)


async def select(
    conn: Conn, scope: Scope, wanted: BulkFilter, region: str
) -> tuple[list[UUID], bool]:
    """The conversations the list shows the caller with this filter, in its order: the first
    MAX_ITEMS ids, and whether there were more."""
    labels = wanted.label_ids()
    unknown = set(labels) - await label_queries.existing(conn, list(labels))
    if unknown:
        names = ", ".join(map(str, sorted(unknown)))
        raise Unprocessable.field("filter.label", f"no label with id {names}")
    f = conversation_queries.ListFilter(
        status=wanted.status,
        channel=wanted.channel,
        assignee=wanted.assignee_value(),
        division_id=wanted.division_id,
        contact_id=wanted.contact_id,
        unread_only=wanted.unread,
        q=wanted.q,
        phone_patterns=phone_patterns(wanted.q, region),
        sla=wanted.sla,
        priorities=wanted.priorities(),
        labels=labels,
        sort=wanted.sort,
        limit=MAX_ITEMS + 1,
    )
    rows = await label_list_queries.list_page(conn, scope, f)  # exactly as the list reads
    return [r["id"] for r in rows[:MAX_ITEMS]], len(rows) > MAX_ITEMS


async def _apply(
    tx: Tx, actor: Principal, body: BulkIn, cid: UUID, until: datetime | None
) -> asyncpg.Record:
    """The single action's service call (params checked by check_params; `until` is the
    snooze's wake time, computed once for all)."""
    match body.action:
        case BulkAction.ASSIGN:
            assert body.agent_id is not None
            return await conversations.assign(tx, actor, cid, body.agent_id)
        case BulkAction.UNASSIGN:
            return await conversations.unassign(tx, actor, cid)
        case BulkAction.TRANSFER:
            assert body.reason is not None
            row, _ = await conversations.transfer(
                tx, actor, cid, body.agent_id, body.division_id, body.reason
            )
            return row
        case BulkAction.ADD_LABEL:
            assert body.label_id is not None
            return await labels.add_to_conversation(tx, actor, cid, body.label_id)
        case BulkAction.REMOVE_LABEL:
            assert body.label_id is not None
            return await labels.remove_from_conversation(tx, actor, cid, body.label_id)
        case BulkAction.SET_PRIORITY:
            assert body.priority is not None
            return await conversations.set_priority(tx, actor, cid, body.priority)
        case BulkAction.RESOLVE:
            return await conversations.set_status(tx, actor, cid, "resolved")
        case BulkAction.REOPEN:
            return await conversations.set_status(tx, actor, cid, "open")
        case BulkAction.SNOOZE:
            return await snoozing.snooze(tx, actor, cid, until)
        case BulkAction.UNSNOOZE:
            return await snoozing.unsnooze(tx, actor, cid)


def _refused(cid: UUID, error: AppError) -> BulkItem:
    problem = ItemProblem(status=error.status, title=error.title, detail=error.detail)
    return BulkItem(id=cid, ok=False, problem=problem)


# Conversations run under one savepoint: two round trips per conversation fewer than a
# savepoint each (of about seven). A chunk with a refusal is rolled back and run again with a
# savepoint per conversation, as the email import does with a batch holding a bad mail.
CHUNK = 100


async def _one(
    tx: Tx, actor: Principal, body: BulkIn, cid: UUID, until: datetime | None
) -> BulkItem:
    """The action on one conversation in a savepoint of its own: done, or refused with
    nothing written for it."""
    try:
        async with tx.conn.transaction():
            row = await _apply(tx, actor, body, cid, until)
    except AppError as error:
        return _refused(cid, error)
    return BulkItem(id=cid, ok=True, conversation=ConversationOut(**conversations.payload(row)))


async def _chunk(
    tx: Tx, actor: Principal, body: BulkIn, chunk: list[UUID], until: datetime | None
) -> list[BulkItem]:
    try:
        async with tx.conn.transaction():
            rows = [await _apply(tx, actor, body, cid, until) for cid in chunk]
    except AppError:
        return [await _one(tx, actor, body, cid, until) for cid in chunk]
    return [
        BulkItem(id=r["id"], ok=True, conversation=ConversationOut(**conversations.payload(r)))
        for r in rows
    ]


async def run(tx: Tx, actor: Principal, body: BulkIn, ids: list[UUID]) -> list[BulkItem]:
    """The action on each of `ids` (distinct), in that order; one item each."""
    visible = await queries.lock_visible(tx.conn, Scope.of(actor), ids)
    # Invisible and nonexistent alike: the single action's answer to both.
    items = {
        cid: _refused(cid, NotFound(f"no conversation with id {cid}"))
        for cid in ids
        if cid not in visible
    }
    todo = [cid for cid in ids if cid in visible]
    until = await snooze_until(tx.conn, actor, body)
    for start in range(0, len(todo), CHUNK):
        for item in await _chunk(tx, actor, body, todo[start : start + CHUNK], until):
            items[item.id] = item
    return [items[cid] for cid in ids]
