"""The audience CSV of a multipart upload: read into memory up to a byte limit (413 past
it, checked while it arrives, never after), with the optional form field phone_column."""

from __future__ import annotations

from fastapi import Request

from omnistream.kit.errors import PayloadTooLarge, Unprocessable
from omnistream.kit.uploads import read_file_form


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is larger than the audience upload limit of {limit} bytes",
        extra={"max_bytes": limit},
    )


async def read_upload(request: Request, limit: int) -> tuple[bytes, str | None]:
    """(the file's bytes, phone_column or None); 413 / 422 / 400 as checks fail."""
    data, fields = await read_file_form(request, limit, lambda: _too_large(limit), max_fields=10)
    column = fields.get("phone_column")
    if column is not None and len(column) > 100:
        raise Unprocessable.field("phone_column", "must be a column name (100 characters at most)")
    return data, (column.strip() or None) if column is not None else None
