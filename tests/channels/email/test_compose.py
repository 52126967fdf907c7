"""Composing outbound mails without a server: the subject rules, the References chain, our
Message-IDs and their recognition, folding with many ids, non-ASCII headers, the HTML
part, and header injection attempts. The same mails through a real SMTP server are in
test_smtp.py."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from uuid import UUID, uuid4

import pytest

from omnistream.channels.email.compose import (
    MAX_REFERENCES,
    ComposeError,
    OutboundAttachment,
    compose_reply,
    message_ids_in,
    own_message_id,
    parse_own_message_id,
    references_chain,
    reply_subject,
    text_to_html,
)

CONV = UUID("0b5c2a52-6d1e-4f0a-9a53-3c1f8e2b7d10")
MSG = UUID("9f8e7d6c-5b4a-4321-8fed-cba987654321")
DOMAIN = "support.example.com"


def compose(**overrides: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "from_name": "Dewi (Support)",
        "from_address": "help@support.example.com",
        "to": ["budi@example.id"],
        "subject": "Pesanan saya belum sampai",
        "new_thread": False,
        "conversation_id": CONV,
        "message_id": MSG,
        "domain": DOMAIN,
        "in_reply_to": "<CAF=abc123@mail.gmail.com>",
        "references": [],
        "body_text": "Halo Budi,\n\nPaket Anda sudah dikirim.",
    }
    return compose_reply(**(values | overrides))


def raw_header(raw: bytes, name: str) -> bytes:
    """The header as sent: its first line and its continuation lines."""
    lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(name.encode() + b":"))
    end = start + 1
    while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
        end += 1
    return b"\r\n".join(lines[start:end])


def round_trip(message: EmailMessage) -> tuple[bytes, EmailMessage]:
    raw = message.as_bytes()
    parsed: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)
    return raw, parsed


@pytest.mark.parametrize(
    ("thread_subject", "expected"),
    [
        ("Order 1234", "Re: Order 1234"),
        ("Re: Order 1234", "Re: Order 1234"),
        ("RE: Order 1234", "Re: Order 1234"),
        ("re:Order 1234", "Re: Order 1234"),
        ("Re[2]: Order 1234", "Re: Order 1234"),
        ("RE(3): Order 1234", "Re: Order 1234"),
        ("Re: RE: Re: Order 1234", "Re: Order 1234"),
        ("AW: Bestellung", "Re: Bestellung"),
        ("SV: Re: Beställning", "Re: Beställning"),
        ("Antw: Bestelling", "Re: Bestelling"),
        ("رد: طلبي", "Re: طلبي"),
        ("Re : Commande", "Re: Commande"),
        ("Fwd: Invoice", "Re: Fwd: Invoice"),
        ("Re: Fwd: Invoice", "Re: Fwd: Invoice"),
        ("FW: Re: Invoice", "Re: FW: Re: Invoice"),
        ("Research results", "Re: Research results"),
        ("Report: Q3", "Re: Report: Q3"),
        ("  Re:   spaced   out  ", "Re: spaced out"),
        ("", "Re:"),
    ],
)
def test_reply_subject_has_one_re_prefix(thread_subject: str, expected: str) -> None:
    assert reply_subject(thread_subject) == expected


def test_a_new_thread_keeps_its_subject_and_needs_one() -> None:
    message = compose(new_thread=True, subject="Re: keep me as written")
    assert message["Subject"] == "Re: keep me as written"
    assert "In-Reply-To" not in message and "References" not in message
    with pytest.raises(ComposeError) as caught:
        compose(new_thread=True, subject=" \r\n ")
    assert caught.value.field == "subject"


def test_references_are_the_chain_then_the_parent_deduplicated_in_order() -> None:
    chain = references_chain(
        ["<root@a>", "mid@b", "<root@a>", "<parent@c> <extra@d>", "not an id", "<x\x00y@e>"],
        "<parent@c>",
    )
    assert chain == ["<root@a>", "<mid@b>", "<extra@d>", "<parent@c>"]
    assert references_chain([], "parent@c") == ["<parent@c>"]
    assert references_chain(["<a@b>"], None) == ["<a@b>"]


def test_a_long_chain_keeps_the_root_and_the_newest() -> None:
    ids = [f"<m{i}@example.com>" for i in range(100)]
    chain = references_chain(ids[:-1], ids[-1])
    assert len(chain) == MAX_REFERENCES
    assert chain[0] == ids[0] and chain[1:] == ids[-(MAX_REFERENCES - 1) :]


def test_message_id_encodes_conversation_and_message_and_is_recognised() -> None:
    message = compose()
    assert message["Message-ID"] == f"<conversation/{CONV}/messages/{MSG}@{DOMAIN}>"
    own = parse_own_message_id(message["Message-ID"], domain="Support.Example.COM")
    assert own is not None and own.conversation_id == CONV and own.message_id == MSG
    assert own.domain == DOMAIN
    assert parse_own_message_id(f"conversation/{CONV}/messages/{MSG}@{DOMAIN}") == own
    assert parse_own_message_id(message["Message-ID"], domain="other.example.com") is None
    assert parse_own_message_id("<CAF=abc123@mail.gmail.com>") is None
    assert parse_own_message_id(f"<conversation/{CONV}/messages/not-a-uuid@{DOMAIN}>") is None
    assert own_message_id(CONV, MSG, "BÜCHER.example") == (
        f"<conversation/{CONV}/messages/{MSG}@xn--bcher-kva.example>"
    )
    with pytest.raises(ComposeError):
        own_message_id(CONV, MSG, "bad domain>\r\nBcc: x@y")


def test_many_long_ids_fold_between_ids_and_parse_back_exactly() -> None:
    ours = [own_message_id(uuid4(), uuid4(), DOMAIN) for _ in range(25)]
    parent = ours[-1]
    message = compose(references=ours[:-1], in_reply_to=parent)
    raw, parsed = round_trip(message)
    for name in ("Message-ID", "In-Reply-To", "References"):
        folded = raw_header(raw, name)
        assert b"=?" not in folded  # no id turned into an RFC 2047 encoded word
        assert all(len(line) <= 998 for line in folded.split(b"\r\n"))
    assert message_ids_in(str(parsed["References"])) == ours
    assert str(parsed["In-Reply-To"]) == parent
    assert str(parsed["Message-ID"]) == f"<conversation/{CONV}/messages/{MSG}@{DOMAIN}>"
    # Folded with CRLF + space between ids: ours are too long to share a line.
    assert raw_header(raw, "References").count(b"\r\n ") == 24


def test_short_ids_share_folded_lines_of_at_most_78_characters() -> None:
    ids = [f"<{i:04d}.abc@mail.example.com>" for i in range(40)]
    raw, parsed = round_trip(compose(references=ids[:-1], in_reply_to=ids[-1]))
    folded = raw_header(raw, "References")
    assert all(len(line) <= 78 for line in folded.split(b"\r\n"))
    assert 1 < folded.count(b"\r\n ") < MAX_REFERENCES - 1
    assert message_ids_in(str(parsed["References"])) == references_chain(ids[:-1], ids[-1])


@pytest.mark.parametrize(
    ("name", "subject", "filename", "expected_subject"),
    [
        (
            "خدمة العملاء",
            "رد: لم يصل طلبي — Pesanan #42",
            "فاتورة März.pdf",
            "Re: لم يصل طلبي — Pesanan #42",
        ),
        (
            "Layanan Pelanggan – Toko “Sejahtera”",
            "Balasan: pengembalian dana untuk pesanan #42 yang dibatalkan pada hari Senin… ✔"
            " mohon segera diproses karena sudah lebih dari dua minggu menunggu",
            "bukti transfer (Rp 1.500.000) — BCA.jpg",
            "Re: Balasan: pengembalian dana untuk pesanan #42 yang dibatalkan pada hari Senin… ✔"
            " mohon segera diproses karena sudah lebih dari dua minggu menunggu",
        ),
    ],
)
def test_non_ascii_names_subjects_and_file_names_are_encoded_and_survive(
    name: str, subject: str, filename: str, expected_subject: str
) -> None:
    message = compose(
        from_name=name,
        subject=subject,
        attachments=[OutboundAttachment(filename, "application/pdf", b"%PDF-1.4")],
    )
    raw, parsed = round_trip(message)
    assert raw.isascii()  # encoded words and RFC 2231 parameters
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(
        len(line) <= 78 for line in head.split(b"\r\n") if not line.startswith(b"Message-ID")
    )
    assert parsed["Subject"] == expected_subject
    assert parsed["From"].addresses[0].display_name == name
    assert parsed["From"].addresses[0].addr_spec == "help@support.example.com"
    (attachment,) = parsed.iter_attachments()
    assert attachment.get_filename() == filename


def test_the_html_part_is_escaped_text_with_paragraphs_and_line_breaks() -> None:
    page = text_to_html("Hi <b>Budi</b> & co,\nline two\n\n\nNew paragraph\r\nend")
    assert "<p>Hi &lt;b&gt;Budi&lt;/b&gt; &amp; co,<br>\nline two</p>" in page
    assert "<p>New paragraph<br>\nend</p>" in page
    assert "<b>" not in page and 'dir="auto"' in page


def test_structure_is_alternative_inside_mixed_only_with_attachments() -> None:
    plain = compose()
    assert plain.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in plain.iter_parts()] == ["text/plain", "text/html"]
    with_file = compose(attachments=[OutboundAttachment("a.txt", "text/plain", b"x")])
    assert with_file.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in with_file.iter_parts()] == [
        "multipart/alternative",
        "text/plain",
    ]


def test_unusable_attachment_types_and_names_are_made_safe() -> None:
    files = [
        OutboundAttachment("../../etc/passwd", "not a type", b"1"),
        OutboundAttachment("C:\\Users\\x\\report.csv", "text/csv; charset=utf-8", b"2"),
        OutboundAttachment("fwd.eml", "message/rfc822", b"3"),
        OutboundAttachment("a\r\nContent-Type: text/html\r\n.pdf", "application/pdf", b"4"),
        OutboundAttachment("...", "image/png", b"5"),
    ]
    _, parsed = round_trip(compose(attachments=files))
    got = [(a.get_filename(), a.get_content_type()) for a in parsed.iter_attachments()]
    assert got == [
        ("passwd", "application/octet-stream"),
        ("report.csv", "text/csv"),
        ("fwd.eml", "application/octet-stream"),
        ("html .pdf", "application/pdf"),  # "/" split it: a path separator
        ("attachment", "image/png"),
    ]


def test_header_injection_in_names_and_subjects_is_neutralised() -> None:
    message = compose(
        from_name="Dewi\r\nBcc: victim@evil.test",
        subject="Hello\r\nBcc: victim@evil.test\nX-Injected: yes",
        body_text="Body\r\n.\r\nMAIL FROM:<x@evil.test>",
    )
    raw, parsed = round_trip(message)
    assert "Bcc" not in parsed and "X-Injected" not in parsed
    assert parsed["Subject"] == "Re: Hello Bcc: victim@evil.test X-Injected: yes"
    assert parsed["From"].addresses[0].display_name == "Dewi Bcc: victim@evil.test"
    assert [str(a.addr_spec) for a in parsed["To"].addresses] == ["budi@example.id"]
    assert b"\r\nBcc:" not in raw


@pytest.mark.parametrize(
    ("field", "override"),
    [
        ("to", {"to": ["budi@example.id\r\nBcc: victim@evil.test"]}),
        ("to", {"to": ["Budi <budi@example.id>"]}),
        ("to", {"to": ["no-at-sign"]}),
        ("to", {"to": []}),
        ("cc", {"cc": ["a@b.test, victim@evil.test"]}),
        ("from_address", {"from_address": "help@support.example.com\nBcc: x@y"}),
        ("domain", {"domain": "example.com>\r\nBcc: x@y"}),
    ],
)
def test_addresses_with_injection_or_garbage_are_refused(
    field: str, override: dict[str, Any]
) -> None:
    with pytest.raises(ComposeError) as caught:
        compose(**override)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_to_cc_reply_to_and_date_headers() -> None:
    message = compose(
        to=["budi@example.id", "siti@example.id"],
        cc=["manager@example.id"],
        reply_to="reply+123@in.example.com",
    )
    _, parsed = round_trip(message)
    assert [a.addr_spec for a in parsed["To"].addresses] == ["budi@example.id", "siti@example.id"]
    assert [a.addr_spec for a in parsed["Cc"].addresses] == ["manager@example.id"]
    assert parsed["Reply-To"].addresses[0].addr_spec == "reply+123@in.example.com"
    assert parsed["Date"].datetime.tzinfo is not None
    assert parsed["MIME-Version"] == "1.0"
