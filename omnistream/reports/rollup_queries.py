"""The reports' facts written and the rollups moved with them (issue 15).

`recompute` deletes a set of conversations' facts (report_cycles, report_messages) and
inserts them anew from raw rows (raw_queries.py) in ONE statement per table, and in that
same statement moves the rollups by the difference (new minus old), so the rollups always
equal the facts summed, which equal a recomputation from raw data. The full rebuild inserts
every fact, then sums the rollups in one pass per grain (`sum_rollups`): grain 2 from the
facts, and grains 1, 0 and 3 from grain 2 (the same sums, fewer rows to read).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from omnistream.db.pool import Conn
from omnistream.reports import duration_queries as durations
from omnistream.reports.duration_queries import KEYS_OF_ROW, BlockKey
from omnistream.reports.raw_queries import (
    BUCKET_KEYS,
    BY_IDS,
    BY_RANGE,
    CYCLE_COLUMNS,
    MESSAGE_COLUMNS,
    bucket_messages_sql,
    bucket_of,
    cycles_sql,
    messages_sql,
)

COUNTERS = (
    "opened", "reopened", "resolved", "inbound", "outbound",
    "pending", "sent", "delivered", "read", "failed",
)  # fmt: skip
DIMS = "bucket, channel, account_id, division_id, agent_id"
FACT_TABLES = ("report_cycles", "report_messages")
ROLLUP_TABLES = ("report_rollups", "report_failure_rollups", "report_durations")
REBUILD_TIMEOUT = 3600.0  # seconds a rebuild's statement may take (the pool's default: 60)
_DAY = "date_bin('1 day', p.bucket, timestamptz '2000-01-01 00:00:00+00')"


# --- Facts to rollup points (one definition for the delta and the full sum) ----------------


def cycle_points(source: str, sign: str = "1") -> str:
    """A cycle's counters: opened (the first cycle) or reopened at its start, resolved at
    its end."""
    zeros = ", ".join("0" for _ in COUNTERS[3:])
    return f"""
        SELECT {bucket_of("opened_at")} AS bucket, channel, account_id, division_id, agent_id,
               {sign} * (cycle = 1)::int AS opened, {sign} * (cycle > 1)::int AS reopened,
               0 AS resolved, {zeros} FROM {source}
        UNION ALL
        SELECT {bucket_of("resolved_at")}, channel, account_id, division_id, agent_id,
               0, 0, {sign}, {zeros} FROM {source} WHERE resolved_at IS NOT NULL
    """


def message_points(source: str, sign: str = "1") -> str:
    counted = ", ".join(f"{sign} * {c}" for c in COUNTERS[3:])
    return f"SELECT {DIMS}, 0, 0, 0, {counted} FROM {source}"


def failure_points(source: str, sign: str = "1") -> str:
    return f"SELECT {DIMS}, code, {sign} * failed FROM {source} WHERE code IS NOT NULL"


def _grains(values: tuple[int, ...]) -> str:
    return "(VALUES " + ", ".join(f"({g}::smallint)" for g in values) + ") g(grain)"


# A point's key at each grain: 0 channel + account, 1 + division, 2 + agent, 3 = 2 per day.
_GRAIN_KEY = (
    f"g.grain, CASE WHEN g.grain = 3 THEN {_DAY} ELSE p.bucket END, p.channel, p.account_id, "
    "CASE WHEN g.grain >= 1 THEN p.division_id END, "
    "CASE WHEN g.grain >= 2 THEN p.agent_id END"
)


def _rollup_upsert(points: str, grains: tuple[int, ...] = (0, 1, 2, 3)) -> str:
    sums = ", ".join(f"sum({c})::int" for c in COUNTERS)
    nonzero = " OR ".join(f"sum({c}) <> 0" for c in COUNTERS)
    adds = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTERS)
    return f"""
        INSERT INTO report_rollups AS r (grain, {DIMS}, {", ".join(COUNTERS)})
        SELECT {_GRAIN_KEY}, {sums}
          FROM ({points}) p ({DIMS}, {", ".join(COUNTERS)}) CROSS JOIN {_grains(grains)}
         GROUP BY 1, 2, 3, 4, 5, 6 HAVING {nonzero}
        ON CONFLICT (grain, {DIMS}) DO UPDATE SET {adds}
    """


def _failure_upsert(points: str, *, upsert: bool = True) -> str:
    conflict = (
        f"ON CONFLICT (grain, {DIMS}, code) DO UPDATE SET failed = r.failed + excluded.failed"
        if upsert
        else ""
    )
    return f"""
        INSERT INTO report_failure_rollups AS r (grain, {DIMS}, code, failed)
        SELECT {_GRAIN_KEY}, p.code, sum(p.failed)::int
          FROM ({points}) p ({DIMS}, code, failed) CROSS JOIN {_grains((0, 1, 2))}
         GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(p.failed) <> 0
        {conflict}
    """


_OLD_BY_IDS = "DELETE FROM {table} WHERE conversation_id = ANY($1::uuid[]) RETURNING {columns}"
_OLD_BY_BUCKETS = (
    "DELETE FROM {table} r USING (" + BUCKET_KEYS + ") k "
    "WHERE r.conversation_id = k.id AND r.bucket = k.bucket RETURNING {returning}"
)


def _recompute(
    table: str, columns: str, raw: str, points: Callable[[str, str], str], old: str = _OLD_BY_IDS
) -> str:
    both = f"{points('old', '-1')} UNION ALL {points('new', '1')}"
    failures = ""
    if table == "report_messages":
        both_failures = f"{failure_points('old', '-1')} UNION ALL {failure_points('new')}"
        failures = f", failures AS ({_failure_upsert(both_failures)})"
    returning = ", ".join(f"r.{c.strip()}" for c in columns.split(","))
    deleted = old.format(table=table, columns=columns, returning=returning)
    if table != "report_cycles":
        return f"""
            WITH old AS ({deleted}),
                 new AS (INSERT INTO {table} ({columns}) {raw} RETURNING {columns}){failures}
            {_rollup_upsert(both)}
        """
    # The duration blocks of every cycle that changed (reports/duration_queries.py).
    return f"""
        WITH old AS ({deleted}),
             new AS (INSERT INTO {table} ({columns}) {raw} RETURNING {columns}),
             moved AS ({_rollup_upsert(both)}),
             changed AS ((SELECT * FROM old EXCEPT ALL SELECT * FROM new)
                         UNION ALL (SELECT * FROM new EXCEPT ALL SELECT * FROM old))
        SELECT DISTINCT k.* FROM changed r CROSS JOIN LATERAL ({KEYS_OF_ROW}) k
    """


RECOMPUTE_CYCLES = _recompute("report_cycles", CYCLE_COLUMNS, cycles_sql(BY_IDS), cycle_points)
RECOMPUTE_MESSAGES = _recompute(
    "report_messages", MESSAGE_COLUMNS, messages_sql(BY_IDS), message_points
)
RECOMPUTE_BUCKETS = _recompute(
    "report_messages", MESSAGE_COLUMNS, bucket_messages_sql(), message_points, _OLD_BY_BUCKETS
)
_INSERT_RANGE = (
    f"INSERT INTO report_cycles ({CYCLE_COLUMNS}) {cycles_sql(BY_RANGE)}",
    f"INSERT INTO report_messages ({MESSAGE_COLUMNS}) {messages_sql(BY_RANGE)}",
)


async def recompute(conn: Conn, ids: list[UUID]) -> list[BlockKey]:
    """Recompute these conversations' facts from their raw rows and move the rollups by the
    difference (a deleted conversation's facts go, and its counts with them): the keys of
    the duration blocks whose values changed."""
    if not ids:
        return []
    keys = durations.keys_of(await conn.fetch(RECOMPUTE_CYCLES, ids))
    await conn.execute(RECOMPUTE_MESSAGES, ids)
    return keys


async def recompute_cycles(conn: Conn, ids: list[UUID]) -> list[BlockKey]:
    """Only these conversations' cycles (their messages' facts did not change as a whole)."""
    return durations.keys_of(await conn.fetch(RECOMPUTE_CYCLES, ids)) if ids else []


async def recompute_buckets(conn: Conn, keys: list[tuple[UUID, datetime]]) -> None:
    """Only these (conversation, 15-minute bucket) message facts: the buckets a batch's
    new or changed messages fall in, of conversations that changed in no other way."""
    if keys:
        ids, buckets = (list(c) for c in zip(*keys, strict=True))
        await conn.execute(RECOMPUTE_BUCKETS, ids, buckets)


# --- The full rebuild -------------------------------------------------------------------------


async def truncate(conn: Conn) -> None:
    tables = ", ".join(FACT_TABLES + ROLLUP_TABLES)
    await conn.execute(f"TRUNCATE {tables}, report_dirty, report_durations_dirty")


async def drop_indexes(conn: Conn) -> list[str]:
    """The secondary indexes of the facts and rollups, dropped (rebuilt faster at the end
    than kept up row by row): their CREATE statements, to run again."""
    rows = await conn.fetch(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
         WHERE i.schemaname = current_schema() AND i.tablename = ANY($1::text[])
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)
        """,
        list(FACT_TABLES + ROLLUP_TABLES),
    )
    for r in rows:
        await conn.execute(f'DROP INDEX "{r["indexname"]}"')
    return [r["indexdef"] for r in rows]


async def create_indexes(conn: Conn, definitions: list[str]) -> None:
    for statement in definitions:
        await conn.execute(statement, timeout=REBUILD_TIMEOUT)


async def insert_facts(conn: Conn, first: UUID, last: UUID) -> None:
    """The facts of the conversations with ids from `first` to `last`, with no old ones to
    replace (the rebuild's chunks)."""
    for statement in _INSERT_RANGE:
        await conn.execute(statement, first, last, timeout=REBUILD_TIMEOUT)


async def sum_rollups(conn: Conn) -> None:
    """The rollups summed from all the facts (after truncate and insert_facts), with no
    index to keep up yet: grain 2 from the facts, then grains 1, 0 and 3 from grain 2."""
    points = f"{cycle_points('report_cycles')} UNION ALL {message_points('report_messages')}"
    sums = ", ".join(f"sum({c})::int" for c in COUNTERS)
    nonzero = " OR ".join(f"sum({c}) <> 0" for c in COUNTERS)
    names = ", ".join(COUNTERS)
    # In time order, as the consumer appends them: a report's range (its edges at 15-minute
    # grain) reads few pages, not rows scattered over the whole table.
    await conn.execute(
        f"INSERT INTO report_rollups (grain, {DIMS}, {names}) "
        f"SELECT 2, {DIMS}, {sums} FROM ({points}) p ({DIMS}, {names}) "
        f"GROUP BY {DIMS} HAVING {nonzero} ORDER BY bucket",
        timeout=REBUILD_TIMEOUT,
    )
    for grain, key in (
        (1, "bucket, channel, account_id, division_id, NULL::uuid"),
        (0, "bucket, channel, account_id, NULL::uuid, NULL::uuid"),
        (3, f"{_DAY}, channel, account_id, division_id, agent_id"),
    ):
        await conn.execute(
            f"INSERT INTO report_rollups (grain, {DIMS}, {names}) "
            f"SELECT {grain}, {key}, {sums} FROM report_rollups p WHERE grain = 2 "
            f"GROUP BY 1, 2, 3, 4, 5, 6 HAVING {nonzero} ORDER BY 2",
            timeout=REBUILD_TIMEOUT,
        )
    await conn.execute(
        _failure_upsert(failure_points("report_messages"), upsert=False), timeout=REBUILD_TIMEOUT
    )
