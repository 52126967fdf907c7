"""The audience CSV of a multipart upload: read into memory up to a byte limit (413 past
it, checked while it arrives, never after), with the optional form field phone_column."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from omnistream.kit.errors import BadRequest, PayloadTooLarge, Unprocessable

FIELD = "file"
OVERHEAD = 64 * 1024  # multipart boundaries and part headers around the file


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is larger than the audience upload limit of {limit} bytes",
        extra={"max_bytes": limit},
    )


async def read_upload(request: Request, limit: int) -> tuple[bytes, str | None]:
    """(the file's bytes, phone_column or None); 413 / 422 / 400 as checks fail."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise Unprocessable.field(FIELD, "send the CSV as multipart/form-data in the field 'file'")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + OVERHEAD:
        raise _too_large(limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit + OVERHEAD:
                raise _too_large(limit)
    except ClientDisconnect:
        raise BadRequest("the client disconnected during the upload") from None
    request._body = bytes(body)  # Starlette parses the form from the body read here
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # python-multipart's errors: a malformed body
        raise BadRequest(f"malformed multipart body: {exc}") from None
    try:
        upload = form.get(FIELD)
        if not isinstance(upload, UploadFile):
            raise Unprocessable.field(FIELD, "is required (a multipart file field named 'file')")
        data = await upload.read()
        if len(data) > limit:
            raise _too_large(limit)
        column = form.get("phone_column")
        if column is not None and (not isinstance(column, str) or len(column) > 100):
            raise Unprocessable.field(
                "phone_column", "must be a column name (100 characters at most)"
            )
        return data, (column.strip() or None) if isinstance(column, str) else None
    finally:
        await form.close()
