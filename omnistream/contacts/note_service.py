"""Notes about a contact: whoever may see the contact reads and adds them; only the author
deletes one. Each change is announced to the contact's audience and audited."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.contacts import note_queries
from omnistream.contacts.page_schemas import ContactNoteOut
from omnistream.contacts.service import audience_of, check_visible, lock_visible
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.errors import Forbidden, NotFound


async def page(
    conn: Conn,
    scope: Scope,
    contact_id: UUID,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[ContactNoteOut]:
    await check_visible(conn, scope, contact_id)
    rows = await note_queries.page(conn, contact_id, after, limit)
    return [ContactNoteOut(**dict(r)) for r in rows]


async def add(tx: Tx, actor: Principal, contact_id: UUID, body: str) -> ContactNoteOut:
    await lock_visible(tx.conn, Scope.of(actor), contact_id)  # not deleted or merged meanwhile
    row = await note_queries.insert(tx.conn, contact_id, actor.agent_id, body)
    note = ContactNoteOut(**dict(row))
    await emit(
        tx.conn,
        EventType.CONTACT_NOTE_CREATED,
        {"note": note.model_dump(mode="json")},
        actor=actor,
        audience=await audience_of(tx.conn, contact_id),
    )
    await record(tx.conn, actor, "add_contact_note", "contact", contact_id, note_id=note.id)
    return note


async def delete(tx: Tx, actor: Principal, contact_id: UUID, note_id: UUID) -> None:
    await check_visible(tx.conn, Scope.of(actor), contact_id)
    row = await note_queries.get(tx.conn, contact_id, note_id)
    if row is None:
        raise NotFound(f"no note with id {note_id} about this contact")
    if row["author_id"] != actor.agent_id:
        raise Forbidden("only its author deletes a note")
    await note_queries.delete(tx.conn, note_id)
    await emit(
        tx.conn,
        EventType.CONTACT_NOTE_DELETED,
        {"note_id": str(note_id), "contact_id": str(contact_id)},
        actor=actor,
        audience=await audience_of(tx.conn, contact_id),
    )
    await record(
        tx.conn,
        actor,
        "delete_contact_note",
        "contact",
        contact_id,
        note_id=note_id,
        body=row["body"],
    )
