"""Writing events: in the same transaction as the change they describe."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from omnistream.auth.principal import Principal
from omnistream.db.pool import Conn
from omnistream.events import queries
from omnistream.events.types import ENVELOPE_VERSION, EventType

SYSTEM_ACTOR: dict[str, Any] = {"type": "system"}


def jsonable(value: Any) -> Any:
    """UUIDs and datetimes as strings, recursively (event data is stored as JSONB)."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


async def emit(
    conn: Conn,
    event_type: EventType,
    data: Mapping[str, Any],
    *,
    actor: Principal | dict[str, Any] | None,
    conversation_id: UUID | None = None,
    audience: list[dict[str, Any]] | None = None,
) -> None:
    """Queue an event; it is published only if the surrounding transaction commits.

    `audience` lists the conversation states (visibility.state) whose viewers may receive
    it: pass the state before and after a change that moves the conversation, so those who
    lose sight of it still learn that it left. Empty: admins and supervisors only; the entry
    visibility.STAFF adds every admin and supervisor to the states' viewers (contact events).
    """
    who = actor.actor() if isinstance(actor, Principal) else (actor or SYSTEM_ACTOR)
    await queries.insert(
        conn,
        event_type.value,
        jsonable(data),
        who,
        conversation_id,
        audience or [],
        ENVELOPE_VERSION,
    )


@dataclass(frozen=True, slots=True)
class Draft:
    """An event to write with emit_many (the arguments of emit)."""

    event_type: EventType
    data: Mapping[str, Any]
    actor: dict[str, Any] | None
    conversation_id: UUID | None = None
    audience: list[dict[str, Any]] | None = None


def _other(value: Any) -> Any:
    """What orjson cannot write by itself (it writes uuid.UUID and datetimes as jsonable
    does, but not asyncpg's UUID subclass)."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json(value: Any) -> str:
    return orjson.dumps(value, default=_other, option=orjson.OPT_NON_STR_KEYS).decode()


async def emit_many(conn: Conn, drafts: list[Draft]) -> None:
    """Queue many events with one statement, in list order (as many emit calls would)."""
    if not drafts:
        return
    await queries.insert_many(
        conn,
        [d.event_type.value for d in drafts],
        [_json(d.data) for d in drafts],
        [_json(d.actor or SYSTEM_ACTOR) for d in drafts],
        [d.conversation_id for d in drafts],
        [_json(d.audience or []) for d in drafts],
        ENVELOPE_VERSION,
    )
