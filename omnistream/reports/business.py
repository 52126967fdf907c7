"""Refreshing conversations' report facts, with their business-time durations.

The facts come from SQL (rollup_queries.recompute); the business seconds to the first
response and to the resolve are worked out here, with the business hours of the SLA policy
the conversation has now (sla/business_time.py), for the cycles of conversations that
have one.
"""

from __future__ import annotations

from uuid import UUID

from omnistream.db.pool import Conn
from omnistream.reports import facts_queries as queries
from omnistream.reports import rollup_queries as rollups
from omnistream.sla.business_time import business_seconds_between
from omnistream.sla.engine import Policies


async def fill_business(conn: Conn, ids: list[UUID], policies: Policies) -> None:
    rows = await queries.cycles_under_policy(conn, ids)
    if not rows:
        return
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
    await queries.set_business(conn, updates)


async def refresh(conn: Conn, ids: list[UUID], policies: Policies) -> None:
    """Recompute these conversations' facts (the rollups follow), business time included."""
    if not ids:
        return
    await rollups.recompute(conn, ids)
    await fill_business(conn, ids, policies)
