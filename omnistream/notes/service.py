"""Rules about notes: visible with the conversation; only the author (or an admin) deletes;
a note may mention agents who may see the conversation, each of whom (but the author) is
notified."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.conversations.service import audience_of, get_visible
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.enums import Role
from omnistream.kit.errors import Forbidden, NotFound, Unprocessable
from omnistream.notes import queries
from omnistream.notifications.kinds import NotificationKind
from omnistream.notifications.service import notify

EXCERPT_CHARS = 200  # of the note, in a mention's notification


async def add(
    tx: Tx,
    actor: Principal,
    conversation_id: UUID,
    body: str,
    mentions: list[UUID] | None = None,
) -> asyncpg.Record:
    # Locked so that no transfer or assignment slips between the mention check and the
    # note: whoever is notified could see the conversation when the note was written.
    mentioned = list(dict.fromkeys(mentions or []))  # each once, in order
    conversation = await get_visible(
        tx.conn, Scope.of(actor), conversation_id, for_update=bool(mentioned)
    )
    if mentioned:
        await _check_mentions(tx.conn, conversation_id, mentioned)
    note = await queries.insert(tx.conn, conversation_id, actor.agent_id, body, mentioned)
    await emit(
        tx.conn,
        EventType.NOTE_CREATED,
        {"note": dict(note)},
        actor=actor,
        conversation_id=conversation_id,
        audience=audience_of(conversation),
    )
    extra: dict[str, Any] = {"mentions": [str(m) for m in mentioned]} if mentioned else {}
    await record(
        tx.conn, actor, "add_note", "conversation", conversation_id, note_id=note["id"], **extra
    )
    excerpt = body if len(body) <= EXCERPT_CHARS else body[: EXCERPT_CHARS - 1] + "…"
    for agent_id in mentioned:
        if agent_id != actor.agent_id:
            await notify(
                tx,
                agent_id,
                NotificationKind.MENTION,
                conversation_id=conversation_id,
                actor_id=actor.agent_id,
                data={"excerpt": excerpt},
                note_id=note["id"],
            )
    return note


async def _check_mentions(conn: Conn, conversation_id: UUID, mentioned: list[UUID]) -> None:
    """422 naming `mentions` and every agent that cannot be mentioned (nothing written)."""
    errors: list[dict[str, Any]] = []
    for row in await queries.mention_checks(conn, conversation_id, mentioned):
        if row["name"] is None:
            message, kind = f"no agent with id {row['id']}", "unknown_agent"
        elif not row["sees"]:
            message, kind = f"{row['name']} cannot see this conversation", "cannot_see"
        else:
            continue
        errors.append(
            {
                "field": "mentions",
                "message": message,
                "type": kind,
                "agent_id": str(row["id"]),
                "name": row["name"],
            }
        )
    if errors:
        detail = "; ".join(e["message"] for e in errors)
        raise Unprocessable(f"mentions: {detail}", errors=errors)


async def mentionable(
    conn: Conn, actor: Principal, conversation_id: UUID, q: str | None, limit: int
) -> list[asyncpg.Record]:
    """Who a note in this conversation may mention (404 if the caller cannot see it)."""
    await get_visible(conn, Scope.of(actor), conversation_id)
    term = (q or "").strip()
    pattern = None
    if term:
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
    return await queries.mentionable(conn, conversation_id, pattern, limit)


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
