"""A report as CSV: one row per period (per agent, per weekday for the heatmap), with a
BOM so spreadsheets read UTF-8, cells made safe (kit/spreadsheet.py), streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from omnistream.kit.spreadsheet import safe_cell
from omnistream.reports.schemas import (
    AgentReport,
    ConversationReport,
    HeatmapReport,
    MessageReport,
    ResponsivenessReport,
)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _flat(model: BaseModel, prefix: str = "") -> dict[str, Any]:
    """A report row's fields, nested ones as a_b_c columns."""
    out: dict[str, Any] = {}
    for key, value in model:
        if isinstance(value, BaseModel):
            out.update(_flat(value, f"{prefix}{key}_"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def rows_of(report: BaseModel) -> list[dict[str, Any]]:
    if isinstance(report, ConversationReport | MessageReport | ResponsivenessReport):
        return [{"period": p.period, **_flat(p)} for p in report.series]  # period first
    if isinstance(report, AgentReport):
        return [_flat(a) for a in report.agents]
    assert isinstance(report, HeatmapReport)
    return [
        {"weekday": day, **{f"{h:02d}": row[h] for h in range(24)}}
        for day, row in zip(WEEKDAYS, report.cells, strict=True)
    ]


def _lines(rows: list[dict[str, Any]]) -> Iterator[bytes]:
    header = list(rows[0]) if rows else ["period"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    yield ("\ufeff" + out.getvalue()).encode()
    for row in rows:
        out.seek(0)
        out.truncate()
        writer.writerow([safe_cell(row.get(k)) for k in header])
        yield out.getvalue().encode()


def response(name: str, report: BaseModel, first: Any, last: Any) -> StreamingResponse:
    filename = f"omnistream-{name}-{first.isoformat()}-to-{last.isoformat()}.csv"
    return StreamingResponse(
        _lines(rows_of(report)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
