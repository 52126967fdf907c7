"""Rules about labels: unique names, events for everyone who sees them, and labels on the
conversations an agent may work (announced and audited like the conversation's other
changes; adding one it has or removing one it lacks writes nothing)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.conversations.service import audience_of, get_visible, payload
from omnistream.conversations.visibility import Scope, state
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.errors import TAKEN, Conflict, NotFound, Unprocessable
from omnistream.labels import queries
from omnistream.labels.schemas import LabelCreate, LabelUpdate

TARGET = "label"
# Labels are shown to every signed-in role: an unassigned conversation without a division is
# in everyone's view, so its state is the audience "everyone" (as a global quick reply's).
EVERYONE = [state(None, None)]


async def get(conn: Conn, label_id: UUID, *, for_update: bool = False) -> asyncpg.Record:
    row = await queries.get(conn, label_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no label with id {label_id}")
    return row


def _taken(name: str) -> Conflict:
    return Conflict.field("name", f"a label named {name!r} already exists", TAKEN)


def brief(row: asyncpg.Record) -> dict[str, Any]:
    """A label as conversations carry it."""
    return {"id": str(row["id"]), "name": row["name"], "colour": row["colour"]}


def _payload(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row)


async def _announce(tx: Tx, actor: Principal, kind: EventType, data: dict[str, Any]) -> None:
    await emit(tx.conn, kind, data, actor=actor, audience=EVERYONE)


async def create(tx: Tx, actor: Principal, data: LabelCreate) -> asyncpg.Record:
    row = await queries.insert(tx.conn, data.name, data.colour, data.description)
    if row is None:
        raise _taken(data.name)
    await record(tx.conn, actor, "create_label", TARGET, row["id"], name=row["name"])
    await _announce(tx, actor, EventType.LABEL_CREATED, {"label": _payload(row)})
    return row


async def update(tx: Tx, actor: Principal, label_id: UUID, data: LabelUpdate) -> asyncpg.Record:
    current = await get(tx.conn, label_id, for_update=True)
    wanted = data.model_dump(exclude_none=True)
    changes = {k: v for k, v in wanted.items() if current[k] != v}
    if not changes:  # nothing to do: no new updated_at, no activity row, no event
        return current
    name = changes.get("name")
    if name is not None and await queries.name_taken(tx.conn, name, label_id):
        raise _taken(name)
    try:
        row = await queries.update(tx.conn, label_id, changes)
    except asyncpg.UniqueViolationError:  # a concurrent create or rename took the name
        raise _taken(name or "") from None
    await record(tx.conn, actor, "update_label", TARGET, label_id, changes=changes)
    await _announce(
        tx, actor, EventType.LABEL_UPDATED, {"label": _payload(row), "changes": sorted(changes)}
    )
    return row


async def delete(tx: Tx, actor: Principal, label_id: UUID) -> None:
    """The label leaves every conversation with it (ON DELETE CASCADE) in one statement: one
    label.deleted event says so, not a conversation.updated per conversation (a label may be
    on a hundred thousand); clients drop it by id (docs/inbox.md#labels)."""
    current = await get(tx.conn, label_id, for_update=True)
    on = await queries.delete(tx.conn, label_id)
    await record(
        tx.conn, actor, "delete_label", TARGET, label_id, name=current["name"], conversations=on
    )
    await _announce(
        tx, actor, EventType.LABEL_DELETED, {"label": _payload(current), "conversations": on}
    )


async def _changed(
    tx: Tx,
    actor: Principal,
    action: str,
    before: asyncpg.Record,
    after: asyncpg.Record,
    **extra: Any,
) -> None:
    await emit(
        tx.conn,
        EventType.CONVERSATION_UPDATED,
        {"conversation": payload(after), **extra},
        actor=actor,
        conversation_id=after["id"],
        audience=audience_of(before, after),
    )
    await record(tx.conn, actor, action, "conversation", after["id"], **extra)


async def add_to_conversation(
    tx: Tx, actor: Principal, conversation_id: UUID, label_id: UUID
) -> asyncpg.Record:
    before = await get_visible(tx.conn, Scope.of(actor), conversation_id, for_update=True)
    label = await queries.get(tx.conn, label_id)
    if label is None:
        raise Unprocessable.field("label_id", "no such label")
    if not await queries.add(tx.conn, conversation_id, label_id, actor.agent_id):
        return before
    after = await queries.touch(tx.conn, conversation_id)
    await _changed(tx, actor, "add_label", before, after, added_label=brief(label))
    return after


async def remove_from_conversation(
    tx: Tx, actor: Principal, conversation_id: UUID, label_id: UUID
) -> asyncpg.Record:
    before = await get_visible(tx.conn, Scope.of(actor), conversation_id, for_update=True)
    label = await queries.get(tx.conn, label_id)
    if label is None or not await queries.remove(tx.conn, conversation_id, label_id):
        return before
    after = await queries.touch(tx.conn, conversation_id)
    await _changed(tx, actor, "remove_label", before, after, removed_label=brief(label))
    return after
