"""Rules about the automatic assignment settings (admins): which divisions take part, the
global setting for conversations without a division, and each agent's capacity.

Every change is audited and announced to admins as assignment_settings.updated, which also
wakes the assignment consumer (a division switched on, a capacity raised: it drains)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from omnistream.activity.service import record
from omnistream.assignment import queries
from omnistream.assignment.schemas import (
    AgentCapacities,
    AgentCapacity,
    AgentCapacityIn,
    AssignmentSettings,
    AssignmentSettingsIn,
    DivisionSetting,
)
from omnistream.auth.principal import Principal
from omnistream.conversations.visibility import ADMINS
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.errors import NotFound, Unprocessable


async def get_settings(conn: Conn) -> AssignmentSettings:
    global_row = await queries.global_setting(conn)
    return AssignmentSettings(
        global_enabled=bool(global_row and global_row["enabled"]),
        divisions=[DivisionSetting(**dict(r)) for r in await queries.settings(conn)],
    )


async def _announce(tx: Tx, actor: Principal, data: dict[str, Any]) -> None:
    await emit(tx.conn, EventType.ASSIGNMENT_SETTINGS_UPDATED, data, actor=actor, audience=[ADMINS])


async def _switch(tx: Tx, actor: Principal, division_id: UUID | None, enabled: bool) -> bool:
    """Store a setting that differs (a repeat writes nothing); whether it did."""
    if await queries.lock_setting(tx.conn, division_id) == enabled:
        return False
    await queries.save_setting(tx.conn, division_id, enabled, actor.agent_id)
    return True


async def update_settings(
    tx: Tx, actor: Principal, body: AssignmentSettingsIn
) -> AssignmentSettings:
    """Checks every division first (nothing is written when one is wrong), then stores what
    changed; one activity entry and one event for the whole change, none when nothing did."""
    seen: set[UUID] = set()
    for i, item in enumerate(body.divisions):
        where = f"divisions[{i}].division_id"
        if item.division_id in seen:
            raise Unprocessable.field(where, "the division is listed twice")
        seen.add(item.division_id)
        if not await queries.division_exists(tx.conn, item.division_id):
            raise Unprocessable.field(where, f"no division with id {item.division_id}")
    changes: dict[str, Any] = {}
    if body.global_enabled is not None and await _switch(tx, actor, None, body.global_enabled):
        changes["global_enabled"] = body.global_enabled
    changed_divisions = {
        str(item.division_id): item.enabled
        for item in body.divisions
        if await _switch(tx, actor, item.division_id, item.enabled)
    }
    if changed_divisions:
        changes["divisions"] = changed_divisions
    if changes:
        await record(tx.conn, actor, "update_assignment_settings", None, None, changes=changes)
        await _announce(tx, actor, {"changes": changes})
    return await get_settings(tx.conn)


def _capacity(row: Any) -> AgentCapacity:
    return AgentCapacity(
        agent_id=row["id"],
        name=row["name"],
        email=row["email"],
        role=row["role"],
        presence=row["presence"],
        capacity=row["capacity"],
        channels=dict(row["channels"]),
        open=row["open"],
    )


async def capacities(conn: Conn) -> AgentCapacities:
    return AgentCapacities(items=[_capacity(r) for r in await queries.capacities(conn)])


async def set_capacity(
    tx: Tx, actor: Principal, agent_id: UUID, body: AgentCapacityIn
) -> AgentCapacity:
    current = await queries.lock_agent(tx.conn, agent_id)
    if current is None:
        raise NotFound(f"no agent with id {agent_id}")
    channels = {str(k): v for k, v in body.channels.items()}
    previous_channels = await queries.channel_capacities(tx.conn, agent_id)
    if current["capacity"] != body.capacity or previous_channels != channels:
        await queries.set_capacity(tx.conn, agent_id, body.capacity)
        await queries.replace_channel_capacities(tx.conn, agent_id, channels)
        details = {
            "capacity": body.capacity,
            "channels": channels,
            "previous_capacity": current["capacity"],
            "previous_channels": previous_channels,
        }
        await record(tx.conn, actor, "set_agent_capacity", "agent", agent_id, **details)
        await _announce(tx, actor, {"agent_id": str(agent_id), **details})
    rows = await queries.capacities(tx.conn, [agent_id])
    return _capacity(rows[0])
