"""What the SLA consumer and the breach loop share: the policies (cached while unchanged),
and settling a batch of clocks in the caller's transaction: their columns written back,
breaches logged once per (conversation, cycle, type), and the events.

Events: `conversation.updated` when what a conversation shows of its SLA changed (policy,
due times), to everyone who sees it; `sla.warning` and `sla.breached` to its assignee, its
division's supervisors and admins (an unassigned conversation's alerts reach no agent: the
audience entry names it assigned to NOBODY, see visibility.supervisors_of).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.conversations.service import audience_of
from omnistream.conversations.service import payload as conversation_payload
from omnistream.conversations.visibility import NOBODY, state
from omnistream.db.pool import Conn
from omnistream.events.outbox import Draft, emit_many
from omnistream.events.types import EventType
from omnistream.sla import queries
from omnistream.sla.clock import Alert, Clock, Policy


@dataclass(frozen=True)
class Settled:
    """What settle() did: alerts sent, and the clocks someone wrote meanwhile (not written:
    the caller reads them again, locked, and redoes them)."""

    alerts: int
    stale: list[UUID]


@dataclass
class Policies:
    """The policies by id, read again when the table changed (one cheap query per batch)."""

    version: Any = None
    by_id: dict[UUID, Policy] | None = None

    async def current(self, conn: Conn) -> dict[UUID, Policy]:
        version = await queries.policies_version(conn)
        if self.by_id is None or version != self.version:
            self.by_id = {row["id"]: Policy.of(row) for row in await queries.policies(conn)}
            self.version = version
        return self.by_id


def _shown(clock: Clock) -> tuple[Any, ...]:
    """What a conversation shows of its SLA (a change is announced)."""
    return clock.policy_id, tuple(sorted(clock.dues.items())), clock.due_at


def alert_audience(row: asyncpg.Record | Clock) -> list[dict[str, Any]]:
    division = row.division_id if isinstance(row, Clock) else row["division_id"]
    agent = row.assigned_agent_id if isinstance(row, Clock) else row["assigned_agent_id"]
    entry = state(division, agent)
    if agent is None:
        entry["assigned_agent_id"] = NOBODY
    return [entry]


async def settle(
    conn: Conn,
    clocks: list[Clock],
    before: dict[UUID, tuple[Any, ...]],
    stored: dict[UUID, tuple[Any, ...]],
    alerts: dict[UUID, list[Alert]],
) -> Settled:
    """Write the clocks that changed (`stored`: their columns as read), each only if nobody
    wrote it since it was read (its version), log their breaches and emit the events."""
    changed = [c for c in clocks if c.columns() != stored.get(c.id)]
    if not changed:
        return Settled(0, [])
    touch = [_shown(c) != before.get(c.id) for c in changed]
    rows = await queries.store(
        conn,
        [c.id for c in changed],
        [c.version for c in changed],
        [c.columns() for c in changed],
        touch,
    )
    by_id = {r["id"]: r for r in rows}
    stale = [c.id for c in changed if c.id not in by_id]
    changed = [c for c in changed if c.id in by_id]
    breaches = [
        (c.id, a.policy.id, a.policy.name, c.cycle, a.target, a.due_at, c.division_id,
         c.assigned_agent_id)
        for c in changed
        for a in alerts.get(c.id, ())
        if a.kind == "breached"
    ]  # fmt: skip
    logged = await queries.log_breaches(conn, breaches)
    drafts: list[Draft] = []
    sent = 0
    for clock in changed:
        row = by_id[clock.id]
        conversation = conversation_payload(row)
        if row["touch"]:
            drafts.append(
                Draft(EventType.CONVERSATION_UPDATED, {"conversation": conversation}, None,
                      clock.id, audience_of(row))
            )  # fmt: skip
        for alert in alerts.get(clock.id, ()):
            if alert.kind == "breached" and (clock.id, alert.target) not in logged:
                continue  # logged before (another worker, an earlier cycle's replay)
            kind = EventType.SLA_BREACHED if alert.kind == "breached" else EventType.SLA_WARNING
            data = {
                "conversation": conversation,
                "target": alert.target,
                "due_at": alert.due_at,
                "cycle": clock.cycle,
                "policy": {"id": alert.policy.id, "name": alert.policy.name},
            }
            drafts.append(Draft(kind, data, None, clock.id, alert_audience(row)))
            sent += 1
    await emit_many(conn, drafts)
    return Settled(sent, stale)


def snapshot(
    clocks: list[Clock],
) -> tuple[dict[UUID, tuple[Any, ...]], dict[UUID, tuple[Any, ...]]]:
    """(what each shows, its stored columns) as read: settle() compares against them."""
    return {c.id: _shown(c) for c in clocks}, {c.id: c.columns() for c in clocks}


async def evaluate_all(
    conn: Conn, clocks: list[Clock], policies: dict[UUID, Policy], now: datetime,
    before: dict[UUID, tuple[Any, ...]], stored: dict[UUID, tuple[Any, ...]],
) -> Settled:  # fmt: skip
    alerts = {c.id: c.evaluate(policies, now) for c in clocks}
    return await settle(conn, clocks, before, stored, {k: v for k, v in alerts.items() if v})
