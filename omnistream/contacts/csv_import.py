"""Contacts read from an uploaded CSV file (pure: no SQL, no HTTP).

The file is read as campaign audiences are (campaigns/audience_file.py: UTF-8 with or
without a BOM, comma or semicolon separated, the first non-blank row the header, blank rows
skipped). Header names are compared lower-cased with punctuation and spaces as "_":
- `name` (or nama, full_name…), `phone` (or phone_number, no_hp, whatsapp…), `email` (or
  e_mail, surel);
- an attribute by its key or its label ("Customer tier" finds key customer_tier);
- anything else is ignored and reported in ignored_columns.

Each row is checked completely and every problem is reported with the line it starts on:
a phone that is no valid number in the default region (stored normalised as the WhatsApp
id), an invalid email, a name over 200 characters, an attribute value that does not fit its
definition, a row with neither name, phone nor email, and a phone or email that an earlier
row has (`duplicate`). The importer adds the database's check: taken by an existing contact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email

from omnistream.campaigns.audience_file import (
    NAME_HEADERS,
    PHONE_HEADERS,
    decode,
    delimiter_of,
    file_error,
    records,
)
from omnistream.contacts.attribute_values import from_cell, value_error
from omnistream.contacts.phones import invalid_phone_message, phone_example, whatsapp_id
from omnistream.kit.errors import Unprocessable

MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024
NAME_MAX = 200
EMAIL_HEADERS = ("email", "e_mail", "email_address", "surel", "alamat_email")


def alias(name: str) -> str:
    return "_".join(re.findall(r"[^\W_]+", name.lower()))


@dataclass(slots=True)
class ImportRow:
    line: int
    name: str = ""
    phone: str | None = None
    email: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Parsed:
    rows: list[ImportRow]
    errors: list[dict[str, Any]]
    ignored_columns: list[str]


def row_error(line: int, column: str, message: str, kind: str) -> dict[str, Any]:
    return {"line": line, "field": column, "message": message, "type": kind}


def _columns(header: list[str], definitions: Mapping[str, Mapping[str, Any]]) -> tuple[
    dict[str, int], list[str]
]:  # fmt: skip
    """{what: column index} (name, phone, email, attributes.<key>) and the ignored names."""
    by_alias = {alias(k): f"attributes.{k}" for k in definitions}
    by_alias |= {alias(d["label"]): f"attributes.{k}" for k, d in definitions.items()}
    found: dict[str, int] = {}
    ignored = []
    for index, raw in enumerate(header):
        name = alias(raw)
        if not name:
            continue
        what = (
            "name" if name in NAME_HEADERS
            else "phone" if name in PHONE_HEADERS
            else "email" if name in EMAIL_HEADERS
            else by_alias.get(name)
        )  # fmt: skip
        if what is None or what in found:
            ignored.append(raw.strip())
        else:
            found[what] = index
    return found, ignored


def parse(data: bytes, definitions: Mapping[str, Mapping[str, Any]], region: str) -> Parsed:
    """The rows and every problem of every row; raises for a bad file as a whole."""
    text = decode(data)
    found = records(text, delimiter_of(text))
    header = next(found, None)
    if header is None:
        raise file_error(Unprocessable, "empty", "The file has no header row")
    columns, ignored = _columns(header[1], definitions)
    if not {"name", "phone", "email"} & set(columns):
        raise file_error(
            Unprocessable, "no_columns", "The header names none of name, phone or email"
        )
    rows: list[ImportRow] = []
    errors: list[dict[str, Any]] = []
    first_line: dict[tuple[str, str], int] = {}
    for line, cells in found:
        if len(rows) == MAX_ROWS:
            raise file_error(
                Unprocessable, "too_many_rows", f"The file has more than {MAX_ROWS} rows"
            )
        values = {w: cells[i].strip() if i < len(cells) else "" for w, i in columns.items()}
        row = ImportRow(line)
        row_errors = _read_row(row, values, definitions, region)
        for what in ("phone", "email"):
            value = getattr(row, what)
            if value is None:
                continue
            earlier = first_line.setdefault((what, value), line)
            if earlier != line:
                row_errors.append(
                    row_error(line, what, f"is the same as on line {earlier}", "duplicate")
                )
        rows.append(row)
        errors += row_errors
    return Parsed(rows, errors, ignored)


def _read_row(
    row: ImportRow,
    values: dict[str, str],
    definitions: Mapping[str, Mapping[str, Any]],
    region: str,
) -> list[dict[str, Any]]:
    errors = []
    line = row.line
    row.name = values.get("name", "")
    if len(row.name) > NAME_MAX or "\x00" in row.name:
        errors.append(row_error(line, "name", f"must be at most {NAME_MAX} characters", "too_long"))
    if phone := values.get("phone"):
        row.phone = whatsapp_id(phone, region)
        if row.phone is None:
            message = invalid_phone_message(phone_example(region))
            errors.append(row_error(line, "phone", message, "phone"))
    if email := values.get("email"):
        try:
            row.email = validate_email(email, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            errors.append(row_error(line, "email", "Not a valid email address", "email"))
    for what, cell in values.items():
        if not what.startswith("attributes.") or not cell:
            continue
        key = what.removeprefix("attributes.")
        value = from_cell(definitions[key], cell)
        if (problem := value_error(definitions[key], value)) is not None:
            errors.append(row_error(line, what, *problem))
        else:
            row.attributes[key] = value
    if not (row.name or phone or email):
        errors.append(row_error(line, "name", "give a name, a phone or an email", "missing"))
    return errors
