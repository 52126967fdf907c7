"""Rules of agent availability (docs/inbox.md#availability).

`presence` is what everyone sees and what automatic assignment reads; `presence_choice` is
what the agent last chose. Only the agent's own choice changes presence_choice: idleness
(the web app's automatic away), a live connection opening (back to the choice) and the
worker's offline tick (no live connection for OMNISTREAM_PRESENCE_OFFLINE_SECONDS) change
presence alone. Every change of presence writes one agent.presence event in the caller's
transaction; a call that changes nothing writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.conversations.visibility import state
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import SYSTEM_ACTOR, emit
from omnistream.events.types import EventType
from omnistream.kit.enums import Presence
from omnistream.kit.errors import NotFound, Unprocessable
from omnistream.presence import queries

# Every signed-in role lists every active colleague (GET /directory: assign and transfer
# menus, names in timelines), so every signed-in role sees their presence: the audience of
# an unassigned conversation without a division, which is in everyone's view.
EVERYONE = [state(None, None)]


class Reason(StrEnum):
    """Why presence changed (agent.presence data.reason)."""

    SET = "set"  # the agent chose it (PUT /api/v1/me/presence)
    IDLE = "idle"  # the web app saw no input for a while: away, the choice kept
    ACTIVE = "active"  # input again after idling: back to the choice
    CONNECTED = "connected"  # a live connection opened: back to the choice
    DISCONNECTED = "disconnected"  # no live connection for the offline delay


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """An agent's availability after a change (and what it showed before)."""

    agent_id: UUID
    name: str
    presence: Presence
    previous: Presence
    choice: Presence
    changed_at: datetime
    division_ids: list[UUID]

    @classmethod
    def of(cls, row: asyncpg.Record) -> PresenceChange:
        return cls(
            row["agent_id"],
            row["name"],
            Presence(row["presence"]),
            Presence(row["previous"]),
            Presence(row["presence_choice"]),
            row["presence_changed_at"],
            list(row["division_ids"]),
        )


def event_data(change: PresenceChange, reason: Reason) -> dict[str, Any]:
    return {
        "agent_id": change.agent_id,
        "name": change.name,
        "presence": change.presence.value,
        "previous": change.previous.value,
        "changed_at": change.changed_at,
        "reason": reason.value,
        "division_ids": change.division_ids,
    }


async def set_presence(
    tx: Tx,
    agent_id: UUID,
    presence: Presence,
    *,
    actor: Principal | None = None,
    reason: Reason = Reason.SET,
    choice: Presence | None = None,
) -> PresenceChange | None:
    """Show `agent_id` as `presence` (and, given, store `choice` as their own choice).

    Writes the agent.presence event in the caller's transaction when presence changes;
    None (nothing written) when the row already says so or there is no such agent. `actor`
    None: the system (the offline tick, automatic assignment). No activity entry here:
    `choose` records the agent's own choices; automatic changes would flood the log.
    """
    row = await queries.change(tx.conn, agent_id, presence.value, choice and choice.value)
    if row is None:
        return None
    change = PresenceChange.of(row)
    if change.presence is not change.previous:
        await emit(
            tx.conn,
            EventType.AGENT_PRESENCE,
            event_data(change, reason),
            actor=actor or SYSTEM_ACTOR,
            audience=EVERYONE,
        )
    return change


async def _current(conn: Conn, agent_id: UUID) -> asyncpg.Record:
    row = await queries.current(conn, agent_id, for_update=True)
    if row is None:
        raise NotFound(f"no agent with id {agent_id}")
    return row


async def choose(tx: Tx, actor: Principal, presence: Presence) -> asyncpg.Record:
    """The agent sets their own presence (and choice): recorded in the activity log."""
    before = await _current(tx.conn, actor.agent_id)
    change = await set_presence(
        tx, actor.agent_id, presence, actor=actor, reason=Reason.SET, choice=presence
    )
    if change is not None:
        await record(
            tx.conn,
            actor,
            "set_presence",
            "agent",
            actor.agent_id,
            presence=presence.value,
            previous=before["presence"],
        )
    return await _current(tx.conn, actor.agent_id)


async def automatic(tx: Tx, actor: Principal, presence: Presence) -> asyncpg.Record:
    """What the web app reports by itself: `away` after idling (only over `online`: an agent
    who chose away or offline stays so), `online` on input again (back to the choice,
    whatever it is). presence_choice never changes."""
    current = await _current(tx.conn, actor.agent_id)
    if presence is Presence.AWAY:
        if current["presence"] == Presence.ONLINE:
            await set_presence(tx, actor.agent_id, Presence.AWAY, actor=actor, reason=Reason.IDLE)
    elif presence is Presence.ONLINE:
        choice = Presence(current["presence_choice"])
        await set_presence(tx, actor.agent_id, choice, actor=actor, reason=Reason.ACTIVE)
    else:
        raise Unprocessable.field(
            "presence", "an automatic change is 'away' (idle) or 'online' (active again)"
        )
    return await _current(tx.conn, actor.agent_id)


async def back_to_choice(tx: Tx, agent_id: UUID) -> PresenceChange | None:
    """A live connection of the agent is open: show what they chose."""
    current = await queries.current(tx.conn, agent_id, for_update=True)
    if current is None or current["presence"] == current["presence_choice"]:
        return None
    choice = Presence(current["presence_choice"])
    return await set_presence(tx, agent_id, choice, reason=Reason.CONNECTED)


async def connected(tx: Tx, agent_id: UUID, process: str) -> UUID:
    """A live socket opened: its connection row, and the agent back to their choice.

    The agent row is locked (FOR UPDATE) before the row is inserted: the insert's foreign
    key takes a key-share lock on the agent, and two sockets of one agent opening at once
    would each hold that and wait for the other's to lock for update (a deadlock)."""
    await back_to_choice(tx, agent_id)
    return await queries.connect(tx.conn, agent_id, process)


async def take_offline_gone(tx: Tx, offline_seconds: float, limit: int) -> list[PresenceChange]:
    """The offline tick's work: agents without a live connection for offline_seconds."""
    changes = []
    for agent_id in await queries.gone(tx.conn, offline_seconds, limit):
        change = await set_presence(tx, agent_id, Presence.OFFLINE, reason=Reason.DISCONNECTED)
        if change is not None:
            changes.append(change)
    return changes
