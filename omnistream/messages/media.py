"""Agent uploads: streamed to disk under a size cap, checked by declared type and by content,
stored under a random name; and served back with safe headers.

The request body is parsed as it arrives (python-multipart's streaming parser), so memory
stays at one chunk whatever is sent; a body over the cap is refused by its Content-Length
before anything is read, and by counting when the length is absent or wrong.
"""

from __future__ import annotations

import hashlib
import mimetypes
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse

from omnistream.config import Settings
from omnistream.kit.errors import BadRequest, NotFound, PayloadTooLarge, Unprocessable
from omnistream.kit.errors import UnsupportedMediaType as Unsupported
from omnistream.messages.file_kinds import allowed_kinds, refusal

FIELD = "file"
BODY_OVERHEAD = 64 * 1024  # multipart boundaries and part headers around the file itself
SNIFF_BYTES = 4096
UPLOADS = "uploads"  # under settings.media_dir


@dataclass(frozen=True)
class StoredUpload:
    filename: str
    mime_type: str
    size_bytes: int
    sha256: str
    storage_path: str  # relative to settings.media_dir
    path: Path


# Content sniffing -------------------------------------------------------------------------


def _ftyp(head: bytes) -> bool:  # ISO base media: MP4, 3GPP, M4A, MOV
    return head[4:8] == b"ftyp"


def _ole(head: bytes) -> bool:  # legacy Office (doc, xls)
    return head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


def _zip(head: bytes) -> bool:  # OOXML (docx, xlsx) are zip archives
    return head.startswith(b"PK\x03\x04")


def _mpeg_audio(head: bytes) -> bool:
    return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] >= 0xE0)


def _aac(head: bytes) -> bool:
    return head.startswith(b"ADIF") or (
        len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0
    )


def _text(head: bytes) -> bool:
    if b"\x00" in head or sniff(head) is not None:
        return False
    for cut in range(4):  # the head may end inside a multi-byte character
        try:
            head[: len(head) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


# What the first bytes of each type must look like. A declared type listed here must match.
SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "image/jpeg": lambda h: h.startswith(b"\xff\xd8\xff"),
    "image/png": lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/gif": lambda h: h[:6] in (b"GIF87a", b"GIF89a"),
    "image/webp": lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP",
    "application/pdf": lambda h: b"%PDF-" in h[:1024],
    "video/mp4": _ftyp,
    "video/3gpp": _ftyp,
    "video/quicktime": _ftyp,
    "audio/mp4": _ftyp,
    "audio/ogg": lambda h: h.startswith(b"OggS"),
    "audio/amr": lambda h: h.startswith(b"#!AMR"),
    "audio/mpeg": _mpeg_audio,
    "audio/aac": _aac,
    "application/msword": _ole,
    "application/vnd.ms-excel": _ole,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _zip,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _zip,
    "text/plain": _text,
}
# Recognisable formats (and dangerous ones) for types without a signature above.
_KNOWN: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("image/jpeg", SIGNATURES["image/jpeg"]),
    ("image/png", SIGNATURES["image/png"]),
    ("image/gif", SIGNATURES["image/gif"]),
    ("image/webp", SIGNATURES["image/webp"]),
    ("application/pdf", lambda h: h.startswith(b"%PDF-")),
    ("application/zip", _zip),
    ("application/x-ole-storage", _ole),
    ("application/x-msdownload", lambda h: h.startswith(b"MZ")),
    ("application/x-executable", lambda h: h.startswith(b"\x7fELF")),
    ("text/html", lambda h: h.lstrip()[:14].lower().startswith((b"<!doctype html", b"<html"))),
    ("image/svg+xml", lambda h: b"<svg" in h[:512].lower()),
)


def sniff(head: bytes) -> str | None:
    """The format the first bytes reveal, if one we know."""
    return next((name for name, test in _KNOWN if test(head)), None)


def content_matches(mime_type: str, head: bytes) -> bool:
    check = SIGNATURES.get(mime_type)
    if check is not None:
        return check(head)
    found = sniff(head)
    return found is None or found == mime_type


def declared_type(part_type: str, filename: str) -> str:
    """The part's Content-Type; a missing or generic one is guessed from the file name."""
    value = part_type.split(";", 1)[0].strip().lower()
    if value in ("", "application/octet-stream"):
        guessed = mimetypes.guess_type(filename)[0]
        return guessed.lower() if guessed else value or "application/octet-stream"
    return value


def safe_filename(raw: str) -> str:
    """The last path segment, printable characters only, at most 200 characters."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".")
    return name[-200:] or "file"


# Receiving --------------------------------------------------------------------------------


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None


class _Receiver:
    """Collects python-multipart's synchronous callbacks; the async loop drains them."""

    def __init__(self) -> None:
        self.part: _Part | None = None
        self.header = (bytearray(), bytearray())
        self.file_part: _Part | None = None
        self.file_started = self.file_done = self.ended = False
        self.extra_file = False
        self.pending: list[bytes] = []

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": lambda d, s, e: self.header[0].extend(d[s:e]),
            "on_header_value": lambda d, s, e: self.header[1].extend(d[s:e]),
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_end(self) -> None:
        assert self.part is not None
        name, value = (bytes(b).decode("latin-1") for b in self.header)
        self.part.headers[name.strip().lower()] = value.strip()
        self.header = (bytearray(), bytearray())

    def on_headers_finished(self) -> None:
        assert self.part is not None
        _, options = parse_options_header(self.part.headers.get("content-disposition", ""))
        self.part.name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            raw = options[b"filename"].decode("utf-8", "replace")
            # Browsers (WHATWG form-data encoding) escape only these three.
            self.part.filename = raw.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")
        if self.part.name == FIELD and self.part.filename is not None:
            if self.file_part is None:
                self.file_part = self.part
            else:
                self.extra_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part is not None and self.part is self.file_part and not self.file_done:
            self.pending.append(data[start:end])

    def on_part_end(self) -> None:
        if self.part is not None and self.part is self.file_part:
            self.file_done = True

    def on_end(self) -> None:
        self.ended = True


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is larger than the upload limit of {limit} bytes",
        extra={"max_bytes": limit},
    )


def check_length(request: Request, settings: Settings) -> None:
    """413 at once when the declared body length cannot fit the limit."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > settings.upload_max_bytes + BODY_OVERHEAD:
        raise _too_large(settings.upload_max_bytes)


@dataclass
class _Sink:
    """The file's bytes as they arrive: counted, hashed, the head kept for sniffing."""

    limit: int
    size: int = 0
    head: bytearray = field(default_factory=bytearray)
    hasher: Any = field(default_factory=hashlib.sha256)

    def take(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _too_large(self.limit)
        self.hasher.update(data)
        if len(self.head) < SNIFF_BYTES:
            self.head.extend(data[: SNIFF_BYTES - len(self.head)])


async def _pump(request: Request, settings: Settings, out: Any, sink: _Sink) -> _Part:
    """Feed the body through the multipart parser into `out`; the file part when done."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise Unprocessable.field(FIELD, "send the file as multipart/form-data in the field 'file'")
    receiver = _Receiver()
    total = 0
    try:
        parser = MultipartParser(params[b"boundary"], receiver.callbacks())
        async for chunk in request.stream():
            total += len(chunk)
            if total > settings.upload_max_bytes + BODY_OVERHEAD:
                raise _too_large(settings.upload_max_bytes)
            parser.write(chunk)
            if receiver.extra_file:
                raise Unprocessable.field(FIELD, "send one file per upload")
            part = receiver.file_part
            if part is not None and not receiver.file_started:  # refuse early, by header
                receiver.file_started = True
                _check_allowed(_part_type(part, part.filename or ""), settings)
            for data in receiver.pending:
                sink.take(data)
                await out.write(data)
            receiver.pending.clear()
    except FormParserError as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from None
    except ClientDisconnect:
        raise BadRequest("the client disconnected during the upload") from None
    if not receiver.ended:
        raise BadRequest("the multipart body ended early (no closing boundary)")
    if receiver.file_part is None:
        raise Unprocessable.field(FIELD, "is required (a multipart field named 'file')")
    return receiver.file_part


def _part_type(part: _Part, filename: str) -> str:
    return declared_type(part.headers.get("content-type", ""), filename)


async def receive_upload(request: Request, settings: Settings) -> StoredUpload:
    """Stream the multipart field `file` to disk; 413 / 415 / 422 / 400 as checks fail."""
    check_length(request, settings)
    token = secrets.token_hex(16)
    relative = f"{UPLOADS}/{token[:2]}/{token}"
    final = settings.media_dir / relative
    temp = final.with_suffix(".part")
    await anyio.Path(final.parent).mkdir(parents=True, exist_ok=True)
    sink = _Sink(settings.upload_max_bytes)
    stored = False
    try:
        async with await anyio.open_file(temp, "wb") as out:
            part = await _pump(request, settings, out, sink)
        if sink.size == 0:
            raise Unprocessable.field(FIELD, "is empty")
        filename = safe_filename(part.filename or "")
        mime = _part_type(part, filename)
        _check_allowed(mime, settings)
        head = bytes(sink.head)
        if not content_matches(mime, head):
            found = sniff(head)
            raise Unsupported(
                f"the file's content is not {mime}"
                + (f" (it looks like {found})" if found else ""),
                extra={"declared_type": mime, "detected_type": found},
            )
        await anyio.Path(temp).rename(final)
        stored = True
    finally:
        if not stored:
            await anyio.Path(temp).unlink(missing_ok=True)
    return StoredUpload(filename, mime, sink.size, sink.hasher.hexdigest(), relative, final)


def _check_allowed(mime: str, settings: Settings) -> None:
    allowed = settings.allowed_upload_types
    if mime not in allowed:
        raise Unsupported(
            refusal(mime, allowed),
            extra={"declared_type": mime, "allowed_kinds": allowed_kinds(allowed)},
        )


async def discard(upload: StoredUpload) -> None:
    await anyio.Path(upload.path).unlink(missing_ok=True)


# Serving ----------------------------------------------------------------------------------


def content_disposition(kind: str, filename: str) -> str:
    """RFC 6266: an ASCII fallback in quotes plus the exact name percent-encoded."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"{kind}; filename=\"{fallback or 'file'}\"; filename*=UTF-8''{quote(filename, safe='')}"


def file_response(settings: Settings, media: Any) -> FileResponse:
    """The stored file of a media row; 404 if it is not (or no longer) on disk."""
    root = settings.media_dir.resolve()
    stored = media["storage_path"]
    path = (root / stored).resolve() if stored else None
    if path is None or not path.is_relative_to(root) or not path.is_file():
        raise NotFound(f"the file of media {media['id']} is not available")
    mime: str = media["mime_type"]
    inline = mime.startswith(("image/", "video/", "audio/")) and mime != "image/svg+xml"
    filename = media["filename"] or "file"
    headers = {
        "Content-Disposition": content_disposition("inline" if inline else "attachment", filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
    }
    return FileResponse(path, media_type=mime, headers=headers)
