"""A raw RFC 822 mail (bytes) read into what OmniStream stores and shows (issue 16).

`parse_mail` reads with the standard library's `email` package (`policy.default`) and never
raises on a malformed mail: each header and each MIME part is read on its own, and what
could not be read goes to `ParsedMail.defects` (with the `email` package's own defects).
- Bodies: text/plain parts that are not attachments are the text (charsets: text.py),
  text/html ones the HTML, sanitised (sanitize.py); an HTML-only mail's text is its HTML's.
- Every other part is an attachment; over `max_attachment_bytes` its data is dropped and
  the reason kept. A `multipart/report; report-type=delivery-status` (DSN) gives `bounce`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

from omnistream.channels.email.sanitize import keep_cid_sources, sanitize_html
from omnistream.channels.email.text import decoded_body, header_text, html_to_text, preview_of

log = logging.getLogger(__name__)

MAX_PARTS = 500  # a mail with more MIME parts is read up to there (a defect says so)
MAX_DEPTH = 40  # multipart nesting read at most this deep
# `email` parses an address list at ~0.15 ms an address: a header is read up to here (about
# 4,000 addresses) so that no mail holds the importer for seconds.
MAX_HEADER_CHARS = 65_536
# Sanitising and rendering take ~1 s a megabyte; mail HTML is rarely 1 MB even with images.
MAX_HTML_CHARS = 4_000_000
AUTO_REPLY_PRECEDENCE = frozenset({"bulk", "auto_reply", "junk", "list"})
_ANGLE_ID = re.compile(r"<([^<>]*)>")
_FOLDING = re.compile(r"\r?\n[ \t]*")
_BOUNDARY_LINE = re.compile(rb"^--([0-9A-Za-z'()+_,./:=?-]{1,70}?)[ \t]*\r?$", re.MULTILINE)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str | None
    content_type: str
    content_id: str | None  # without the angle brackets
    inline: bool  # shown within the body (Content-Disposition inline, or a Content-ID)
    data: bytes | None  # None when skipped
    size: int  # decoded size in bytes, also when skipped
    skipped_reason: str | None


@dataclass(frozen=True, slots=True)
class Bounce:
    original_message_id: str | None  # "<...>" of the mail that bounced
    status: str | None  # e.g. "5.1.1"
    action: str | None  # e.g. "failed", "delayed"
    diagnostic: str | None  # e.g. "550 5.1.1 <x@example.com>: Recipient address rejected"
    recipient: str | None


@dataclass(frozen=True, slots=True)
class ParsedMail:
    message_id: str | None  # "<...>"
    in_reply_to: list[str]
    references: list[str]  # in order, without duplicates
    subject: str
    from_address: str | None
    from_name: str | None
    to: list[tuple[str, str]]  # (name, address); name "" when none
    cc: list[tuple[str, str]]
    date: datetime | None  # aware
    text: str
    html: str | None  # sanitised
    preview: str  # the text (its first 16 KiB) without quoted history and signature
    attachments: list[Attachment]
    is_auto_reply: bool
    bounce: Bounce | None
    defects: list[str]


def _raw_header(message: Message, name: str) -> str | None:
    """A header's value as it was sent, unfolded (the first one of that name)."""
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return header_text(_FOLDING.sub(" ", str(value))).strip()
    return None


def _message_ids(raw: str | None) -> list[str]:
    """The "<id>" tokens of a Message-ID / In-Reply-To / References value, in order, once."""
    if not raw:
        return []
    found = [re.sub(r"\s+", "", token) for token in _ANGLE_ID.findall(raw)]
    if not any(found):  # some clients send bare ids
        found = [token.strip("<>,;") for token in raw.split() if "@" in token]
    return list(dict.fromkeys(f"<{token}>" for token in found if token))


def _subparts(part: Message) -> list[Message]:
    """The parsed parts inside a multipart or a message/* part ([] for any other)."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    return [child for child in payload if isinstance(child, Message)]


def _describe(defect: Exception) -> str:
    detail = str(defect)
    return f"{type(defect).__name__} ({detail})" if detail else type(defect).__name__


def _clean_filename(filename: str | None) -> str | None:
    # Only the last path component, without control characters: it ends up in downloads.
    if filename is None:
        return None
    cleaned = _CONTROL_CHARACTERS.sub("", header_text(filename)).replace("\\", "/")
    return cleaned.rsplit("/", 1)[-1].strip() or None


def _type_stripped(value: str | None) -> str | None:
    """ "rfc822; x@example.com" -> "x@example.com" (DSN fields carry a type first)."""
    if not value:
        return None
    return value.split(";", 1)[-1].strip() or None


class _MailReader:
    """Reads one mail; collects bodies, attachments, the DSN report and the defects."""

    def __init__(self, max_attachment_bytes: int) -> None:
        self.max_attachment_bytes = max_attachment_bytes
        self.defects: list[str] = []
        self.plain_parts: list[str] = []
        self.html_parts: list[str] = []
        self.attachments: list[Attachment] = []
        self.report: Message | None = None
        self._parts_read = 0

    def header(self, message: Message, name: str) -> Any:
        """The header parsed by `policy.default` (None when absent or unreadable)."""
        try:
            raw = _raw_header(message, name)
            if raw is not None and len(raw) > MAX_HEADER_CHARS:
                self.defects.append(f"header {name}: read up to {MAX_HEADER_CHARS} characters")
                value = policy.default.header_factory(name, raw[:MAX_HEADER_CHARS])
            else:
                value = message.get(name)
        except Exception as error:
            self.defects.append(f"header {name}: could not be read ({_describe(error)})")
            return None
        for defect in getattr(value, "defects", ()):
            self.defects.append(f"header {name}: {_describe(defect)}")
        return value

    def text_header(self, message: Message, name: str) -> str:
        raw = _raw_header(message, name)
        if raw is None:
            return ""
        if "=?" not in raw:
            return raw  # nothing to decode; 8-bit bytes already read by header_text
        value = self.header(message, name)
        decoded = header_text(str(value)).strip() if value is not None else raw
        if "\ufffd" in decoded and "\ufffd" not in raw:  # `email` records no defect for it
            self.defects.append(f"header {name}: undecodable characters replaced")
        return decoded

    def addresses(self, message: Message, name: str) -> list[tuple[str, str]]:
        value = self.header(message, name)
        if value is None:
            return []
        try:
            addresses = value.addresses
        except Exception as error:
            self.defects.append(f"header {name}: addresses unreadable ({_describe(error)})")
            return []
        read: list[tuple[str, str]] = []
        for address in addresses:
            addr_spec = header_text(address.addr_spec).strip()
            if addr_spec and addr_spec != "<>":
                read.append((header_text(address.display_name).strip(), addr_spec))
        return read

    def date(self, message: Message) -> datetime | None:
        value = self.header(message, "Date")
        moment = getattr(value, "datetime", None) if value is not None else None
        if not isinstance(moment, datetime):
            return None
        # "-0000" (time in UTC, zone unknown) gives a naive datetime.
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def read_part(self, part: Message, location: str, depth: int) -> None:
        self._parts_read += 1
        if self._parts_read == MAX_PARTS + 1:
            self.defects.append(f"{location}: more than {MAX_PARTS} MIME parts; the rest unread")
        if self._parts_read > MAX_PARTS:
            return
        try:
            self._read_part(part, location, depth)
        except Exception as error:
            log.debug("email part %s unreadable", location, exc_info=True)
            self.defects.append(f"{location}: could not be read ({_describe(error)})")
        finally:
            self.defects.extend(f"{location}: {_describe(defect)}" for defect in part.defects)

    def _read_part(self, part: Message, location: str, depth: int) -> None:
        content_type = part.get_content_type()
        if part.get_content_maintype() != "multipart":
            self._read_leaf(part, location, content_type)
            return
        if depth >= MAX_DEPTH:
            self.defects.append(f"{location}: nested deeper than {MAX_DEPTH}; not read")
            return
        if isinstance(part.get_payload(), list):
            children = _subparts(part)
        else:
            salvaged = self._salvaged_multipart(part, location)
            if salvaged is None:
                self._read_broken_multipart(part, location)
                return
            children = _subparts(salvaged)
        if (
            content_type == "multipart/report"
            and str(part.get_param("report-type", "")).lower() == "delivery-status"
            and self.report is None
        ):
            self.report = part
        prefix = "part " if location == "message" else f"{location}."
        for index, child in enumerate(children, start=1):
            self.read_part(child, f"{prefix}{index}", depth + 1)

    def _salvaged_multipart(self, part: Message, location: str) -> Message | None:
        """A multipart whose boundary was not found, read again with the delimiter its body
        actually uses (a garbled or missing boundary parameter)."""
        body = part.get_payload()
        if not isinstance(body, str):
            return None
        data = body.encode("ascii", "surrogateescape")
        delimiter = _BOUNDARY_LINE.search(data)
        if delimiter is None:
            return None
        boundary = delimiter.group(1).removesuffix(b"--")
        rebuilt = (
            f'Content-Type: {part.get_content_type()}; boundary="'.encode()
            + boundary
            + b'"\r\n\r\n'
            + data
        )
        reread = BytesParser(policy=policy.default).parsebytes(rebuilt)
        if not isinstance(reread.get_payload(), list):
            return None
        self.defects.append(
            f"{location}: multipart boundary not found; read with the delimiter in its body "
            f"({boundary.decode('ascii')!r})"
        )
        self.defects.extend(f"{location}: {_describe(defect)}" for defect in reread.defects)
        return reread

    def _read_broken_multipart(self, part: Message, location: str) -> None:
        self.defects.append(f"{location}: multipart without readable parts; kept as text")
        data = part.get_payload(decode=True)
        if isinstance(data, bytes) and data.strip() and not self.plain_parts:
            self.plain_parts.append(self._decoded_text(data, None, location))

    def _read_leaf(self, part: Message, location: str, content_type: str) -> None:
        disposition = part.get_content_disposition()
        filename = _clean_filename(part.get_filename())
        if (
            content_type in ("text/plain", "text/html")
            and disposition != "attachment"
            and filename is None
        ):
            data = part.get_payload(decode=True)
            text = self._decoded_text(data if isinstance(data, bytes) else b"", part, location)
            (self.plain_parts if content_type == "text/plain" else self.html_parts).append(text)
            return
        if part.is_multipart():  # message/rfc822, message/delivery-status: parsed messages
            data = self._message_bytes(part)
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
        content_id = (_raw_header(part, "Content-ID") or "").strip().strip("<>").strip() or None
        too_large = len(data) > self.max_attachment_bytes
        self.attachments.append(
            Attachment(
                filename=filename,
                content_type=content_type,
                content_id=content_id,
                inline=disposition == "inline" or (disposition is None and content_id is not None),
                data=None if too_large else data,
                size=len(data),
                skipped_reason=f"larger than {self.max_attachment_bytes} bytes"
                if too_large
                else None,
            )
        )

    @staticmethod
    def _message_bytes(part: Message) -> bytes:
        chunks: list[bytes] = []
        for message in _subparts(part):
            try:
                chunks.append(message.as_bytes())
            except Exception:  # policy.default refolds headers; compat32 writes them as read
                chunks.append(message.as_bytes(policy=policy.compat32))
        return b"".join(chunks)

    def _decoded_text(self, data: bytes, part: Message | None, location: str) -> str:
        charset = part.get_content_charset() if part is not None else None
        text, charset_known = decoded_body(data, charset)
        if not charset_known:
            self.defects.append(
                f"{location}: unknown charset {charset!r}; read as UTF-8 or Windows-1252"
            )
        return text

    def bounce(self) -> Bounce | None:
        if self.report is None:
            return None
        try:
            return self._bounce(self.report)
        except Exception as error:
            self.defects.append(f"delivery status: could not be read ({_describe(error)})")
            return None

    def _bounce(self, report: Message) -> Bounce | None:
        blocks: list[dict[str, str]] = []
        original_message_id: str | None = None
        for child in _subparts(report):
            content_type = child.get_content_type()
            if content_type in ("message/delivery-status", "message/global-delivery-status"):
                blocks = blocks or _status_blocks(child)
            elif content_type in ("message/rfc822", "message/global"):
                returned = _subparts(child)
                if returned:
                    ids = _message_ids(_raw_header(returned[0], "Message-ID"))
                    original_message_id = original_message_id or (ids[0] if ids else None)
            elif content_type in ("text/rfc822-headers", "message/global-headers"):
                data = child.get_payload(decode=True)
                if isinstance(data, bytes):
                    headers = BytesParser(policy=policy.default).parsebytes(data, headersonly=True)
                    ids = _message_ids(_raw_header(headers, "Message-ID"))
                    original_message_id = original_message_id or (ids[0] if ids else None)
        if not blocks:
            self.defects.append("delivery status: no message/delivery-status part")
            return None
        per_recipient = blocks[1:] or blocks
        chosen = next(
            (fields for fields in per_recipient if fields.get("action", "").lower() == "failed"),
            per_recipient[0],
        )
        status = chosen.get("status", "").split()
        return Bounce(
            original_message_id=original_message_id,
            status=status[0] if status else None,
            action=chosen.get("action", "").lower() or None,
            diagnostic=_type_stripped(chosen.get("diagnostic-code")),
            recipient=_type_stripped(
                chosen.get("final-recipient") or chosen.get("original-recipient")
            ),
        )


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The field blocks of a message/delivery-status part: per-message, then per-recipient
    (the `email` package parses that part's body into header blocks)."""
    blocks = [
        {
            key.lower(): header_text(_FOLDING.sub(" ", str(value))).strip()
            for key, value in block.raw_items()
        }
        for block in _subparts(part)
    ]
    return [block for block in blocks if block]


def _auto_reply(message: Message) -> bool:
    """RFC 3834's Auto-Submitted, the older X-Autoreply / X-Autorespond, and Precedence."""
    auto_submitted = _raw_header(message, "Auto-Submitted")
    if auto_submitted:
        keyword = re.split(r"[;(\s]", auto_submitted.strip(), maxsplit=1)[0].lower()
        if keyword and keyword != "no":
            return True
    for name in ("X-Autoreply", "X-Autorespond"):
        value = _raw_header(message, name)
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            return True
    precedence = (_raw_header(message, "Precedence") or "").strip().lower()
    return precedence in AUTO_REPLY_PRECEDENCE


def _parsed_message(raw: bytes, reader: _MailReader) -> Message:
    try:
        return BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as error:  # e.g. RecursionError on absurdly nested multiparts
        reader.defects.append(f"message: MIME structure unreadable ({_describe(error)})")
    try:
        return BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    except Exception as error:
        reader.defects.append(f"message: headers unreadable ({_describe(error)})")
        return Message(policy=policy.default)


def parse_mail(
    raw: bytes,
    *,
    max_attachment_bytes: int,
    cid_url: Callable[[str], str | None] | None = None,
) -> ParsedMail:
    """Read a mail as received (RFC 822 bytes). Never raises on a malformed mail.

    `cid_url` maps an inline part's Content-ID to the URL it is served from. Without it
    (media get their URLs after parsing), `cid:` images that refer to a kept part of this
    mail stay `cid:` sources; `sanitize_html(mail.html, cid_url=...)` rewrites them later.
    """
    reader = _MailReader(max_attachment_bytes)
    message = _parsed_message(raw, reader)
    reader.read_part(message, "message", 0)

    html: str | None = None
    if reader.html_parts:
        kept_ids = {a.content_id for a in reader.attachments if a.data is not None}
        unsafe_html = "\n".join(part.strip() for part in reader.html_parts)
        if len(unsafe_html) > MAX_HTML_CHARS:
            reader.defects.append(f"html: read up to {MAX_HTML_CHARS} characters")
            unsafe_html = unsafe_html[:MAX_HTML_CHARS]
        try:
            html = sanitize_html(unsafe_html, cid_url=cid_url or keep_cid_sources(kept_ids))
        except Exception as error:  # the HTML is lost, not the mail
            reader.defects.append(f"html: could not be sanitised ({_describe(error)})")
    text = "\n\n".join(part.strip("\n") for part in reader.plain_parts)
    if not text.strip() and html:
        text = html_to_text(html)
    bounce = reader.bounce()
    from_addresses = reader.addresses(message, "From")
    from_name, from_address = from_addresses[0] if from_addresses else (None, None)
    return ParsedMail(
        message_id=next(iter(_message_ids(_raw_header(message, "Message-ID"))), None),
        in_reply_to=_message_ids(_raw_header(message, "In-Reply-To")),
        references=_message_ids(_raw_header(message, "References")),
        subject=reader.text_header(message, "Subject"),
        from_address=from_address,
        from_name=from_name or None,
        to=reader.addresses(message, "To"),
        cc=reader.addresses(message, "Cc"),
        date=reader.date(message),
        text=text,
        html=html,
        preview=preview_of(text) if text.strip() else "",
        attachments=reader.attachments,
        # A DSN is an automatic mail by definition (RFC 3834), whatever its headers say.
        is_auto_reply=_auto_reply(message) or bounce is not None,
        bounce=bounce,
        defects=reader.defects,
    )
