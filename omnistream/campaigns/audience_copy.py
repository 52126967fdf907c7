"""An audience's recipients as the data of queries.insert_recipients' COPY: PostgreSQL's text
format, one line per recipient with the columns of queries.RECIPIENT_COPY_COLUMNS.

The last four columns (phone, name, variables, line) are written where the CSV is read,
in the parse pool (recipient_text); the API process only puts each recipient's id,
campaign and contact in front (copy_data).

Ids are random (version 4) UUIDs, like the column's default, but handed out in ascending
order down the file: the indexes that end in the id (the primary key, the sender's due
index, the status index) then grow at one end instead of at random places, which makes
the insert about a second faster for 100,000 recipients, and the campaign sends and
lists its recipients in the file's order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from uuid import UUID

import orjson

NULL = "\\N"
CHUNK = 10_000  # recipients per piece of copy_data


def escape(text: str) -> str:
    """`text` as a field of the text format (backslash, tab and line breaks escaped)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        text = text.replace("\r", "\\r")
    return text


def recipient_text(phone: str, name: str | None, variables: dict[str, str], line: int) -> str:
    """The phone, name, variables and line columns of a recipient, and the line's end.
    `variables` (JSON) is what a template's columns read: the row's mapped values, its
    phone and its name ("" when the row has none)."""
    values = orjson.dumps({**variables, "phone": phone, "name": name or ""}).decode()
    # orjson escapes control characters inside strings: only its backslashes need doubling
    values = values.replace("\\", "\\\\")
    return f"{phone}\t{escape(name or '')}\t{values}\t{line}\n"


def sorted_ids(count: int) -> list[str]:
    """`count` random version 4 UUIDs (32 hex digits, as PostgreSQL reads them), ascending."""
    random = bytearray(os.urandom(16 * count))
    random[6::16] = bytes(b & 0x0F | 0x40 for b in random[6::16])  # version 4
    random[8::16] = bytes(b & 0x3F | 0x80 for b in random[8::16])  # variant 10xx
    digits = random.hex()
    ids = [digits[i : i + 32] for i in range(0, 32 * count, 32)]
    ids.sort()
    return ids


def copy_data(
    campaign_id: UUID, phones: Sequence[str], texts: Sequence[str], contacts: Mapping[str, str]
) -> Iterator[bytes]:
    """Every recipient's line, CHUNK lines at a time: a new id, the campaign, the contact
    with its phone (from `contacts`, NULL if none) and its recipient_text. (In chunks, the
    database reads a chunk while the next is made.)"""
    head = f"\t{campaign_id}\t"
    ids = sorted_ids(len(texts))
    for start in range(0, len(texts), CHUNK):
        end = start + CHUNK
        yield "".join(
            [
                f"{id_}{head}{contacts.get(phone, NULL)}\t{text}"
                for id_, phone, text in zip(
                    ids[start:end], phones[start:end], texts[start:end], strict=True
                )
            ]
        ).encode()
