"""Notifications: written by other domains (notify), read and marked by their recipient.

A notification's event (notification.created) reaches its recipient alone, whatever their
role (visibility.recipient): admins see every conversation event, not other agents'
notifications. Whoever calls notify vouches that the recipient may see the conversation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.auth.principal import Principal
from omnistream.conversations.visibility import Scope, recipient
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.errors import NotFound
from omnistream.notifications import queries
from omnistream.notifications.kinds import NotificationKind

UNREAD_CAP = 1000  # the bell shows "999+" above this; counting further costs for nothing


def payload(row: asyncpg.Record | Mapping[str, Any]) -> dict[str, Any]:
    """A notification as the API and its event show it (schemas.NotificationOut)."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "conversation_id": row["conversation_id"],
        "note_id": row["note_id"],
        "actor": None
        if row["actor_id"] is None
        else {"id": row["actor_id"], "name": row["actor_name"]},
        "contact_name": row["contact_name"],
        "data": dict(row["data"] or {}),
        "created_at": row["created_at"],
        "read_at": row["read_at"],
    }


async def notify(
    tx: Tx,
    recipient_id: UUID,
    kind: NotificationKind,
    *,
    conversation_id: UUID | None,
    actor_id: UUID | None,
    data: Mapping[str, Any],
    note_id: UUID | None = None,
) -> dict[str, Any]:
    """Write one notification and its notification.created event (to the recipient alone),
    in the caller's transaction; the notification as payload() shows it.

    `data` is small JSON the web app shows with the kind (a mention: the note's excerpt);
    the actor's and contact's names are read when listing, not stored. actor_id None: the
    system (e.g. a snooze that ended by itself).
    """
    row = await queries.insert(
        tx.conn, recipient_id, kind.value, conversation_id, note_id, actor_id, dict(data)
    )
    out = payload(row)
    await emit(
        tx.conn,
        EventType.NOTIFICATION_CREATED,
        {"notification": out},
        actor=None
        if actor_id is None
        else {"type": "agent", "id": str(actor_id), "name": row["actor_name"]},
        conversation_id=conversation_id,
        audience=[recipient(recipient_id)],
    )
    return out


async def page(
    conn: Conn,
    me: Principal,
    *,
    kind: NotificationKind | None,
    unread: bool,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await queries.page(
        conn,
        Scope.of(me),
        kind=kind.value if kind else None,
        unread=unread,
        after=after,
        limit=limit,
    )


async def unread_count(conn: Conn, me: Principal) -> int:
    return await queries.unread_count(conn, Scope.of(me), UNREAD_CAP)


async def mark_read(tx: Tx, me: Principal, notification_id: UUID) -> None:
    """Idempotent; another agent's notification answers 404 like a missing one."""
    marked = await queries.mark_read(tx.conn, me.agent_id, notification_id)
    if marked is None:
        raise NotFound(f"no notification with id {notification_id}")
    if marked:
        await _announce_read(tx, me, [notification_id])


async def mark_all_read(tx: Tx, me: Principal) -> int:
    ids = await queries.mark_all_read(tx.conn, me.agent_id)
    if ids:
        await _announce_read(tx, me, ids, everything=True)
    return len(ids)


async def _announce_read(
    tx: Tx, me: Principal, ids: list[UUID], *, everything: bool = False
) -> None:
    """The recipient's other tabs and devices update their bell (notification.read).

    Reading is the recipient's own state, like a conversation's unread mark: it writes no
    activity entry (the activity log records changes others can see)."""
    data: dict[str, Any] = {"all": everything}
    if not everything:
        data["ids"] = ids
    await emit(
        tx.conn,
        EventType.NOTIFICATION_READ,
        data,
        actor=me,
        audience=[recipient(me.agent_id)],
    )
