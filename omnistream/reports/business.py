"""Refreshing conversations' report facts, with their business-time durations.

The facts come from SQL (rollup_queries.recompute); the business seconds to the first
response and to the resolve are worked out here, with the business hours of the SLA policy
the conversation has now (sla/business_time.py), for the cycles of conversations that
have one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn
from omnistream.reports import duration_queries as durations
from omnistream.reports import facts_queries as queries
from omnistream.reports import rollup_queries as rollups
from omnistream.reports.duration_queries import BlockKey
from omnistream.sla.business_time import business_seconds_between
from omnistream.sla.engine import Policies


async def fill_business(conn: Conn, ids: list[UUID], policies: Policies) -> list[BlockKey]:
    """Set these conversations' business times: the keys of the duration blocks changed."""
    rows = await queries.cycles_under_policy(conn, ids)
    if not rows:
        return []
    current = await policies.current(conn)
    updates: list[tuple[UUID, int, float | None, float | None]] = []
    for r in rows:
        policy = current.get(r["policy_id"])
        if policy is None:
            continue
        start = r["opened_at"]
        frt = r["first_response_at"]
        resolved = r["resolved_at"]
        updates.append(
            (
                r["conversation_id"],
                r["cycle"],
                business_seconds_between(policy.hours, start, frt) if frt else None,
                business_seconds_between(policy.hours, start, resolved) if resolved else None,
            )
        )
    return durations.keys_of(await queries.set_business(conn, updates))


@dataclass
class Work:
    """What a batch recomputes: whole conversations; only the cycles of some (a new
    outbound message may be a first response); only some 15-minute buckets of messages (a
    new or changed message of a conversation that changed in no other way: on a busy inbox
    most of them, and a conversation's other messages are not read again); duration blocks
    to rebuild though no cycle of theirs changed (report_durations_dirty)."""

    whole: set[UUID] = field(default_factory=set)
    cycles: set[UUID] = field(default_factory=set)
    buckets: set[tuple[UUID, datetime]] = field(default_factory=set)
    blocks: set[BlockKey] = field(default_factory=set)

    @classmethod
    def of(cls, touched: Sequence[asyncpg.Record], dirty: Sequence[UUID] = ()) -> Work:
        """From facts_queries.touched_between's rows and conversations queued as dirty."""
        work = cls(whole=set(dirty))
        for row in touched:
            if row["bucket"] is None:
                work.whole.add(row["id"])
            else:
                work.buckets.add((row["id"], row["bucket"]))
                if row["outbound_new"]:
                    work.cycles.add(row["id"])
        work.cycles -= work.whole
        work.buckets = {k for k in work.buckets if k[0] not in work.whole}
        return work

    @classmethod
    def whole_of(cls, ids: Sequence[UUID]) -> Work:
        return cls(whole=set(ids))


async def refresh(conn: Conn, work: Work, policies: Policies) -> None:
    """Recompute what `work` names (the rollups and duration blocks follow), business time
    included."""
    whole, cycles = sorted(work.whole), sorted(work.cycles)
    blocks = set(work.blocks)
    blocks.update(await rollups.recompute(conn, whole))
    blocks.update(await rollups.recompute_cycles(conn, cycles))
    await rollups.recompute_buckets(conn, sorted(work.buckets))
    if whole or cycles:
        blocks.update(await fill_business(conn, whole + cycles, policies))
    await durations.build(conn, blocks)
