"""Automatic assignment itself: drains the waiting queues of the divisions that take part.

Per division switched on (and the conversations without a division, when the global
setting is on), oldest waiting first: each conversation goes to the online member with the
fewest open conversations who is under their capacity (in all, and on the conversation's
channel where a per-channel capacity is set); among equals, round robin (the one whose last
automatic assignment is the oldest). That fills everyone up evenly ("water-filling"): no
agent gets a second conversation more than anyone who has room.

Runs only inside the assignment consumer's transaction, which holds the consumer's position
row: one drain at a time, however many workers. The pool's agent rows are locked while
their load is counted, and each waiting conversation is locked (SKIP LOCKED: one an API
request holds now is left for the next drain) and assigned only while still unassigned, so
a manual assignment racing this one never gives a conversation two assignees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from omnistream.assignment import queries
from omnistream.conversations.service import payload
from omnistream.conversations.visibility import state
from omnistream.db.pool import Conn
from omnistream.events.outbox import SYSTEM_ACTOR, Draft, emit_many
from omnistream.events.types import EventType

RULE = "fewest_open_round_robin"
BATCH_SIZE = 500  # conversations assigned per division per transaction at most
EXTRA_FETCH = 20  # waiting rows read beyond the free capacity (some may be blocked by channel)


@dataclass(slots=True)
class Candidate:
    """An agent of the pool as the drain sees them (their load grows as it assigns)."""

    id: UUID
    capacity: int
    turn: int
    channel_capacity: dict[str, int]
    open_by_channel: dict[str, int] = field(default_factory=dict)

    @property
    def open(self) -> int:
        return sum(self.open_by_channel.values())

    def room(self) -> int:
        return max(0, self.capacity - self.open)

    def fits(self, channel: str) -> bool:
        limit = self.channel_capacity.get(channel)
        on_channel = self.open_by_channel.get(channel, 0)
        return self.open < self.capacity and (limit is None or on_channel < limit)

    @classmethod
    def of(cls, row: asyncpg.Record) -> Candidate:
        return cls(
            id=row["id"],
            capacity=row["capacity"],
            turn=row["turn"],
            channel_capacity=dict(row["channel_capacity"]),
            open_by_channel=dict(row["open_by_channel"]),
        )


def choose(candidates: list[Candidate], channel: str) -> Candidate | None:
    """Fewest open first, then the longest since their last automatic assignment."""
    fitting = [c for c in candidates if c.fits(channel)]
    if not fitting:
        return None
    return min(fitting, key=lambda c: (c.open, c.turn, c.id.bytes))


@dataclass(slots=True)
class Drained:
    assigned: int = 0
    more: bool = False  # a division had a full batch: more may be waiting


async def drain(conn: Conn, limit: int = BATCH_SIZE) -> Drained:
    """Assign what can be assigned now, in the caller's transaction."""
    done = Drained()
    scopes = await queries.enabled_scopes(conn)
    if not scopes:
        return done
    turn = await queries.last_turn(conn)
    for division_id in scopes:
        assigned, full, turn = await _drain_scope(conn, division_id, limit, turn)
        done.assigned += assigned
        done.more = done.more or full
    return done


async def _drain_scope(
    conn: Conn, division_id: UUID | None, limit: int, turn: int
) -> tuple[int, bool, int]:
    """(assigned, whether the batch was full, the last turn handed out)."""
    candidates = [Candidate.of(r) for r in await queries.pool(conn, division_id)]
    free = sum(c.room() for c in candidates)
    if free == 0:
        return 0, False, turn
    fetch = min(limit, free + EXTRA_FETCH)
    waiting = await queries.waiting(conn, division_id, fetch)
    picks: list[tuple[UUID, Candidate, dict[str, Any]]] = []
    for row in waiting:
        chosen = choose(candidates, row["channel"])
        if chosen is None:
            continue  # nobody has room on this channel: it waits
        turn += 1
        rule = {
            "automatic": True,
            "rule": RULE,
            "scope": "division" if division_id is not None else "global",
            "division_id": division_id,
            "open_before": chosen.open,
            "capacity": chosen.capacity,
            "channel_capacity": chosen.channel_capacity.get(row["channel"]),
        }
        chosen.open_by_channel[row["channel"]] = chosen.open_by_channel.get(row["channel"], 0) + 1
        chosen.turn = turn
        picks.append((row["id"], chosen, rule))
    if picks:
        await _write(conn, division_id, picks)
    return len(picks), len(waiting) >= fetch == limit, turn


async def _write(
    conn: Conn, division_id: UUID | None, picks: list[tuple[UUID, Candidate, dict[str, Any]]]
) -> None:
    """The assignments, with the events and activity entries a manual one writes (actor:
    the system; metadata naming the rule), and the agents' turns."""
    rows = await queries.assign(conn, [p[0] for p in picks], [p[1].id for p in picks])
    by_id = {r["id"]: r for r in rows}
    drafts: list[Draft] = []
    entries: list[tuple[UUID, str]] = []
    for conversation_id, chosen, rule in picks:
        after = by_id.get(conversation_id)
        if after is None:  # cannot happen while it is locked; never assign twice regardless
            continue
        details = {"previous_agent_id": None, "agent_id": chosen.id, **rule}
        drafts.append(
            Draft(
                EventType.CONVERSATION_ASSIGNED,
                {"conversation": payload(after), **details},
                SYSTEM_ACTOR,
                conversation_id,
                [state(division_id, None), state(division_id, chosen.id)],
            )
        )
        entries.append((conversation_id, _json(details)))
    await emit_many(conn, drafts)
    await queries.record_assignments(conn, [e[0] for e in entries], [e[1] for e in entries])
    last = {chosen.id: chosen.turn for _, chosen, _ in picks}
    await queries.save_turns(conn, list(last), list(last.values()))


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(
        {k: str(v) if isinstance(v, UUID) else v for k, v in value.items()}
    ).decode()
