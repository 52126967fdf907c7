"""Rules about notes: visible with the conversation; only the author (or an admin) deletes."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.conversations.service import audience_of, get_visible
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.enums import Role
from omnistream.kit.errors import Forbidden, NotFound
from omnistream.notes import queries


async def add(tx: Tx, actor: Principal, conversation_id: UUID, body: str) -> asyncpg.Record:
    conversation = await get_visible(tx.conn, Scope.of(actor), conversation_id)
    note = await queries.insert(tx.conn, conversation_id, actor.agent_id, body)
    await emit(
        tx.conn,
        EventType.NOTE_CREATED,
        {"note": dict(note)},
        actor=actor,
        conversation_id=conversation_id,
        audience=audience_of(conversation),
    )
    await record(tx.conn, actor, "add_note", "conversation", conversation_id, note_id=note["id"])
    return note


async def delete(tx: Tx, actor: Principal, conversation_id: UUID, note_id: UUID) -> None:
    conversation = await get_visible(tx.conn, Scope.of(actor), conversation_id)
    note = await queries.get(tx.conn, conversation_id, note_id)
    if note is None:
        raise NotFound(f"no note with id {note_id} in this conversation")
    if note["agent_id"] != actor.agent_id and actor.role is not Role.ADMIN:
        raise Forbidden("only the note's author or an admin may delete it")
    await queries.delete(tx.conn, note_id)
    await emit(
        tx.conn,
        EventType.NOTE_DELETED,
        {"note": {"id": note_id, "conversation_id": conversation_id}},
        actor=actor,
        conversation_id=conversation_id,
        audience=audience_of(conversation),
    )
    await record(tx.conn, actor, "delete_note", "conversation", conversation_id, note_id=note_id)
