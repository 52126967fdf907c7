"""An audience CSV file as a whole: its text, separator, records and header (pure: no SQL,
no HTTP). The rows themselves are read by audience_csv; the rules are in its docstring.

Every problem here is with the file as a whole: it raises an AppError on field `file` with a
stable `type`, before any row is used.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from omnistream.kit.errors import AppError, Unprocessable, UnsupportedMediaType

FIELD = "file"
MAX_COLUMNS = 100
# In order of preference, as _alias_key writes them; English, Bahasa Indonesia, Meta's wa_id.
_PHONE_WORDS = (
    "phone phone_number mobile mobile_number whatsapp whatsapp_number wa_id wa msisdn number "
    "telepon telp no_telp no_telepon nomor nomor_hp nomor_wa nomor_telepon no_hp no_wa hp handphone"
)
PHONE_HEADERS = tuple(_PHONE_WORDS.split())
NAME_HEADERS = ("name", "full_name", "contact_name", "customer_name", "nama", "nama_lengkap")

_LOOKS_LIKE_PHONE = re.compile(r"\+?[\d\s().-]{6,}")

Record = tuple[int, list[str]]  # (the line the record starts on, its fields)


def file_error(cls: type[AppError], kind: str, message: str, **extra: Any) -> AppError:
    return cls(
        f"{FIELD}: {message}", errors=[{"field": FIELD, "message": message, "type": kind, **extra}]
    )


def decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise file_error(Unprocessable, "not_utf8", "The file is UTF-16: save it as CSV UTF-8")
    if b"\x00" in data:  # no text file has NUL bytes; images, workbooks and archives do
        what = "an Excel workbook or a zip archive" if data.startswith(b"PK\x03\x04") else "binary"
        raise file_error(
            UnsupportedMediaType,
            "binary",
            f"The file is {what}, not a CSV text file: save it as CSV UTF-8",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise file_error(
            Unprocessable,
            "not_utf8",
            f"The file is not UTF-8 text (line {line}): save it as CSV UTF-8",
            line=line,
        ) from None


def delimiter_of(text: str) -> str:
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


def records(text: str, delimiter: str) -> Iterator[Record]:
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
        raise file_error(
            Unprocessable, "malformed", f"Not valid CSV at line {line}: {exc}", line=line
        ) from None


def csv_columns(data: bytes, *, max_columns: int = MAX_COLUMNS) -> list[str]:
    """The header of `data` as parse_audience_csv reads it (for mapping variables to
    columns before the audience is read); raises as it does for a bad file or header."""
    text = decode(data)
    return _columns(_header(records(text, delimiter_of(text))), max_columns)


# --------------------------------------------------------------------------- the header


def _alias_key(name: str) -> str:
    return "_".join(re.findall(r"[^\W_]+", name.lower()))


@dataclass(frozen=True, slots=True)
class Layout:
    columns: list[str]  # the header, normalised
    phone: int
    name: int | None
    variables: list[tuple[str, int]]  # (the caller's name, its column)
    used: list[int]  # the columns read, whose length is checked


def layout_of(
    found: Iterator[Record], variables: Sequence[str], phone_column: str | None, max_columns: int
) -> Layout:
    """Reads the header from `found` (the file's records) and finds the columns read."""
    header = _header(found)
    columns = _columns(header, max_columns)
    phone = _phone_index(columns, header, phone_column)
    name = _first_index(columns, NAME_HEADERS)
    wanted = _variable_indexes(columns, variables)
    used = [phone, *(i for _, i in wanted), *([] if name is None else [name])]
    return Layout(columns, phone, name, wanted, used)


def _header(found: Iterator[Record]) -> list[str]:
    header = next(found, (0, []))[1]
    if not header:
        raise file_error(Unprocessable, "empty_file", "The file is empty")
    return header


def _columns(header: list[str], max_columns: int) -> list[str]:
    if len(header) > max_columns:
        raise file_error(
            Unprocessable,
            "too_many_columns",
            f"The header has {len(header)} columns; at most {max_columns} are read",
            max_columns=max_columns,
        )
    columns = [c.strip().lower() for c in header]
    named = [c for c in columns if c]
    if not named:
        raise file_error(Unprocessable, "no_header", "The first line names no columns")
    twice = sorted({c for c in named if named.count(c) > 1})
    if twice:
        raise file_error(
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
            raise file_error(Unprocessable, "no_header", message)
        message = (
            "No phone column: name it phone, phone_number, whatsapp or no_hp "
            f"(columns found: {', '.join(c for c in columns if c)})"
        )
    raise file_error(Unprocessable, "no_phone_column", message, allowed=list(PHONE_HEADERS))


def _variable_indexes(columns: list[str], variables: Sequence[str]) -> list[tuple[str, int]]:
    """(the caller's name, its column) per variable; every one must be in the header."""
    missing = [v for v in variables if v.strip().lower() not in columns]
    if missing:
        raise file_error(
            Unprocessable,
            "missing_variable_column",
            f"No column named {', '.join(missing)} (the template mapping reads "
            f"{'it' if len(missing) == 1 else 'them'})",
            columns=missing,
        )
    return [(v, columns.index(v.strip().lower())) for v in variables]
