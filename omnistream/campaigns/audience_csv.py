"""A campaign's audience read from an uploaded CSV file: pure (no SQL, no HTTP).

The file (read by audience_file)
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
  The header can be read alone (csv_columns).
- Rows whose fields are all empty are skipped and not counted (trailing blank lines,
  the ";;;" rows spreadsheets export). Values are trimmed; values past the header's columns
  are ignored.

Each row
- Its line is the physical line (1-based) its record starts on, counting the line breaks
  inside quoted fields, so it matches what an editor shows.
- Rejected, in this order: `too_long` (the phone, name or a mapped variable is over
  `max_field_chars`), `missing_phone`, `invalid_number` (read as
  omnistream.contacts.phones.whatsapp_id reads it in `region`: audience_phones),
  `missing_variable` (a mapped
  variable is empty). A valid row whose number was accepted on an earlier row is a
  duplicate: dropped, counted, not rejected (the first valid row wins).
- rows == accepted + duplicates + rejected_count; `rejected` holds the first 100 by line.

Opted-out numbers are known only to the database: Audience.exclude(numbers) moves those
recipients to the rejected rows (reason `opted_out`, with their lines).

Any problem with the file as a whole raises (field `file`, a stable `type` per problem)
before anything is returned: there is never a partial audience.

In parallel: read_share(…, share=i, shares=n) reads the i-th of n consecutive shares of the
rows (every share reads the whole file, which is cheap next to reading numbers, so each
raises any problem of the file), and combine() makes their audiences the file's, the same
as parse_audience_csv's (a number accepted in an earlier share makes a later share's row
a duplicate).
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Literal

from omnistream.campaigns.audience_copy import recipient_text
from omnistream.campaigns.audience_file import (
    MAX_COLUMNS,
    Layout,
    decode,
    delimiter_of,
    file_error,
    layout_of,
    records,
)
from omnistream.campaigns.audience_phones import number_reader
from omnistream.contacts.phones import invalid_phone_message, phone_example
from omnistream.kit.errors import Unprocessable

RejectReason = Literal[
    "invalid_number", "missing_phone", "missing_variable", "too_long", "opted_out"
]

MAX_ROWS = 100_000
# WhatsApp caps a template's body (variables included) at 1,024 characters.
MAX_FIELD_CHARS = 1024
MAX_REJECTED_SHOWN = 100

# Spaces, dashes, dots and brackets between digits (and a bracket before a leading "0" or
# "+"): phonenumbers skips them one by one, and reads the same number without them
# (tests/campaigns: test_plain_reads_the_same_number).
_SPACED = re.compile(r"(?:\([0+]|[\d+])[\d ().-]*")
_SEPARATORS = str.maketrans("", "", " -.()")
_SCIENTIFIC = re.compile(r"\d(?:[.,]\d+)?[eE]\+?\d+")


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
class Recipients:
    """Accepted rows column by column, in file order: lists of strings come back from the
    parse pool about ten times faster than as many Recipient objects."""

    lines: list[int] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    values: list[tuple[str, ...]] = field(default_factory=list)  # in Audience.variables' order
    texts: list[str] = field(default_factory=list)  # as COPY text (audience_copy.recipient_text)

    def __len__(self) -> int:
        return len(self.phones)

    def pick(self, keep: list[int]) -> Recipients:
        """The rows at the indexes `keep`."""
        return Recipients(
            [self.lines[i] for i in keep],
            [self.phones[i] for i in keep],
            [self.names[i] for i in keep],
            [self.values[i] for i in keep],
            [self.texts[i] for i in keep],
        )

    def __add__(self, other: Recipients) -> Recipients:
        return Recipients(
            self.lines + other.lines,
            self.phones + other.phones,
            self.names + other.names,
            self.values + other.values,
            self.texts + other.texts,
        )


@dataclass(frozen=True, slots=True)
class Audience:
    accepted_rows: Recipients
    variables: tuple[str, ...]  # the variable names as the caller gave them
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
        return len(self.accepted_rows)

    @property
    def phones(self) -> list[str]:
        return self.accepted_rows.phones

    @property
    def recipients(self) -> list[Recipient]:
        rows, names = self.accepted_rows, self.variables
        return [
            Recipient(line, phone, name, dict(zip(names, values, strict=True)))
            for line, phone, name, values in zip(
                rows.lines, rows.phones, rows.names, rows.values, strict=True
            )
        ]

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
        rows = self.accepted_rows
        gone = [
            RejectedRow(line, reason, message, self.phone_column, phone)
            for line, phone in zip(rows.lines, rows.phones, strict=True)
            if phone in drop
        ]
        shown = heapq.merge(self.rejected, gone, key=lambda r: r.line)
        return replace(
            self,
            accepted_rows=rows.pick(
                [i for i, phone in enumerate(rows.phones) if phone not in drop]
            ),
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
    return read_share(
        data,
        variables,
        region=region,
        phone_column=phone_column,
        max_rows=max_rows,
        max_columns=max_columns,
        max_field_chars=max_field_chars,
    )


def read_share(
    data: bytes,
    variables: Sequence[str] = (),
    *,
    region: str,
    phone_column: str | None = None,
    share: int = 0,
    shares: int = 1,
    max_rows: int = MAX_ROWS,
    max_columns: int = MAX_COLUMNS,
    max_field_chars: int = MAX_FIELD_CHARS,
) -> Audience:
    """The audience of the rows of the `share`-th (from 0) of `shares` consecutive, nearly
    equal shares of the file's rows; raises for any problem of the whole file."""
    with _no_cycle_collection():
        text = decode(data)
        delimiter = delimiter_of(text)
        found = records(text, delimiter)
        layout = layout_of(found, variables, phone_column, max_columns)
        every = list(islice(found, max_rows + 1))
        if len(every) > max_rows:
            raise file_error(
                Unprocessable,
                "too_many_rows",
                f"The file has more than {max_rows:,} rows; split it into smaller files",
                max_rows=max_rows,
            )
        if not every:
            raise file_error(Unprocessable, "no_rows", "The file has a header row but no data rows")
        rows = _Rows(layout, region, max_field_chars)
        for line, row in every[len(every) * share // shares : len(every) * (share + 1) // shares]:
            rows.read(line, row)
        return Audience(
            accepted_rows=rows.accepted,
            variables=tuple(dict.fromkeys(name for name, _ in layout.variables)),
            rows=rows.count,
            duplicates=rows.duplicates,
            rejected_count=rows.rejected_count,
            rejected=rows.rejected,
            columns=layout.columns,
            phone_column=layout.columns[layout.phone],
            name_column=None if layout.name is None else layout.columns[layout.name],
            delimiter=delimiter,
        )


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cyclic garbage collector paused: with the file's records alive (100,000
    lists), each full collection walks them all, 15-20 % of a share's time. Reading makes
    almost no reference cycles (reference counting frees the rest); the few are collected
    once the collector runs again."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def combine(shares: Sequence[Audience]) -> Audience:
    """The file's audience from the audiences of its shares (read_share), in order."""
    first, *rest = shares
    accepted, duplicates = first.accepted_rows, first.duplicates
    seen = set(accepted.phones)
    for share in rest:
        rows = share.accepted_rows
        keep = [i for i, phone in enumerate(rows.phones) if phone not in seen]
        seen.update(rows.phones)
        accepted += rows.pick(keep) if len(keep) < len(rows) else rows
        duplicates += share.duplicates + len(rows) - len(keep)
    return replace(
        first,
        accepted_rows=accepted,
        rows=sum(s.rows for s in shares),
        duplicates=duplicates,
        rejected_count=sum(s.rejected_count for s in shares),
        rejected=[r for s in shares for r in s.rejected][:MAX_REJECTED_SHOWN],
    )


class _Rows:
    """The data rows read so far: recipients, counts and the first rejected rows."""

    def __init__(self, layout: Layout, region: str, max_field_chars: int) -> None:
        self.layout = layout
        self.number_of = number_reader(region)
        self.max_field_chars = max_field_chars
        self.invalid_message = invalid_phone_message(phone_example(region))
        self.numbers: dict[str, str | None] = {}  # raw -> WhatsApp id: files repeat numbers
        self.seen: set[str] = set()
        self.accepted = Recipients()
        self.rejected: list[RejectedRow] = []
        self.count = self.duplicates = self.rejected_count = 0

    def read(self, line: int, row: list[str]) -> None:
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
            phone = self.numbers[key] = self.number_of(key)
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
            return
        self.seen.add(phone)
        at = layout.name
        person = (row[at].strip() or None) if at is not None and at < width else None
        accepted = self.accepted
        accepted.lines.append(line)
        accepted.phones.append(phone)
        accepted.names.append(person)
        accepted.values.append(tuple(values.values()))
        accepted.texts.append(recipient_text(phone, person, values, line))

    def reject(self, line: int, reason: RejectReason, message: str, at: int, value: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTED_SHOWN:
            column = self.layout.columns[at]
            self.rejected.append(RejectedRow(line, reason, message, column, value[:100] or None))


def _plain(raw: str) -> str:
    """`raw` without separators when it holds only digits and separators after its first
    digit or "+" (or after "(0", "(+"): a shorter key for the cache, and one
    audience_phones reads quickly."""
    return raw.translate(_SEPARATORS) if _SPACED.fullmatch(raw) else raw
