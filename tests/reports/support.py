"""Helpers of the reports tests: the consumer caught up, the rollups as rows, and an
oracle that counts straight from the raw tables (independent of reports/facts_queries)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from omnistream.context import AppContext
from omnistream.events.dispatcher import publish_pending
from omnistream.reports.worker import catch_up

COUNTERS = (
    "opened", "reopened", "resolved", "inbound", "outbound",
    "pending", "sent", "delivered", "read", "failed",
)  # fmt: skip
Key = tuple[Any, ...]


async def settle(ctx: AppContext) -> None:
    """Publish what was written and let the reports consumer take all of it."""
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)
    await catch_up(ctx.pool)


async def rollups(ctx: AppContext) -> dict[Key, dict[str, int]]:
    """(grain, bucket, channel, account, division, agent) -> its non-zero counters."""
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM report_rollups")
    out: dict[Key, dict[str, int]] = {}
    for r in rows:
        counts = {c: r[c] for c in COUNTERS if r[c]}
        if counts:
            key = (
                r["grain"],
                r["bucket"],
                r["channel"],
                r["account_id"],
                r["division_id"],
                r["agent_id"],
            )
            out[key] = counts
    return out


async def failure_rollups(ctx: AppContext) -> dict[Key, int]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM report_failure_rollups WHERE failed <> 0")
    return {
        (
            r["grain"],
            r["bucket"],
            r["channel"],
            r["account_id"],
            r["division_id"],
            r["agent_id"],
            r["code"],
        ): r["failed"]
        for r in rows
    }


def bucket(at: datetime) -> datetime:
    """The 15-minute bucket (UTC) a moment falls in."""
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def _grains(key: tuple[Any, ...]) -> list[Key]:
    at, channel, account, division, agent = key
    return [
        (0, at, channel, account, None, None),
        (1, at, channel, account, division, None),
        (2, at, channel, account, division, agent),
        (3, at.replace(hour=0, minute=0), channel, account, division, agent),  # per UTC day
    ]


async def oracle(ctx: AppContext) -> dict[Key, dict[str, int]]:
    """The rollups counted by hand from conversations, messages and the activity log."""
    async with ctx.pool.acquire() as conn:
        conversations = await conn.fetch("SELECT * FROM conversations")
        messages = await conn.fetch("SELECT * FROM messages WHERE type <> 'system'")
        marks = await conn.fetch(
            "SELECT target_id, action, created_at FROM activity_logs "
            "WHERE action IN ('resolve_conversation', 'reopen_conversation') ORDER BY created_at"
        )
    counts: dict[Key, Counter[str]] = {}

    def add(key: tuple[Any, ...], counter: str) -> None:
        for k in _grains(key):
            counts.setdefault(k, Counter())[counter] += 1

    by_id = {c["id"]: c for c in conversations}
    for c in conversations:
        dims = (c["channel"], c["integration_account_id"], c["division_id"], c["assigned_agent_id"])
        history = [m for m in marks if m["target_id"] == c["id"]]
        starts = [c["created_at"]] + [
            m["created_at"] for m in history
            if m["action"] == "reopen_conversation" and m["created_at"] > c["created_at"]
        ]  # fmt: skip
        for i, start in enumerate(starts):
            add((bucket(start), *dims), "opened" if i == 0 else "reopened")
            if i + 1 < len(starts):
                ends = [
                    m["created_at"] for m in history
                    if m["action"] == "resolve_conversation" and start <= m["created_at"] <= starts[i + 1]
                ]  # fmt: skip
                end = max(ends) if ends else starts[i + 1]
            else:
                end = c["resolved_at"]
            if end is not None:
                add((bucket(end), *dims), "resolved")
    for m in messages:
        c = by_id[m["conversation_id"]]
        outbound = m["direction"] == "outbound"
        agent = m["sender_agent_id"] if outbound else c["assigned_agent_id"]
        key = (
            bucket(m["created_at"]),
            c["channel"],
            c["integration_account_id"],
            c["division_id"],
            agent,
        )
        add(key, m["direction"])
        if outbound:
            add(key, m["status"])
    return {k: dict(v) for k, v in counts.items()}


async def cycles_as_stored_and_recomputed(ctx: AppContext) -> tuple[set[Any], set[Any]]:
    """report_cycles as the consumer left it, and as a recomputation from raw rows gives."""
    from omnistream.reports.raw_queries import BY_IDS, CYCLE_COLUMNS, cycles_sql

    async with ctx.pool.acquire() as conn:
        stored = await conn.fetch(f"SELECT {CYCLE_COLUMNS} FROM report_cycles")
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM conversations")]
        fresh = await conn.fetch(cycles_sql(BY_IDS), ids)
    return {tuple(r.values()) for r in stored}, {tuple(r.values()) for r in fresh}
