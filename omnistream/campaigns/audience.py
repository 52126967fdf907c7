"""A campaign's audience: an uploaded CSV file or the contacts matching a filter, recorded
as its recipients in the request's transaction (the previous audience is replaced; nothing
is written when the file is refused).

The CSV is read in the processes of a small pool (audience_csv is pure CPU: about 2.5 s
for 100,000 rows in one process), each reading a share of the rows at the same time, so the
API's event loop keeps serving while they run. Its recipients are then stored with one COPY
(audience_copy writes its data), in file order, and the table is analyzed.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.campaigns import queries, service
from omnistream.campaigns.audience_copy import copy_data
from omnistream.campaigns.audience_csv import Audience, combine, read_share
from omnistream.campaigns.schemas import ContactsFilter
from omnistream.db.pool import Tx
from omnistream.events.types import EventType
from omnistream.kit.errors import Unprocessable

CONTACT_COLUMNS = ["name", "phone"]
SHARES = 2  # a file's rows are read in this many shares at once: one per pool process
_POOLS: list[ProcessPoolExecutor] = []  # one small pool per process, made on first use


def _executor() -> ProcessPoolExecutor:
    if not _POOLS:
        _POOLS.append(ProcessPoolExecutor(max_workers=SHARES))
    return _POOLS[0]


def mapped_columns(row: asyncpg.Record) -> list[str]:
    """The recipient columns the campaign's variables read (name and phone are built in)."""
    columns = {s.get("column") for s in (row["variables"] or {}).values()}
    return sorted(c for c in columns if c and c not in CONTACT_COLUMNS)


async def read_csv(
    data: bytes, variables: list[str], region: str, phone_column: str | None
) -> Audience:
    """The file's audience, its shares of rows read in the pool's processes at once (each
    raises any problem of the file as a whole, so the first to fail answers)."""
    loop = asyncio.get_running_loop()

    def shares() -> list[asyncio.Future[Audience]]:
        pool = _executor()
        read = functools.partial(
            read_share, data, variables, region=region, phone_column=phone_column, shares=SHARES
        )
        return [loop.run_in_executor(pool, functools.partial(read, share=i)) for i in range(SHARES)]

    try:
        parts = await asyncio.gather(*shares())
    except BrokenProcessPool:  # a child was killed: a fresh pool
        _POOLS.clear()
        parts = await asyncio.gather(*shares())
    return combine(parts)


def report(audience: Audience, columns: list[str]) -> dict[str, Any]:
    return {
        "source": "csv",
        "rows": audience.rows,
        "accepted": audience.accepted,
        "duplicates": audience.duplicates,
        "rejected_count": audience.rejected_count,
        "rejected": [
            {
                "line": r.line,
                "reason": r.reason,
                "message": r.message,
                "column": r.column,
                "value": r.value,
            }
            for r in audience.rejected
        ],
        "columns": columns,
    }


async def store_csv(
    tx: Tx, actor: Principal, row: asyncpg.Record, audience: Audience
) -> dict[str, Any]:
    """Replace the audience by the file's recipients (opted-out numbers rejected)."""
    conn = tx.conn
    campaign_id = row["id"]
    opted_out, contacts = await queries.known_numbers(conn, audience.phones)
    audience = audience.exclude(opted_out)
    columns = sorted({*mapped_columns(row), *CONTACT_COLUMNS})
    await queries.clear_audience(conn, campaign_id)
    people = audience.accepted_rows
    await queries.insert_recipients(
        conn, copy_data(campaign_id, people.phones, people.texts, contacts)
    )
    await queries.analyze_recipients(conn)
    shown = report(audience, columns)
    await queries.set_audience(conn, campaign_id, "csv", columns, None, shown)
    await _announce(tx, actor, campaign_id, shown)
    return shown


async def store_contacts(
    tx: Tx, actor: Principal, row: asyncpg.Record, chosen: ContactsFilter
) -> dict[str, Any]:
    conn = tx.conn
    campaign_id = row["id"]
    extra = mapped_columns(row)
    if extra:
        raise Unprocessable.field(
            "variables",
            f"the variables read column(s) {', '.join(extra)}, which contacts do not have: "
            "map them to name, phone or a fixed value, or upload a CSV",
        )
    found = await queries.count_contacts(
        conn, chosen.q, chosen.division_id, chosen.inbound_within_days
    )
    await queries.clear_audience(conn, campaign_id)
    accepted = await queries.insert_from_contacts(
        conn, campaign_id, chosen.q, chosen.division_id, chosen.inbound_within_days
    )
    await queries.analyze_recipients(conn)
    shown = {
        "source": "contacts",
        "rows": found["count"] + found["opted_out"],
        "accepted": accepted,
        "duplicates": 0,
        "rejected_count": found["opted_out"],
        "rejected": [],
        "columns": CONTACT_COLUMNS,
    }
    await queries.set_audience(
        conn, campaign_id, "contacts", CONTACT_COLUMNS, chosen.model_dump(mode="json"), shown
    )
    await _announce(tx, actor, campaign_id, shown)
    return shown


async def _announce(tx: Tx, actor: Principal, campaign_id: UUID, shown: dict[str, Any]) -> None:
    conn = tx.conn
    counts = {k: shown[k] for k in ("rows", "accepted", "rejected_count")}
    await record(conn, actor, "set_campaign_audience", service.TARGET, campaign_id,
                 source=shown["source"], **counts)  # fmt: skip
    await queries.store_counts(conn, campaign_id, await queries.count(conn, campaign_id))
    after = await queries.get_any(conn, campaign_id)
    assert after is not None
    await service.emit_campaign(conn, EventType.CAMPAIGN_UPDATED, after, actor)
