"""A campaign's audience read from an uploaded CSV file: pure (no SQL, no HTTP).

The file
- UTF-8, with or without a BOM. NUL bytes (a binary file: PNG, XLSX, UTF-16) answer 415;
  bytes that are not UTF-8 (a Windows-1252 export) answer 422 naming the line.
- Comma or semicolon separated: whichever occurs more often outside quotes on the header
  line (semicolons are what spreadsheets write where the decimal mark is a comma, as in
  Indonesia). Quoted fields may hold separators, doubled quotes and line breaks; CRLF or LF.
  A malformed quote (an unterminated one, text after a closing one) is a 422 with its line.
- The first non-blank row is the header. Its names are matched trimmed and lower-cased:
  a template variable mapped to column "First Name" is read from a header " first name ".
  Headers without a name are ignored (spreadsheets add them for trailing separators); two
  columns with the same name are refused.
- The phone column is the one named `phone_column` when given, else the first header found
  in PHONE_HEADERS (compared with punctuation and spaces as "_": "Phone Number", "No. HP"
  and "nomor-wa" match). The optional name column is the first found in NAME_HEADERS.
- Rows whose fields are all empty are skipped and not counted (trailing blank lines,
  the ";;;" rows spreadsheets export). Values are trimmed; values past the header's columns
  are ignored.

Each row
- Its line is the physical line (1-based) its record starts on, counting the line breaks
  inside quoted fields, so it matches what an editor shows.
- Rejected, in this order: `too_long` (the phone, name or a mapped variable is over
  `max_field_chars`), `missing_phone`, `invalid_number` (read by
  omnistream.contacts.phones.whatsapp_id in `region`), `missing_variable` (a mapped
  variable is empty). A valid row whose number was accepted on an earlier row is a
  duplicate: dropped, counted, not rejected (the first valid row wins).
- rows == accepted + duplicates + rejected_count; `rejected` holds the first 100 by line.

Opted-out numbers are known only to the database: Audience.exclude(numbers) moves those
recipients to the rejected rows (reason `opted_out`, with their lines).

Any problem with the file as a whole raises (field `file`, a stable `type` per problem)
before anything is returned: there is never a partial audience.
"""

from __future__ import annotations

import csv
import heapq
import io
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from omnistream.contacts.phones import invalid_phone_message, phone_example, whatsapp_id
from omnistream.kit.errors import AppError, Unprocessable, UnsupportedMediaType

RejectReason = Literal[
    "invalid_number", "missing_phone", "missing_variable", "too_long", "opted_out"
]

FIELD = "file"
MAX_ROWS = 100_000
MAX_COLUMNS = 100
# WhatsApp caps a template's body (variables included) at 1,024 characters.
MAX_FIELD_CHARS = 1024
MAX_REJECTED_SHOWN = 100
# In order of preference, as _alias_key writes them; English, Bahasa Indonesia, Meta's wa_id.
_PHONE_WORDS = (
    "phone phone_number mobile mobile_number whatsapp whatsapp_number wa_id wa msisdn number "
    "telepon telp no_telp no_telepon nomor nomor_hp nomor_wa nomor_telepon no_hp no_wa hp handphone"
)
PHONE_HEADERS = tuple(_PHONE_WORDS.split())
NAME_HEADERS = ("name", "full_name", "contact_name", "customer_name", "nama", "nama_lengkap")

# Spaces, dashes, dots and brackets between digits: phonenumbers skips them one by one, and
# reads the same number without them (tests/campaigns: test_plain_reads_the_same_number).
_SPACED = re.compile(r"[\d+][\d ().-]*")
_SEPARATORS = str.maketrans("", "", " -.()")
_SCIENTIFIC = re.compile(r"\d(?:[.,]\d+)?[eE]\+?\d+")
_LOOKS_LIKE_PHONE = re.compile(r"\+?[\d\s().-]{6,}")


@dataclass(frozen=True, slots=True)
class Recipient:
    line: int  # where the row starts in the file, for rejecting it later (opted out)
    phone: str  # WhatsApp id: E.164 digits without "+"
    name: str | None
    variables: dict[str, str]  # keyed by the variable names as the caller gave them


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    reason: RejectReason
    message: str
    column: str | None  # the header of the offending field, as normalised
    value: str | None  # the offending value, cut to 100 characters (None when empty)


@dataclass(frozen=True, slots=True)
class Audience:
    recipients: list[Recipient]
    rows: int  # data rows read (blank rows not counted)
    duplicates: int
    rejected_count: int
    rejected: list[RejectedRow]  # the first MAX_REJECTED_SHOWN, by line
    columns: list[str]  # the header, normalised
    phone_column: str
    name_column: str | None
    delimiter: str

    @property
    def accepted(self) -> int:
        return len(self.recipients)

    @property
    def phones(self) -> list[str]:
        return [r.phone for r in self.recipients]

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected_count,
        }

    def exclude(
        self,
        numbers: Collection[str],
        reason: RejectReason = "opted_out",
        message: str = "Opted out: never sent to",
    ) -> Audience:
        """A copy without the recipients whose phone is in `numbers`, each now a rejected
        row at its line (the shown rows stay the first MAX_REJECTED_SHOWN by line)."""
        drop = numbers if isinstance(numbers, set | frozenset) else set(numbers)
        if not drop:
            return self
        kept = [r for r in self.recipients if r.phone not in drop]
        gone = [
            RejectedRow(r.line, reason, message, self.phone_column, r.phone)
            for r in self.recipients
            if r.phone in drop
        ]
        shown = heapq.merge(self.rejected, gone, key=lambda r: r.line)
        return replace(
            self,
            recipients=kept,
            rejected=[r for r, _ in zip(shown, range(MAX_REJECTED_SHOWN), strict=False)],
            rejected_count=self.rejected_count + len(gone),
        )


def parse_audience_csv(
    data: bytes,
    variables: Sequence[str] = (),
    *,
    region: str,
    phone_column: str | None = None,
    max_rows: int = MAX_ROWS,
    max_columns: int = MAX_COLUMNS,
    max_field_chars: int = MAX_FIELD_CHARS,
) -> Audience:
    """The audience in `data`: `variables` are the columns the template mapping reads (each
    required in the header and on every row); national numbers are read in `region`."""
    text = _decode(data)
    delimiter = _delimiter(text)
    records = _records(text, delimiter)
    layout = _layout(records, variables, phone_column, max_columns)
    rows = _Rows(layout, region, max_field_chars)
    for line, row in records:
        if rows.read(line, row) > max_rows:
            raise _file_error(
                Unprocessable,
                "too_many_rows",
                f"The file has more than {max_rows:,} rows; split it into smaller files",
                max_rows=max_rows,
            )
    if rows.count == 0:
        raise _file_error(Unprocessable, "no_rows", "The file has a header row but no data rows")
    return Audience(
        recipients=rows.recipients,
        rows=rows.count,
        duplicates=rows.duplicates,
        rejected_count=rows.rejected_count,
        rejected=rows.rejected,
        columns=layout.columns,
        phone_column=layout.columns[layout.phone],
        name_column=None if layout.name is None else layout.columns[layout.name],
        delimiter=delimiter,
    )


def csv_columns(data: bytes, *, max_columns: int = MAX_COLUMNS) -> list[str]:
    """The header of `data` as parse_audience_csv reads it (for mapping variables to
    columns before the audience is read); raises as it does for a bad file or header."""
    text = _decode(data)
    return _columns(_header(_records(text, _delimiter(text))), max_columns)


class _Rows:
    """The data rows read so far: recipients, counts and the first rejected rows."""

    def __init__(self, layout: _Layout, region: str, max_field_chars: int) -> None:
        self.layout = layout
        self.region = region
        self.max_field_chars = max_field_chars
        self.invalid_message = invalid_phone_message(phone_example(region))
        self.numbers: dict[str, str | None] = {}  # raw -> WhatsApp id: files repeat numbers
        self.seen: set[str] = set()
        self.recipients: list[Recipient] = []
        self.rejected: list[RejectedRow] = []
        self.count = self.duplicates = self.rejected_count = 0

    def read(self, line: int, row: list[str]) -> int:
        """Takes one row; returns how many rows have been read."""
        self.count += 1
        layout, width = self.layout, len(row)
        long = None
        if max(map(len, row)) > self.max_field_chars:  # rare: look closer only then
            long = next(
                (i for i in layout.used if i < width and len(row[i]) > self.max_field_chars), None
            )
        if long is not None:
            message = (
                f"Column {layout.columns[long]} is longer than {self.max_field_chars:,} characters"
            )
            return self.reject(line, "too_long", message, long, row[long])
        raw = row[layout.phone].strip() if layout.phone < width else ""
        if not raw:
            return self.reject(line, "missing_phone", "No phone number", layout.phone, raw)
        key = _plain(raw)
        phone: str | None = self.numbers.get(key, "")  # "": not read yet
        if phone == "":
            phone = self.numbers[key] = whatsapp_id(key, self.region)
        if phone is None:
            message = self.invalid_message
            if _SCIENTIFIC.fullmatch(raw):
                message = (
                    f"A spreadsheet turned the number into {raw}: format the phone column "
                    "as text and export the file again"
                )
            return self.reject(line, "invalid_number", message, layout.phone, raw)
        values: dict[str, str] = {}
        for name, i in layout.variables:
            value = row[i].strip() if i < width else ""
            if not value:
                message = f"Column {layout.columns[i]} is empty (the template needs it)"
                return self.reject(line, "missing_variable", message, i, "")
            values[name] = value
        if phone in self.seen:
            self.duplicates += 1
            return self.count
        self.seen.add(phone)
        at = layout.name
        person = (row[at].strip() or None) if at is not None and at < width else None
        self.recipients.append(Recipient(line, phone, person, values))
        return self.count

    def reject(self, line: int, reason: RejectReason, message: str, at: int, value: str) -> int:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTED_SHOWN:
            column = self.layout.columns[at]
            self.rejected.append(RejectedRow(line, reason, message, column, value[:100] or None))
        return self.count


def _plain(raw: str) -> str:
    """`raw` without separators when it holds only digits and separators after its first
    digit or "+": a shorter key for the cache, and quicker for phonenumbers to read."""
    return raw.translate(_SEPARATORS) if _SPACED.fullmatch(raw) else raw


# --------------------------------------------------------------------------- the file


def _file_error(cls: type[AppError], kind: str, message: str, **extra: Any) -> AppError:
    return cls(
        f"{FIELD}: {message}", errors=[{"field": FIELD, "message": message, "type": kind, **extra}]
    )


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _file_error(Unprocessable, "not_utf8", "The file is UTF-16: save it as CSV UTF-8")
    if b"\x00" in data:  # no text file has NUL bytes; images, workbooks and archives do
        what = "an Excel workbook or a zip archive" if data.startswith(b"PK\x03\x04") else "binary"
        raise _file_error(
            UnsupportedMediaType,
            "binary",
            f"The file is {what}, not a CSV text file: save it as CSV UTF-8",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _file_error(
            Unprocessable,
            "not_utf8",
            f"The file is not UTF-8 text (line {line}): save it as CSV UTF-8",
            line=line,
        ) from None


def _delimiter(text: str) -> str:
    """';' when the header line has more semicolons than commas outside quotes, else ','."""
    commas = semicolons = 0
    quoted = False
    for ch in text.lstrip("\r\n\t ")[:65536]:
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch == ",":
            commas += 1
        elif ch == ";":
            semicolons += 1
        elif ch in "\r\n":
            break
    return ";" if semicolons > commas else ","


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(line the record starts on, fields) for each record with a non-empty field."""
    # newline="": records keep their line breaks and line_num counts physical lines
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    end = 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if any(row) and any(map(str.strip, row)):
                yield start, row
    except csv.Error as exc:
        line = reader.line_num
        raise _file_error(
            Unprocessable, "malformed", f"Not valid CSV at line {line}: {exc}", line=line
        ) from None


# --------------------------------------------------------------------------- the header


def _alias_key(name: str) -> str:
    return "_".join(re.findall(r"[^\W_]+", name.lower()))


@dataclass(frozen=True, slots=True)
class _Layout:
    columns: list[str]  # the header, normalised
    phone: int
    name: int | None
    variables: list[tuple[str, int]]  # (the caller's name, its column)
    used: list[int]  # the columns read, whose length is checked


def _layout(
    records: Iterator[tuple[int, list[str]]],
    variables: Sequence[str],
    phone_column: str | None,
    max_columns: int,
) -> _Layout:
    """Reads the header from `records` and finds the columns read."""
    header = _header(records)
    columns = _columns(header, max_columns)
    phone = _phone_index(columns, header, phone_column)
    name = _first_index(columns, NAME_HEADERS)
    wanted = _variable_indexes(columns, variables)
    used = [phone, *(i for _, i in wanted), *([] if name is None else [name])]
    return _Layout(columns, phone, name, wanted, used)


def _header(records: Iterator[tuple[int, list[str]]]) -> list[str]:
    header = next(records, (0, []))[1]
    if not header:
        raise _file_error(Unprocessable, "empty_file", "The file is empty")
    return header


def _columns(header: list[str], max_columns: int) -> list[str]:
    if len(header) > max_columns:
        raise _file_error(
            Unprocessable,
            "too_many_columns",
            f"The header has {len(header)} columns; at most {max_columns} are read",
            max_columns=max_columns,
        )
    columns = [c.strip().lower() for c in header]
    named = [c for c in columns if c]
    if not named:
        raise _file_error(Unprocessable, "no_header", "The first line names no columns")
    twice = sorted({c for c in named if named.count(c) > 1})
    if twice:
        raise _file_error(
            Unprocessable,
            "duplicate_column",
            f"The header names a column more than once: {', '.join(twice)}",
            columns=twice,
        )
    return columns


def _first_index(columns: list[str], aliases: Sequence[str]) -> int | None:
    keys = [_alias_key(c) for c in columns]
    for alias in aliases:
        if alias in keys:
            return keys.index(alias)
    return None


def _phone_index(columns: list[str], header: list[str], chosen: str | None) -> int:
    if chosen is not None:
        if chosen.strip().lower() in columns:
            return columns.index(chosen.strip().lower())
        message = f"No column named {chosen.strip()} for the phone numbers"
    else:
        found = _first_index(columns, PHONE_HEADERS)
        if found is not None:
            return found
        if any(_LOOKS_LIKE_PHONE.fullmatch(c.strip()) for c in header):
            message = "The first line holds data, not column names: add a header such as phone,name"
            raise _file_error(Unprocessable, "no_header", message)
        message = (
            "No phone column: name it phone, phone_number, whatsapp or no_hp "
            f"(columns found: {', '.join(c for c in columns if c)})"
        )
    raise _file_error(Unprocessable, "no_phone_column", message, allowed=list(PHONE_HEADERS))


def _variable_indexes(columns: list[str], variables: Sequence[str]) -> list[tuple[str, int]]:
    """(the caller's name, its column) per variable; every one must be in the header."""
    missing = [v for v in variables if v.strip().lower() not in columns]
    if missing:
        raise _file_error(
            Unprocessable,
            "missing_variable_column",
            f"No column named {', '.join(missing)} (the template mapping reads "
            f"{'it' if len(missing) == 1 else 'them'})",
            columns=missing,
        )
    return [(v, columns.index(v.strip().lower())) for v in variables]
