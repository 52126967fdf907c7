"""Text out of a mail: bodies and headers decoded, HTML rendered as text, the preview.

- `decoded_body`: a body part's bytes as text, read as browsers read charset labels:
  us-ascii and iso-8859-1 as Windows-1252 (mail labelled so very often is: curly quotes,
  the euro sign), unknown or wrong charsets as UTF-8, else Windows-1252, with replacement.
- `header_text`: header text without what `email` leaves for undecodable bytes (surrogate
  escapes) and with C1 controls (Windows-1252 bytes labelled ISO-8859-1) read as such.
- `html_to_text`: what an HTML-only mail says, as text (for the preview, search and the
  text column). It reads already-sanitised HTML, so it only has to lay text out, never to
  decide what is safe.
- `preview_of`: the text with the quoted history and the signature trimmed, by
  `mail-parser-reply` (English; it has no Indonesian, so the Indonesian Gmail and Outlook
  reply headers and sign-offs are cut here first). If the trimmer fails or leaves nothing
  (a mail that is all quote, a bare forward), the whole text is the preview.
"""

from __future__ import annotations

import codecs
import logging
import re
from html.parser import HTMLParser

from mailparser_reply import EmailReplyParser  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

# The trimmer's regular expressions run over the whole text, and its "On ... wrote:" one
# backtracks cubically on a long line: a reply is at the top, so only the first 16 KiB are
# trimmed, and lines longer than any reply header are hidden from it (put back after).
TRIM_INPUT_CHARS = 16_384
OPAQUE_LINE_CHARS = 400
_PLACEHOLDER = re.compile("\ue000([0-9]+)\ue001")
# The languages asked of the trimmer: of those it knows (de, fr, es, nl, ja, zh...) none is
# close to Indonesian (nor Malay), so Indonesian is handled by the expressions below.
TRIM_LANGUAGES = ("en",)

# Indonesian reply headers, as Gmail and Outlook write them (the trimmer lacks Indonesian):
#   "Pada Sen, 7 Des 2026 pukul 09.12, Budi <budi@example.co.id> menulis:"  (may wrap once)
#   "Dari: Budi <budi@...>" followed by "Dikirim:" / "Tanggal:" / "Kepada:" on the next line
_INDONESIAN_HEADER = re.compile(
    r"^[ \t>]*Pada[ \t][^\n]*(?:\n[^\n]*)?[ \t]menulis[ \t]*:[ \t]*$"
    r"|^[ \t>]*\*?Dari\*?:[^\n]*\n[ \t>]*\*?(?:Dikirim|Tanggal|Kepada)\*?:",
    re.MULTILINE | re.IGNORECASE,
)
# Indonesian sign-offs that start a signature (never on the first line, as in the trimmer).
_INDONESIAN_SIGN_OFF = re.compile(
    r"(?<!\A)^[ \t]*(?:Hormat (?:kami|saya)|Salam(?: hangat| sukses)?|Terima kasih)"
    r"[ \t]*,[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
# What a client writes above a forwarded mail; left alone at the end of a trimmed reply.
_FORWARD_MARKER = re.compile(
    r"(?:^[ \t]*-{2,}[ \t]*(?:Forwarded message|Pesan yang diteruskan|Pesan terusan)[ \t]*-{2,}"
    r"[ \t]*$|^[ \t]*Begin forwarded message:[ \t]*$|^[ \t]*-{5,}[ \t]*Original Message"
    r"[ \t]*-{5,}[ \t]*$)\s*\Z",
    re.MULTILINE | re.IGNORECASE,
)


_ASCII_LABELS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "us", "646"})
_WINDOWS_1252_LABELS = frozenset(
    {"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819"}
    | {"windows-1252", "cp1252", "x-cp1252"}
)
_C1_CONTROL = re.compile("[\x80-\x9f]")


def _utf8_or_windows_1252(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def decoded_body(data: bytes, charset: str | None) -> tuple[str, bool]:
    """The text of a body part, and whether its charset was known. Never raises."""
    label = (charset or "us-ascii").strip().strip("\"'").lower()
    known = True
    if label in _ASCII_LABELS:
        text = _utf8_or_windows_1252(data)
    elif label in _WINDOWS_1252_LABELS:
        text = data.decode("cp1252", "replace")
    else:
        try:
            text = data.decode(codecs.lookup(label).name, "replace")
        except (LookupError, ValueError, TypeError):
            # Unknown names, and codecs that are not text encodings ("base64", "rot13").
            known = False
            text = _utf8_or_windows_1252(data)
    # NUL cannot be stored in PostgreSQL text; a BOM is not text.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text.removeprefix("\ufeff"), known


def header_text(value: str) -> str:
    """Header text as people wrote it: undecodable 8-bit bytes read as UTF-8, else as
    Windows-1252; C1 controls (never meant in a header) read as Windows-1252."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            value = _utf8_or_windows_1252(value.encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
    return _C1_CONTROL.sub(
        lambda control: bytes([ord(control.group())]).decode("cp1252", "replace"), value
    )


def preview_of(text: str) -> str:
    """The newest part of a mail's text: quoted history, reply headers and signature cut."""
    whole = text.strip()
    head = whole[:TRIM_INPUT_CHARS]
    indonesian_header = _INDONESIAN_HEADER.search(head)
    if indonesian_header is not None:
        head = head[: indonesian_header.start()]
    sign_off = _INDONESIAN_SIGN_OFF.search(head)
    if sign_off is not None:
        head = head[: sign_off.start()]
    long_lines: list[str] = []
    lines = head.replace("\ue000", "").replace("\ue001", "").split("\n")
    for index, line in enumerate(lines):
        if len(line) > OPAQUE_LINE_CHARS:
            lines[index] = f"\ue000{len(long_lines)}\ue001"
            long_lines.append(line.strip())
    try:
        replies = EmailReplyParser(languages=list(TRIM_LANGUAGES)).read("\n".join(lines)).replies
        trimmed = str(replies[0].body) if replies else ""
    except Exception:  # a third-party trimmer: a failure costs the trimming, not the mail
        log.warning("email preview: the reply trimmer failed", exc_info=True)
        return whole
    trimmed = _PLACEHOLDER.sub(lambda hidden: long_lines[int(hidden.group(1))], trimmed)
    trimmed = _FORWARD_MARKER.sub("", trimmed).strip()
    return trimmed or whole


# Tags after which text continues on a new line (one blank line for paragraphs).
_LINE_TAGS = frozenset({"br", "tr", "dt", "dd", "hr"})
_PARAGRAPH_TAGS = frozenset(
    {"p", "div", "blockquote", "pre", "table", "ul", "ol", "dl", "h1", "h2", "h3", "h4", "h5"}
    | {"h6", "section", "article", "header", "footer", "center", "address", "figure"}
)
_CELL_TAGS = frozenset({"td", "th"})
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})


class _TextRenderer(HTMLParser):
    """Collects the visible text of an HTML fragment with line breaks where blocks end."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipped_depth = 0
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipped_depth += 1
        elif tag == "pre":
            self._pre_depth += 1
        self._break_for(tag, opening=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._break_for(tag, opening=True)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipped_depth = max(0, self._skipped_depth - 1)
        elif tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        self._break_for(tag, opening=False)

    def handle_data(self, data: str) -> None:
        if self._skipped_depth:
            return
        if self._pre_depth:
            self.chunks.append(data)
        else:
            self.chunks.append(re.sub(r"\s+", " ", data))

    def _break_for(self, tag: str, *, opening: bool) -> None:
        if tag in _PARAGRAPH_TAGS:
            self.chunks.append("\n\n")
        elif tag == "li" and opening:
            self.chunks.append("\n- ")
        elif tag in _LINE_TAGS and (opening or tag != "br"):
            self.chunks.append("\n")
        elif tag in _CELL_TAGS and not opening:
            self.chunks.append(" ")


def html_to_text(html: str) -> str:
    """The readable text of an HTML mail body: blocks on their own lines, no markup."""
    renderer = _TextRenderer()
    renderer.feed(html)
    renderer.close()
    text = "".join(renderer.chunks).replace("\xa0", " ")
    lines = [line.strip(" \t") for line in text.split("\n")]
    # At most one blank line between paragraphs.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
