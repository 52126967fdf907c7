"""A CSV (or any one file) sent as multipart/form-data: read into memory up to a byte limit,
answering 413 while it arrives (never after reading it all), 422 naming the field `file`,
400 for a malformed body or a client gone mid-upload. Used by the campaign audience and the
contacts import."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from omnistream.kit.errors import BadRequest, PayloadTooLarge, Unprocessable

FIELD = "file"
OVERHEAD = 64 * 1024  # multipart boundaries and part headers around the file


async def read_file_form(
    request: Request, limit: int, too_large: Callable[[], PayloadTooLarge], max_fields: int
) -> tuple[bytes, dict[str, str]]:
    """(the bytes of the field `file`, the form's other text fields)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Unprocessable.field(FIELD, "send the CSV as multipart/form-data in the field 'file'")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + OVERHEAD:
        raise too_large()
    body = bytearray()
    try:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit + OVERHEAD:
                raise too_large()
    except ClientDisconnect:
        raise BadRequest("the client disconnected during the upload") from None
    request._body = bytes(body)  # Starlette parses the form from the body read here
    try:
        form = await request.form(max_files=1, max_fields=max_fields)
    except Exception as exc:  # python-multipart's errors: a malformed body
        raise BadRequest(f"malformed multipart body: {exc}") from None
    try:
        upload = form.get(FIELD)
        if not isinstance(upload, UploadFile):
            raise Unprocessable.field(FIELD, "is required (a multipart file field named 'file')")
        data = await upload.read()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    finally:
        await form.close()
    if len(data) > limit:
        raise too_large()
    return data, fields
