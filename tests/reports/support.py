"""Helpers of the reports tests: the consumer caught up, the rollups as rows, and an
oracle that counts straight from the raw tables (independent of reports/facts_queries)."""

from __future__ import annotations

import math
import struct
from collections import Counter
from datetime import datetime
from typing import Any
from uuid import UUID

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


_CHANNELS = ("whatsapp", "instagram", "email", "messenger")
_NIL = bytes(16)


def _uuid(raw: bytes) -> UUID | None:
    return None if raw == _NIL else UUID(bytes=raw)


async def duration_blocks(ctx: AppContext) -> Counter[Key]:
    """Every value of report_durations, unpacked here by hand (struct, not the reader):
    (kind, at in whole seconds, wall, business, channel, account, division, agent). Checks
    each block's layout on the way: its agent directory, and time order within an agent."""
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM report_durations")
    out: Counter[Key] = Counter()
    for r in rows:
        n = r["n"]
        ats = struct.unpack(f">{n}i", r["at"])
        walls = struct.unpack(f">{n}d", r["wall"])
        business = struct.unpack(f">{n}d", r["business"]) if r["business"] else (None,) * n
        channels = struct.unpack(f">{n}h", r["channel"])
        accounts = [_uuid(r["account"][16 * i : 16 * i + 16]) for i in range(n)]
        runs = [
            (_uuid(r["agent_runs"][k : k + 16]), struct.unpack(">i", r["agent_runs"][k + 16 : k + 20])[0])
            for k in range(0, len(r["agent_runs"]), 20)
        ]  # fmt: skip
        assert [a for a, _ in runs] == list(r["agents"]), r["agents"]
        assert list(r["starts"]) == [sum(c for _, c in runs[:k]) for k in range(len(runs))]
        assert sum(c for _, c in runs) == n
        agents = [a for a, c in runs for _ in range(c)]
        for i in range(1, n):
            assert agents[i] != agents[i - 1] or ats[i] >= ats[i - 1], "time order"
        day = int(r["day"].timestamp())
        for i in range(n):
            b = business[i]
            out[
                (
                    r["kind"],
                    day + ats[i],
                    round(walls[i], 6),  # date_part's epoch of an interval: last-bit noise
                    None if b is None or math.isnan(b) else b,
                    _CHANNELS[channels[i]],
                    accounts[i],
                    r["division_id"],
                    agents[i],
                )
            ] += 1
    return out


async def durations_of_cycles(ctx: AppContext) -> Counter[Key]:
    """The same tuples straight from report_cycles."""
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM report_cycles")
    out: Counter[Key] = Counter()
    for r in rows:
        for kind, at, agent, business in (
            (1, r["first_response_at"], r["responder_id"], r["frt_business"]),
            (2, r["resolved_at"], r["agent_id"], r["resolution_business"]),
        ):
            if at is None:
                continue
            wall = round((at - r["opened_at"]).total_seconds(), 6)
            key = (kind, math.floor(at.timestamp()), wall, business, r["channel"],
                   r["account_id"], r["division_id"], agent)  # fmt: skip
            out[key] += 1
    return out
