"""The contacts CSV import (all rows or none) and the streamed export."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from fastapi import Request
from fastapi.responses import StreamingResponse

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.contacts import attribute_queries, import_queries
from omnistream.contacts.csv_import import MAX_BYTES, Parsed, parse, row_error
from omnistream.contacts.page_schemas import ImportReport
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Connect, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.errors import Conflict, PayloadTooLarge, Unprocessable
from omnistream.kit.spreadsheet import safe_cell
from omnistream.kit.uploads import read_file_form

CHUNK = 2000
IDS_IN_EVENT = 1000  # contact.imported carries at most this many ids (and the count)


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is larger than the contacts import limit of {MAX_BYTES} bytes",
        extra={"max_bytes": MAX_BYTES},
    )


async def read_upload(request: Request) -> bytes:
    """The file of a multipart upload (field `file`); 413 as soon as it is too large."""
    data, _ = await read_file_form(request, MAX_BYTES, _too_large, max_fields=5)
    return data


async def read_file(tx: Tx, data: bytes, region: str) -> Parsed:
    """The file's rows with every problem, the existing contacts' phones and emails too."""
    definitions = await attribute_queries.by_key(tx.conn)
    parsed = parse(data, definitions, region)
    phones = [r.phone for r in parsed.rows if r.phone]
    emails = [r.email for r in parsed.rows if r.email]
    existing = {
        (t["field"], t["value"]) for t in await import_queries.taken(tx.conn, phones, emails)
    }
    for row in parsed.rows:
        for what in ("phone", "email"):
            if (what, getattr(row, what)) in existing:
                parsed.errors.append(
                    row_error(row.line, what, "already belongs to a contact", "taken")
                )
    parsed.errors.sort(key=lambda e: e["line"])
    return parsed


def refused(parsed: Parsed) -> Unprocessable:
    bad = len({e["line"] for e in parsed.errors})
    return Unprocessable(
        f"{bad} of {len(parsed.rows)} rows cannot be imported: nothing was imported",
        errors=[{**e, "field": f"rows.{e['line']}.{e['field']}"} for e in parsed.errors],
        extra={"rows": len(parsed.rows), "ignored_columns": parsed.ignored_columns},
    )


async def import_contacts(tx: Tx, actor: Principal, parsed: Parsed, dry_run: bool) -> ImportReport:
    """Every row or none (422 listing every bad row); dry_run checks and writes nothing."""
    if parsed.errors:
        raise refused(parsed)
    report = ImportReport(
        dry_run=dry_run,
        rows=len(parsed.rows),
        created=0,
        errors=[],
        ignored_columns=parsed.ignored_columns,
    )
    if dry_run or not parsed.rows:
        return report
    rows = parsed.rows
    try:
        async with tx.conn.transaction():
            ids = await import_queries.insert_many(
                tx.conn,
                [r.name for r in rows],
                [r.phone for r in rows],
                [r.email for r in rows],
                [orjson.dumps(r.attributes).decode() for r in rows],
            )
    except asyncpg.UniqueViolationError:
        raise Conflict(
            "another request added one of these phones or emails meanwhile: import again"
        ) from None
    await emit(
        tx.conn,
        EventType.CONTACT_IMPORTED,
        {"count": len(ids), "contact_ids": [str(i) for i in ids[:IDS_IN_EVENT]]},
        actor=actor,
    )  # staff only: new contacts have no conversation an agent could see
    await record(tx.conn, actor, "import_contacts", "contact", None, count=len(ids))
    return report.model_copy(update={"created": len(ids), "contact_ids": ids})


def _export_header(keys: list[str]) -> list[str]:
    return [
        "id", "name", "phone", "email", "identities", "created_at", "last_activity_at",
        *keys,
    ]  # fmt: skip


def _lines(rows: list[asyncpg.Record], keys: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for r in rows:
        attributes: dict[str, Any] = r["attributes"]
        writer.writerow(
            [
                safe_cell(r["id"]),
                safe_cell(r["name"]),
                "+" + r["phone"] if r["phone"] else "",
                safe_cell(r["email"]),
                safe_cell(" ".join(r["identities"])),
                safe_cell(r["created_at"]),
                safe_cell(r["last_activity_at"]),
                *(safe_cell(attributes.get(k)) for k in keys),
            ]
        )
    return out.getvalue()


async def _stream(
    connect: Connect, scope: Scope, pattern: str | None, phone_patterns: list[str]
) -> AsyncIterator[bytes]:
    async with connect() as conn, conn.transaction(readonly=True):
        keys = [d["key"] for d in await attribute_queries.all_definitions(conn)]
        yield ("\ufeff" + ",".join(_export_header(keys)) + "\r\n").encode()  # BOM for Excel
        cursor = await import_queries.export_cursor(conn, scope, pattern, phone_patterns)
        while rows := await cursor.fetch(CHUNK):
            yield _lines(rows, keys).encode()


def export(
    connect: Connect, scope: Scope, pattern: str | None, phone_patterns: list[str]
) -> StreamingResponse:
    """The visible contacts as CSV, read through a server-side cursor in chunks."""
    return StreamingResponse(
        _stream(connect, scope, pattern, phone_patterns),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
    )
