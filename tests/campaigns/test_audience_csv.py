"""The CSV audience parser (omnistream/campaigns/audience_csv.py): pure, no database; and
its shares read in parallel (audience_csv.read_share, audience.read_csv)."""

from __future__ import annotations

import csv
import io
import random
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from omnistream.campaigns.audience import read_csv
from omnistream.campaigns.audience_csv import (
    MAX_REJECTED_SHOWN,
    Audience,
    _plain,
    combine,
    parse_audience_csv,
    read_share,
)
from omnistream.campaigns.audience_file import csv_columns
from omnistream.contacts.phones import whatsapp_id
from omnistream.kit.errors import AppError, Unprocessable, UnsupportedMediaType

BUDI = "6281234567890"  # 0812-3456-7890 in Indonesia
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def parse(text: str | bytes, variables: tuple[str, ...] = (), **kwargs: Any) -> Audience:
    data = text.encode() if isinstance(text, str) else text
    return parse_audience_csv(data, variables, region="ID", **kwargs)


def refused(
    data: bytes | str, kind: str, status: int = 422, variables: tuple[str, ...] = (), **kw: Any
) -> AppError:
    cls = UnsupportedMediaType if status == 415 else Unprocessable
    with pytest.raises(cls) as caught:
        parse(data, variables, **kw)
    error = caught.value
    assert error.status == status
    assert error.errors is not None
    assert error.errors[0]["field"] == "file"
    assert error.errors[0]["type"] == kind
    return error


def rejected(audience: Audience) -> list[tuple[int, str]]:
    return [(r.line, r.reason) for r in audience.rejected]


def test_bom_and_comma() -> None:
    audience = parse("\ufeffPhone,Name\r\n0812-3456-7890,Budi\r\n")
    assert audience.delimiter == ","
    assert audience.columns == ["phone", "name"]
    [budi] = audience.recipients
    assert (budi.line, budi.phone, budi.name) == (2, BUDI, "Budi")


def test_semicolons_and_indonesian_spellings() -> None:
    audience = parse(
        "nomor_hp;nama;kota\n"
        "0812-3456-7890;Budi;Jakarta, Selatan\n"
        "+62 812-3456-7891;Ani;Bandung\n"
        "62 812 3456 7892;;Bogor\n"
        "(0812) 3456 7893;Dewi;Depok\n",
        ("kota",),
    )
    assert audience.delimiter == ";"
    assert audience.phone_column == "nomor_hp" and audience.name_column == "nama"
    assert [(r.phone, r.name, r.variables) for r in audience.recipients] == [
        (BUDI, "Budi", {"kota": "Jakarta, Selatan"}),
        ("6281234567891", "Ani", {"kota": "Bandung"}),
        ("6281234567892", None, {"kota": "Bogor"}),
        ("6281234567893", "Dewi", {"kota": "Depok"}),
    ]


def test_quoted_fields_and_physical_line_numbers() -> None:
    audience = parse(
        "phone;name;note\r\n"
        '0812-3456-7890;"Budi, ""the boss""; jr";"first\r\nsecond\r\nthird"\r\n'
        '"0812-3456-7891";Ani;"a;b,c"\r\n'
        'not a number;"multi\nline name";x\r\n'
        "0812-3456-7892;Dewi;\r\n",
        ("note",),
    )
    assert [(r.line, r.name, r.variables["note"]) for r in audience.recipients] == [
        (2, 'Budi, "the boss"; jr', "first\r\nsecond\r\nthird"),
        (5, "Ani", "a;b,c"),
    ]
    assert rejected(audience) == [(6, "invalid_number"), (8, "missing_variable")]


def test_invalid_and_missing_numbers() -> None:
    audience = parse("phone,name\n12345,A\n,B\nhello,C\n6.28123E+12,D\n0812-3456-7890,E\n")
    assert rejected(audience) == [
        (2, "invalid_number"),
        (3, "missing_phone"),
        (4, "invalid_number"),
        (5, "invalid_number"),
    ]
    assert audience.rejected[0].value == "12345" and audience.rejected[0].column == "phone"
    assert "for example" in audience.rejected[0].message
    assert "format the phone column as text" in audience.rejected[3].message
    assert audience.counts() == {"rows": 5, "accepted": 1, "duplicates": 0, "rejected": 4}


def test_duplicates_keep_the_first_valid_row() -> None:
    audience = parse(
        "phone,name,code\n"
        "+62 812-3456-7890,NoCode,\n"  # rejected: the next one is not its duplicate
        "0812-3456-7890,First,A\n"
        "6281234567890,Second,B\n"
        "081234567890,Third,C\n"
        "0812-3456-7891,Other,D\n",
        ("code",),
    )
    assert [(r.line, r.name) for r in audience.recipients] == [(3, "First"), (6, "Other")]
    assert audience.counts() == {"rows": 5, "accepted": 2, "duplicates": 2, "rejected": 1}


def test_missing_variable_column_names_it() -> None:
    error = refused(
        "phone,name,city\n0812-3456-7890,Budi,Jakarta\n",
        "missing_variable_column",
        variables=("City", "order_id", "due"),
    )
    assert error.errors is not None and error.errors[0]["columns"] == ["order_id", "due"]
    assert "order_id, due" in error.detail


def test_variables_match_trimmed_lower_case_headers() -> None:
    audience = parse(
        " Phone , First Name ,ORDER\n0812-3456-7890, Budi , 42 \n", ("first name", " Order")
    )
    [budi] = audience.recipients
    assert budi.variables == {"first name": "Budi", " Order": "42"}


def test_missing_variable_values_and_short_rows() -> None:
    audience = parse(
        "phone,a,b\n0812-3456-7890,1,  \n0812-3456-7891,1\n0812-3456-7892,1,2\n", ("a", "b")
    )
    assert rejected(audience) == [(2, "missing_variable"), (3, "missing_variable")]
    assert audience.rejected[0].column == "b"
    assert [r.phone for r in audience.recipients] == ["6281234567892"]


def test_too_long_field() -> None:
    audience = parse(
        f"phone,name,other\n0812-3456-7890,{'x' * 21},{'y' * 50}\n0812-3456-7891,ok,{'y' * 50}\n",
        max_field_chars=20,
    )
    assert rejected(audience) == [(2, "too_long")]
    assert audience.rejected[0].column == "name"
    assert audience.accepted == 1  # an unread column may be long


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\n  \n", b";;;\n;;\n", b",,,\n"])
def test_empty_file(data: bytes) -> None:
    refused(data, "empty_file")


def test_header_only_file() -> None:
    refused("phone,name\r\n\r\n\r\n", "no_rows")


def test_blank_rows_and_whitespace_are_skipped() -> None:
    audience = parse("\n\nphone;name\n\n  0812-3456-7890  ;\t Budi \n;;\n ; \n\n\n")
    assert audience.rows == 1
    [budi] = audience.recipients
    assert (budi.line, budi.phone, budi.name) == (5, BUDI, "Budi")


@pytest.mark.parametrize(
    ("data", "kind", "status", "said"),
    [
        (PNG, "binary", 415, "binary"),
        (b"phone\n0812\x0034567890\n", "binary", 415, "binary"),
        (b"PK\x03\x04\x14\x00\x00\x00", "binary", 415, "Excel"),
        ("phone,name\n0812-3456-7890,José\n".encode("latin-1"), "not_utf8", 422, "line 2"),
        ("phone\n0812-3456-7890\n".encode("utf-16"), "not_utf8", 422, "UTF-16"),
    ],
)
def test_binary_and_other_encodings(data: bytes, kind: str, status: int, said: str) -> None:
    assert said in refused(data, kind, status).detail


def test_header_problems() -> None:
    refused("name,city\nBudi,Jakarta\n", "no_phone_column")
    refused("0812-3456-7890,Budi\n0812-3456-7891,Ani\n", "no_header")
    refused("phone,Name,name \n0812-3456-7890,a,b\n", "duplicate_column")
    refused(
        ",".join(["phone", *(f"c{i}" for i in range(5))]) + "\n1,2\n",
        "too_many_columns",
        max_columns=5,
    )
    refused('phone,name\n0812-3456-7890,"Budi\n0812-3456-7891,Ani\n', "malformed")
    refused("number,name\n0812-3456-7890,Budi\n", "no_phone_column", phone_column="hp")


def test_phone_header_aliases_and_choice() -> None:
    assert parse("No. HP,Nama\n0812-3456-7890,Budi\n").phone_column == "no. hp"
    assert parse("WhatsApp\n0812-3456-7890\n").phone_column == "whatsapp"
    both = "number,phone\n0812-3456-7891,0812-3456-7890\n"
    assert parse(both).recipients[0].phone == BUDI  # "phone" is preferred to "number"
    assert parse(both, phone_column=" NUMBER").recipients[0].phone == "6281234567891"
    assert csv_columns(b"\xef\xbb\xbfPhone;Nama Lengkap;\n") == ["phone", "nama lengkap", ""]


def test_only_the_first_rejected_rows_are_kept() -> None:
    audience = parse("phone\n" + "bad\n" * 250 + "0812-3456-7890\n")
    assert audience.rejected_count == 250
    assert [r.line for r in audience.rejected] == list(range(2, 2 + MAX_REJECTED_SHOWN))


def test_exclude_moves_opted_out_numbers_to_rejected_rows() -> None:
    audience = parse("phone\n0812-3456-7890\nbad\n0812-3456-7891\n0812-3456-7892\n")
    out = audience.exclude({BUDI, "6281234567892", "6299999999999"})
    assert [r.phone for r in out.recipients] == ["6281234567891"]
    assert rejected(out) == [(2, "opted_out"), (3, "invalid_number"), (5, "opted_out")]
    assert out.rejected[0].value == BUDI
    assert out.counts() == {"rows": 4, "accepted": 1, "duplicates": 0, "rejected": 3}
    assert audience.accepted == 3  # the parse result itself is unchanged
    assert audience.exclude([]) is audience


def test_exclude_keeps_the_first_rejected_rows_by_line() -> None:
    audience = parse("phone\n0812-3456-7890\n" + "bad\n" * 150)
    out = audience.exclude([BUDI])
    assert out.rejected_count == 151
    assert [r.line for r in out.rejected] == list(range(2, 2 + MAX_REJECTED_SHOWN))


def numbers_file(rows: int) -> tuple[bytes, dict[str, int]]:
    """`rows` rows: 25,000 distinct numbers in two spellings, every 1,000th row invalid and
    every 1,000th (+1) without its variable; and the counts they must give."""
    out = ["phone;name;code"]
    seen: set[int] = set()
    counts = {"rows": rows, "accepted": 0, "duplicates": 0, "rejected": 0}
    for i in range(rows):
        n = 10_000_000 + i % 25_000
        if i % 1000 == 0:
            out.append(f"12{i};x;c")
            counts["rejected"] += 1
            continue
        if i % 1000 == 1:
            out.append(f"0812{n};x;")
            counts["rejected"] += 1
            continue
        out.append(
            f"0812-{n // 10_000}-{n % 10_000:04d};Name {i};c{i}" if i % 2 else f"+62812{n};;c"
        )
        counts["duplicates" if n in seen else "accepted"] += 1
        seen.add(n)
    return ("\r\n".join(out) + "\r\n").encode(), counts


def test_100000_rows() -> None:
    data, counts = numbers_file(100_000)
    audience = parse(data, ("code",))
    assert audience.counts() == counts
    assert audience.recipients[0].line == 4  # rows 0 and 1 (lines 2, 3) are rejected
    assert len({r.phone for r in audience.recipients}) == audience.accepted


def test_over_the_row_limit_accepts_nothing() -> None:
    data = ("phone\n" + "0812-3456-7890\n" * 100_001).encode()
    error = refused(data, "too_many_rows")
    assert error.errors is not None and error.errors[0]["max_rows"] == 100_000
    assert parse(data[: -len("0812-3456-7890\n")]).rows == 100_000
    refused("phone\n1\n2\n3\n", "too_many_rows", max_rows=2)


_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(_TEXT, _TEXT.filter(str.strip), _TEXT.filter(str.strip)), max_size=20),
    delimiter=st.sampled_from([",", ";"]),
    terminator=st.sampled_from(["\r\n", "\n"]),
    bom=st.booleans(),
)
def test_csv_writer_files_round_trip(
    rows: list[tuple[str, str, str]], delimiter: str, terminator: str, bom: bool
) -> None:
    # csv.writer leaves a lone "\r" unquoted when lines end in "\n" alone: no reader can
    # tell it from a line break, so such files are not ones csv.writer writes faithfully
    assume(terminator == "\r\n" or not any("\r" in "".join(row) for row in rows))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=terminator)
    writer.writerow(["Phone", "Name", "A", "b"])
    written, line = [], 2
    for i, (name, a, b) in enumerate(rows):
        start = buffer.tell()
        writer.writerow([f"0812{10_000_000 + i}", name, a, b])
        written.append((line, f"62812{10_000_000 + i}", name.strip() or None, a.strip(), b.strip()))
        line += len(re.findall(r"\r\n|\r|\n", buffer.getvalue()[start:]))
    data = ("\ufeff" if bom else "") + buffer.getvalue()
    if not rows:
        refused(data, "no_rows", variables=("a", "B"))
        return
    audience = parse(data, ("a", "B"))
    assert audience.delimiter == delimiter
    assert audience.counts() == {
        "rows": len(rows),
        "accepted": len(rows),
        "duplicates": 0,
        "rejected": 0,
    }
    got = [
        (r.line, r.phone, r.name, r.variables["a"], r.variables["B"]) for r in audience.recipients
    ]
    assert got == written


_VALID = ["081234567890", "+6281234567890", "6281234567890", "81234567890", "+14155552671"]


@st.composite
def spelled(draw: st.DrawFn) -> str:
    """A valid number (or, one time in four, any digits) with separators between digits,
    sometimes after a bracket: "(0812) 3456-7890"."""
    if draw(st.integers(0, 3)) == 0:
        number = draw(st.from_regex(r"\A\+?[0-9]{1,16}\Z"))
    else:
        number = draw(st.sampled_from(_VALID))
    gaps = st.sampled_from(["", "", "", " ", "-", ".", "(", ")", " (", ") ", "--"])
    opening = draw(st.sampled_from(["", "", "("]))
    return opening + number[:2] + "".join(draw(gaps) + digit for digit in number[2:])


@settings(max_examples=300, deadline=None)
@given(spelled())
def test_plain_reads_the_same_number(raw: str) -> None:
    assert whatsapp_id(_plain(raw), "ID") == whatsapp_id(raw, "ID")


def mixed_file(rows: int, seed: int) -> bytes:
    """`rows` rows as exports have them: numbers from a small set in several spellings (so
    most repeat, far apart), invalid and missing numbers, empty variables, blank rows and
    quoted names with separators and line breaks."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Phone", "Name", "Code"])
    for i in range(rows):
        n = 10_000_000 + rng.randrange(rows // 3 + 1)
        phone = rng.choice(
            [f"0812{n}", f"+62 812 {n}", f"62812{n}", f"(0812) {n}", "12345", "", "6.28E+12"]
        )
        name = rng.choice(["", f"Name {i}", f'Toko "{i}", Jl.\nNo. {i}'])
        writer.writerow([phone, name, rng.choice(["", f"c{i}", f"c{i}", f"c{i}"])])
        if rng.random() < 0.02:
            writer.writerow(["", "", ""])
    return out.getvalue().encode()


def in_shares(data: bytes, shares: int, variables: tuple[str, ...] = ("code",)) -> Audience:
    return combine(
        [read_share(data, variables, region="ID", share=i, shares=shares) for i in range(shares)]
    )


def test_shares_read_the_audience_of_one_process() -> None:
    data = mixed_file(3000, seed=7)
    whole = parse(data, ("code",))
    assert whole.duplicates > 100 and whole.rejected_count > MAX_REJECTED_SHOWN
    for shares in (2, 3, 7):
        assert in_shares(data, shares) == whole
    assert in_shares(data[:40], 5, ()) == parse(data[:40])  # fewer rows than shares


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 60), shares=st.integers(1, 6))
def test_any_shares_read_the_same_audience(seed: int, rows: int, shares: int) -> None:
    data = mixed_file(rows, seed)
    try:
        whole = parse(data, ("code",))
    except AppError as error:  # the same refusal from every share
        for i in range(shares):
            with pytest.raises(AppError) as caught:
                read_share(data, ("code",), region="ID", share=i, shares=shares)
            assert caught.value.errors == error.errors
        return
    assert in_shares(data, shares) == whole


async def test_the_pool_reads_what_one_process_reads() -> None:
    data = mixed_file(5000, seed=11)
    assert await read_csv(data, ["code"], "ID", None) == parse(data, ("code",))
    with pytest.raises(Unprocessable) as caught:
        await read_csv(data + b'"unterminated\n', ["code"], "ID", None)
    assert caught.value.errors is not None and caught.value.errors[0]["type"] == "malformed"
