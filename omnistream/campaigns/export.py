"""A campaign's recipients as CSV, streamed: read through a server-side cursor in chunks,
so a 100,000-recipient export holds a chunk in memory, not the whole list."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from fastapi.responses import StreamingResponse

from omnistream.campaigns import send_queries
from omnistream.db.pool import Connect
from omnistream.kit.spreadsheet import safe_cell

CHUNK = 2000
HEADER = [
    "phone", "name", "status", "error_code", "error_message", "sent_at", "delivered_at",
    "read_at", "failed_at", "replied_at", "conversation_id", "line", "channel_message_id",
]  # fmt: skip


def _lines(rows: list[asyncpg.Record]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([[safe_cell(r[k]) for k in HEADER] for r in rows])
    return out.getvalue()


async def _stream(connect: Connect, campaign_id: Any, status: str | None) -> AsyncIterator[bytes]:
    yield ("\ufeff" + ",".join(HEADER) + "\r\n").encode()  # BOM: Excel reads it as UTF-8
    async with connect() as conn, conn.transaction(readonly=True):
        cursor = await send_queries.export_cursor(conn, campaign_id, status)
        while rows := await cursor.fetch(CHUNK):
            yield _lines(rows).encode()


def response(connect: Connect, campaign: asyncpg.Record, status: str | None) -> StreamingResponse:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", campaign["name"]).strip("-")[:60] or "campaign"
    return StreamingResponse(
        _stream(connect, campaign["id"], status),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}-recipients.csv"'},
    )
