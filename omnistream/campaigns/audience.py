"""A campaign's audience: an uploaded CSV file or the contacts matching a filter, recorded
as its recipients in the request's transaction (the previous audience is replaced; nothing
is written when the file is refused).

The CSV is read in a separate process (audience_csv is pure CPU: about 6 s for 100,000
rows, mostly phonenumbers), so the API's event loop keeps serving while it runs.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ProcessPoolExecutor
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.campaigns import queries, service
from omnistream.campaigns.audience_csv import Audience, parse_audience_csv
from omnistream.campaigns.schemas import ContactsFilter
from omnistream.db.pool import Tx
from omnistream.events.types import EventType
from omnistream.kit.errors import Unprocessable

CONTACT_COLUMNS = ["name", "phone"]
_POOLS: list[ProcessPoolExecutor] = []  # one small pool per process, made on first use


def _executor() -> ProcessPoolExecutor:
    if not _POOLS:
        _POOLS.append(ProcessPoolExecutor(max_workers=2))
    return _POOLS[0]


def mapped_columns(row: asyncpg.Record) -> list[str]:
    """The recipient columns the campaign's variables read (name and phone are built in)."""
    columns = {s.get("column") for s in (row["variables"] or {}).values()}
    return sorted(c for c in columns if c and c not in CONTACT_COLUMNS)


async def read_csv(
    data: bytes, variables: list[str], region: str, phone_column: str | None
) -> Audience:
    loop = asyncio.get_running_loop()
    parse = functools.partial(
        parse_audience_csv, data, variables, region=region, phone_column=phone_column
    )
    try:
        return await loop.run_in_executor(_executor(), parse)
    except RuntimeError:  # the pool broke (a child was killed): a fresh one
        _POOLS.clear()
        return await loop.run_in_executor(_executor(), parse)


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
    audience = audience.exclude(await queries.opted_out(conn, audience.phones))
    columns = sorted({*mapped_columns(row), *CONTACT_COLUMNS})
    await queries.clear_audience(conn, campaign_id)
    people = audience.recipients
    await queries.insert_recipients(
        conn,
        campaign_id,
        [r.phone for r in people],
        [r.name or "" for r in people],
        [
            orjson.dumps({**r.variables, "phone": r.phone, "name": r.name or ""}).decode()
            for r in people
        ],
        [r.line for r in people],
    )
    await queries.link_contacts(conn, campaign_id)
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
