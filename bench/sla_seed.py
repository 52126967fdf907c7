"""The SLA benches' database (bench/sla.py): the inbox seed of bench/seed.py, then a 24/7
default SLA policy and a running clock on every conversation, as the SLA consumer would
have stored it.

The seed leaves 70 % of its conversations resolved; they are reopened (status open,
resolved_at NULL), so that every one of the seed's conversations carries a running clock
(the figure's premise: 1,000,000 open conversations with clocks). The clocks, per
conversation (a hash of its id picks the kind and where in its wait it is, so runs repeat):

- 10 % still wait for the first response: started within the last 0.8 x first_response
  minutes less MARGIN, so the next check (the first-response warning at 80 %) comes between
  MARGIN and ~6 h from now;
- 90 % were answered: the next check is the resolution warning, between MARGIN and ~2.4
  days from now.

Nothing is due for MARGIN minutes: a breach-loop pass finds no row, and the due-minute
figure's breaches are the only ones. The columns are written with the conversations'
secondary indexes dropped and rebuilt afterwards with their own statements (as seed.py
does), then VACUUM FULL (the UPDATE doubled the heap) and ANALYZE. A sample of clocks is
evaluated by omnistream.sla.clock and must come out unchanged (consistency check).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import harness
import seed as inbox_seed

from omnistream.db.pool import init_connection
from omnistream.sla import queries as sla_queries
from omnistream.sla.clock import Clock, Policy

FIRST_RESPONSE_MINUTES = 480  # 8 h
RESOLUTION_MINUTES = 4320  # 3 days
WARNING_PERCENT = 80
MARGIN_MINUTES = 60  # nothing is due before now + this
POLICY_NAME = "Bench default 24/7"
ALWAYS = {"timezone": "Asia/Jakarta", "always": True, "weekly": {}, "holidays": []}
CHECK_SAMPLE = 2000

# A fraction in [0, 1) from a conversation's id (salt: which fraction).
FRACTION = "((hashtextextended(c.id::text, {salt}) & 1048575)::float8 / 1048576)"

CLOCKS_SQL = f"""
WITH k AS (
    SELECT c.id, {FRACTION.format(salt=1)} < 0.1 AS waiting, {FRACTION.format(salt=2)} AS u
      FROM conversations c
), s AS (
    SELECT id, waiting,
           $1::timestamptz - make_interval(secs => u * 60 * CASE WHEN waiting
               THEN $3::int * $5::float8 / 100 - $6::int
               ELSE $4::int * $5::float8 / 100 - $6::int END) AS started
      FROM k
), moved AS (
    UPDATE conversations c
       SET status = 'open', resolved_at = NULL,
           sla_policy_id = $2, sla_division_id = c.division_id, sla_cycle = 1,
           sla_started_at = s.started,
           sla_first_response_at = CASE WHEN s.waiting THEN NULL
                                        ELSE least(s.started + interval '5 minutes', $1) END,
           sla_waiting_since = NULL,
           sla_first_response_due_at = CASE WHEN s.waiting
                                            THEN s.started + make_interval(mins => $3::int)
                                       END,
           sla_next_response_due_at = NULL,
           sla_resolution_due_at = s.started + make_interval(mins => $4::int),
           sla_warned = '{{}}', sla_breached = '{{}}'
      FROM s WHERE c.id = s.id
    RETURNING c.id, s.started, s.waiting
)
INSERT INTO sla_schedule (conversation_id, check_at, due_at)
SELECT id,
       started + make_interval(
           secs => 60 * $5::float8 / 100 * CASE WHEN waiting THEN $3::int ELSE $4::int END),
       started + make_interval(mins => CASE WHEN waiting THEN $3::int ELSE $4::int END)
  FROM moved
ON CONFLICT (conversation_id)
   DO UPDATE SET check_at = EXCLUDED.check_at, due_at = EXCLUDED.due_at
"""


async def create_policy(conn: asyncpg.Connection[Any]) -> UUID:
    """The default policy (every channel, every division), 24/7."""
    policy: UUID = await conn.fetchval(
        """
        INSERT INTO sla_policies (name, first_response_minutes, resolution_minutes,
                                  warning_percent, business_hours)
        VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id
        """,
        POLICY_NAME,
        FIRST_RESPONSE_MINUTES,
        RESOLUTION_MINUTES,
        WARNING_PERCENT,
        ALWAYS,
    )
    return policy


async def current_policies(conn: asyncpg.Connection[Any]) -> dict[UUID, Policy]:
    return {r["id"]: Policy.of(r) for r in await sla_queries.policies(conn)}


async def clocks_unchanged(
    conn: asyncpg.Connection[Any], ids: list[UUID] | None, sample: int = CHECK_SAMPLE
) -> int:
    """Evaluates the clocks of `ids` (else a sample of all) at the database's time with
    omnistream.sla.clock, as the breach loop would: none may change or alert. How many."""
    if ids is None:
        ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM conversations TABLESAMPLE SYSTEM (5) LIMIT $1", sample
            )
        ]
    async with conn.transaction():
        rows, now = await sla_queries.read_clocks(conn, ids, lock=True)
    policies = await current_policies(conn)
    for row in rows:
        clock = Clock.of(row)
        stored = clock.columns()
        alerts = clock.evaluate(policies, now)
        if alerts or clock.columns() != stored:
            raise harness.BenchError(
                f"the clock of {row['id']} is not what the consumer would store: "
                f"{stored} -> {clock.columns()} ({alerts})"
            )
    return len(rows)


async def prepare(dsn: str, scale: float, seed_value: int) -> dict[str, Any]:
    """bench/seed.py into the (empty) database at `dsn`, then the policy and the clocks."""
    seeded = await inbox_seed.seed(
        argparse.Namespace(database_url=dsn, replace=False, scale=scale, seed=seed_value)
    )
    started = time.monotonic()
    steps: dict[str, float] = {}
    conn_a, conn_b = await harness.connect(dsn), await harness.connect(dsn)
    try:
        for conn in (conn_a, conn_b):
            await conn.execute(inbox_seed.SESSION_SQL)
            await init_connection(conn)
        mark = time.monotonic()
        secondary = await conn_a.fetch(
            inbox_seed.SECONDARY_INDEXES, ["conversations", "sla_schedule"]
        )
        with harness.console.status("SLA clocks: one running clock per conversation"):
            policy = await create_policy(conn_a)
            async with conn_a.transaction():
                for r in secondary:
                    await conn_a.execute(f'DROP INDEX "{r["indexname"]}"')
            now: datetime = await conn_a.fetchval("SELECT clock_timestamp()")
            updated = await conn_a.execute(
                CLOCKS_SQL,
                now,
                policy,
                FIRST_RESPONSE_MINUTES,
                RESOLUTION_MINUTES,
                WARNING_PERCENT,
                MARGIN_MINUTES,
            )
            steps["update_clocks"] = time.monotonic() - mark
            mark = time.monotonic()
            await conn_a.execute("VACUUM FULL conversations")
            steps["vacuum_full"] = time.monotonic() - mark
        mark = time.monotonic()
        with harness.progress(counts=True) as progress:
            task = progress.add_task("conversations' indexes", total=len(secondary))
            queue = inbox_seed._order(secondary, "conversations") + inbox_seed._order(
                secondary, "sla_schedule"
            )

            async def build(conn: asyncpg.Connection[Any]) -> None:
                while queue:
                    _, sql = queue.pop(0)
                    await conn.execute(sql)
                    progress.advance(task, 1)

            await asyncio.gather(build(conn_a), build(conn_b))
        steps["indexes"] = time.monotonic() - mark
        mark = time.monotonic()
        await conn_a.execute("VACUUM (ANALYZE) conversations, sla_schedule")
        await conn_a.execute("ANALYZE sla_policies")
        steps["vacuum_analyze"] = time.monotonic() - mark
        facts = await conn_a.fetchrow(
            """
            SELECT count(*) AS conversations,
                   count(*) FILTER (WHERE c.status = 'open') AS open,
                   count(s.check_at) AS running_clocks,
                   count(*) FILTER (WHERE c.sla_first_response_at IS NULL) AS awaiting_first,
                   extract(epoch FROM min(s.check_at) - $1)::float8 AS first_check_in_s,
                   extract(epoch FROM max(s.check_at) - $1)::float8 AS last_check_in_s,
                   pg_size_pretty(pg_relation_size('sla_schedule_check_idx')) AS check_idx
              FROM conversations c LEFT JOIN sla_schedule s ON s.conversation_id = c.id
            """,
            now,
        )
        assert facts is not None
        checked = await clocks_unchanged(conn_a, None)
    finally:
        await conn_a.close()
        await conn_b.close()
    return {
        "seed": {
            "total_s": seeded["total_s"],
            "rows": seeded["rows"],
            "scale": scale,
        },
        "policy": {
            "id": str(policy),
            "name": POLICY_NAME,
            "first_response_minutes": FIRST_RESPONSE_MINUTES,
            "resolution_minutes": RESOLUTION_MINUTES,
            "warning_percent": WARNING_PERCENT,
            "business_hours": ALWAYS,
        },
        "clocks": {
            "updated": int(updated.split()[-1]),
            **{k: (round(v, 1) if isinstance(v, float) else v) for k, v in dict(facts).items()},
            "sample_evaluated_unchanged": checked,
        },
        "setup_seconds": {k: round(v, 2) for k, v in steps.items()}
        | {"total": round(time.monotonic() - started, 2)},
    }
