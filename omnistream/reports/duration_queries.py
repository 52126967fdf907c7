"""The duration blocks' SQL (migration 0024): built from report_cycles, read by reports.

A block holds the values of one kind (1: first response, at first_response_at, by the
responder; 2: resolution, at resolved_at, by the assignee now), one UTC day and one
division, in columns of fixed width (reports/durations.py reads them). A block is rebuilt
whole from report_cycles whenever a value of it may have changed: the keys come from the
cycles a recomputation changed (rollup_queries.RECOMPUTE_CYCLES returns them), from
business times set, and from report_durations_dirty.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

CHANNELS = ("whatsapp", "instagram", "email", "messenger")  # the int2 codes of `channel`
_ORIGIN = "timestamptz '2000-01-01 00:00:00+00'"
_NIL = "'00000000-0000-0000-0000-000000000000'::uuid"
BlockKey = tuple[int, datetime, UUID | None]  # kind, day (midnight UTC), division


def day_of(column: str) -> str:
    return f"date_bin('1 day', {column}, {_ORIGIN})"


# A changed cycle row's block keys (`r`: a report_cycles row).
KEYS_OF_ROW = f"""
    SELECT 1::smallint AS kind, {day_of("r.first_response_at")} AS day, r.division_id
     WHERE r.first_response_at IS NOT NULL
    UNION ALL
    SELECT 2::smallint, {day_of("r.resolved_at")}, r.division_id WHERE r.resolved_at IS NOT NULL
"""

_CHANNEL_CODE = "CASE c.channel " + " ".join(
    f"WHEN '{name}' THEN {code}" for code, name in enumerate(CHANNELS)
) + " END::smallint"  # fmt: skip


def _values(days: str, keep: str) -> str:
    """Every value of report_cycles with its block key; `days` joins the days to read (or
    is empty: all), `keep` tests a value's key (or is true)."""
    parts = []
    for kind, at, agent, business in (
        (1, "first_response_at", "responder_id", "frt_business"),
        (2, "resolved_at", "agent_id", "resolution_business"),
    ):
        if days:
            source = (
                f"{days} d JOIN report_cycles c ON d.kind = {kind} AND c.{at} >= d.day "
                f"AND c.{at} < d.day + interval '1 day'"
            )
        else:
            source = f"report_cycles c WHERE c.{at} IS NOT NULL AND"
        where = "WHERE" if days else ""
        parts.append(
            f"""
            SELECT {kind}::smallint AS kind, {day_of(f"c.{at}")} AS day, c.division_id,
                   c.{agent} AS agent, c.{at} AS at,
                   date_part('epoch', c.{at} - c.opened_at) AS wall, c.{business} AS business,
                   {_CHANNEL_CODE} AS channel, c.account_id, c.conversation_id, c.cycle
              FROM {source} {where} {keep.format(kind=kind)}
            """
        )
    return " UNION ALL ".join(parts)


_ORDER = "ORDER BY v.agent NULLS FIRST, v.at, v.conversation_id, v.cycle"


def _build(values: str) -> str:
    return f"""
    INSERT INTO report_durations (kind, day, division_id, n, agents, starts, agent_runs, at,
                                  wall, business, channel, account)
    SELECT kind, day, division_id, count(*)::int,
           array_agg(agent ORDER BY pos) FILTER (WHERE is_first),
           array_agg(pos ORDER BY pos) FILTER (WHERE is_first),
           string_agg(uuid_send(COALESCE(agent, {_NIL})) || int4send(run), ''::bytea
                      ORDER BY pos) FILTER (WHERE is_first),
           string_agg(int4send(floor(date_part('epoch', at) - date_part('epoch', day))::int),
                      ''::bytea ORDER BY pos),
           string_agg(float8send(wall), ''::bytea ORDER BY pos),
           CASE WHEN bool_or(business IS NOT NULL) THEN
                string_agg(float8send(COALESCE(business, 'NaN')), ''::bytea ORDER BY pos) END,
           string_agg(int2send(channel), ''::bytea ORDER BY pos),
           string_agg(uuid_send(COALESCE(account_id, {_NIL})), ''::bytea ORDER BY pos)
      FROM (SELECT v.*, (row_number() OVER w - 1)::int AS pos,
                   (row_number() OVER w = 1 OR v.agent IS DISTINCT FROM lag(v.agent) OVER w)
                   AS is_first,
                   count(*) OVER (PARTITION BY v.kind, v.day, v.division_id, v.agent)::int
                   AS run
              FROM ({values}) v
            WINDOW w AS (PARTITION BY v.kind, v.day, v.division_id {_ORDER})) p
     GROUP BY kind, day, division_id
    """


_KEYS = """
    SELECT DISTINCT * FROM unnest($1::smallint[], $2::timestamptz[], $3::uuid[])
        AS k(kind, day, division_id)
"""
_DELETE_KEYS = f"""
    DELETE FROM report_durations b USING ({_KEYS}) k
     WHERE b.kind = k.kind AND b.day = k.day AND b.division_id IS NOT DISTINCT FROM k.division_id
"""
_KEEP = (
    "EXISTS (SELECT 1 FROM k WHERE k.kind = {kind} AND k.day = d.day "
    "AND k.division_id IS NOT DISTINCT FROM c.division_id)"
)
_BUILD_KEYS = f"""
    WITH k AS MATERIALIZED ({_KEYS}),
         days AS MATERIALIZED (SELECT DISTINCT kind, day FROM k)
    {_build(_values("days", _KEEP))}
"""
_BUILD_ALL = _build(_values("", "true"))


async def build(conn: Conn, keys: Iterable[BlockKey]) -> None:
    """Rebuild these blocks from report_cycles (a block left without values goes)."""
    unique = sorted(set(keys), key=lambda k: (k[0], k[1], str(k[2])))
    if not unique:
        return
    columns = [list(c) for c in zip(*unique, strict=True)]
    await conn.execute(_DELETE_KEYS, *columns)
    await conn.execute(_BUILD_KEYS, *columns)


async def build_all(conn: Conn, seconds: float) -> None:
    """Every block, from all the cycle facts (the full rebuild, into empty tables); the
    statement may take `seconds`."""
    await conn.execute(_BUILD_ALL, timeout=seconds)


async def take_dirty(conn: Conn, limit: int) -> list[BlockKey]:
    rows = await conn.fetch(
        """
        DELETE FROM report_durations_dirty d USING (
            SELECT ctid FROM report_durations_dirty LIMIT $1 FOR UPDATE SKIP LOCKED) t
         WHERE d.ctid = t.ctid RETURNING d.kind, d.day, d.division_id
        """,
        limit,
    )
    return [(r["kind"], r["day"], r["division_id"]) for r in rows]


def keys_of(rows: Sequence[asyncpg.Record]) -> list[BlockKey]:
    return [(r["kind"], r["day"], r["division_id"]) for r in rows]


# --- Reading ---------------------------------------------------------------------------------

_COLUMNS = ("at", "wall", "business", "channel", "account")
_WIDTH = {"at": 4, "wall": 8, "business": 8, "channel": 2, "account": 16}


async def read(
    conn: Conn,
    kind: int,
    first_day: datetime,
    end: datetime,
    *,
    division_id: UUID | None,
    divisions: tuple[UUID, ...] | None,
    agent_id: UUID | None,
    columns: Sequence[str],
) -> list[asyncpg.Record]:
    """The blocks of `kind` from `first_day` (a UTC midnight) to before `end`, of the
    division asked for / a supervisor's divisions and none, in day order: `day`, `n`,
    `agent_runs` and the `columns` asked for; with `agent_id`, only that agent's slice of
    each block that has values of theirs."""
    assert set(columns) <= set(_COLUMNS)
    params: list[object] = [kind, first_day, end]
    where = ["b.kind = $1", "b.day >= $2", "b.day < $3"]
    if division_id is not None:
        params.append(division_id)
        where.append(f"b.division_id = ${len(params)}")
    if divisions is not None:
        params.append(list(divisions))
        where.append(f"(b.division_id = ANY(${len(params)}::uuid[]) OR b.division_id IS NULL)")
    if agent_id is None:
        selected = ", ".join(f"b.{c}" for c in columns)
        return await conn.fetch(
            f"SELECT b.day, b.n, b.agent_runs, {selected} FROM report_durations b "
            f"WHERE {' AND '.join(where)} ORDER BY b.day",
            *params,
        )
    params.append(agent_id)
    agent = f"${len(params)}"
    sliced = ", ".join(
        f"substring(b.{c} FROM r.s * {_WIDTH[c]} + 1 FOR (r.e - r.s) * {_WIDTH[c]}) AS {c}"
        for c in columns
    )
    return await conn.fetch(
        f"""
        SELECT b.day, r.e - r.s AS n, uuid_send({agent}::uuid) || int4send(r.e - r.s)
               AS agent_runs, {sliced}
          FROM report_durations b
         CROSS JOIN LATERAL (SELECT array_position(b.agents, {agent}::uuid) AS p) x
         CROSS JOIN LATERAL (SELECT b.starts[x.p] AS s,
                                    COALESCE(b.starts[x.p + 1], b.n) AS e) r
         WHERE {" AND ".join(where)} AND x.p IS NOT NULL ORDER BY b.day
        """,
        *params,
    )
