"""parse_mail over a corpus of mails written for these tests (corpus/*.eml), plus mails
built here: a 20 MB attachment, other charsets, truncations and nesting that break MIME."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from omnistream.channels.email.parse import (
    MAX_HEADER_CHARS,
    Attachment,
    Bounce,
    ParsedMail,
    parse_mail,
)

CORPUS = Path(__file__).parent / "corpus"
LIMIT = 10 * 1024 * 1024
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154"
    "78da63f8cfc0f01f0005000201a1f1e4b40000000049454e44ae426082"
)
PDF = (
    b"%PDF-1.4\n% OmniStream test invoice INV-2026-0457\n"
    b"1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
)


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def parse(name: str, **options: object) -> ParsedMail:
    return parse_mail(corpus(name), max_attachment_bytes=LIMIT, **options)  # type: ignore[arg-type]


def test_plain_text_mail_gives_headers_ids_addresses_and_text() -> None:
    mail = parse("plain.eml")
    assert mail.message_id == "<CAB7x9=plain-0001@mail.example.co.id>"
    assert mail.in_reply_to == ["<reply-0042@support.omnistream.test>"]
    assert mail.references == [
        "<thread-0001@support.omnistream.test>",
        "<reply-0042@support.omnistream.test>",
    ]
    assert mail.subject == "Question about my invoice"
    assert (mail.from_name, mail.from_address) == ("Budi Santoso", "budi.santoso@example.co.id")
    assert mail.to == [
        ("OmniStream Support", "support@omnistream.test"),
        ("", "billing@omnistream.test"),
    ]
    assert mail.cc == [("Santoso, Rina", "rina@example.co.id")]
    assert mail.date == datetime(2026, 12, 7, 2, 12, 45, tzinfo=UTC)
    assert mail.date is not None and mail.date.utcoffset() == timedelta(hours=7)
    assert mail.text == (
        "Hello,\n\nMy invoice INV-2026-0457 shows the wrong address.\n"
        "Could you send a corrected one?\n\nBudi"
    )
    assert mail.preview == mail.text
    assert mail.html is None
    assert mail.attachments == []
    assert mail.is_auto_reply is False
    assert mail.bounce is None
    assert mail.defects == []


def test_html_only_mail_is_sanitised_and_rendered_as_text() -> None:
    mail = parse("html_only.eml")
    assert mail.html is not None
    assert "<h1>Your order has shipped</h1>" in mail.html
    assert (
        '<a href="https://shop.example.com/track/A-1001" target="_blank" '
        'rel="noopener noreferrer nofollow">here</a>'
    ) in mail.html
    assert "Shipping notice" not in mail.html  # <title> dropped with its text
    assert "color: red" not in mail.html  # <style> too
    assert mail.text == (
        "Your order has shipped\n\nOrder #A-1001 left our warehouse today.\n\n"
        "Track it here.\nThank you!\n\n- Batik shirt\n- Sarong"
    )
    assert mail.preview.startswith("Your order has shipped")


def test_alternative_keeps_text_for_the_preview_and_the_html() -> None:
    mail = parse("alternative.eml")
    assert mail.text == "I requested a password reset three times but no mail came."
    assert mail.preview == mail.text
    assert mail.html == (
        '<div dir="ltr">I requested a <i>password reset</i> three times but no mail came.</div>'
    )
    assert mail.attachments == []


def test_attachments_are_decoded_with_their_filenames() -> None:
    mail = parse("attachments.eml")
    assert mail.text == "Please find the invoice and our price list attached."
    assert mail.attachments == [
        Attachment(
            filename="invoice.pdf",
            content_type="application/pdf",
            content_id=None,
            inline=False,
            data=PDF,
            size=len(PDF),
            skipped_reason=None,
        ),
        Attachment(
            filename="daftar harga – Desember.csv",  # RFC 2231, UTF-8
            content_type="text/csv",
            content_id=None,
            inline=False,
            data=b"produk;harga\nBatik;150000\nSarung;85000\n",
            size=39,
            skipped_reason=None,
        ),
    ]


def test_inline_image_is_kept_and_its_cid_source_rewritten() -> None:
    mail = parse("inline_image.eml")
    [logo] = mail.attachments
    assert (logo.content_id, logo.inline, logo.content_type) == (
        "logo.png@brand.example.com",
        True,
        "image/png",
    )
    assert logo.data == PNG_1PX
    assert mail.html is not None
    # Without cid_url the source stays cid: (media get URLs later); the tracker loads nothing.
    assert '<img src="cid:logo.png@brand.example.com" alt="Logo" width="1" height="1">' in (
        mail.html
    )
    assert '<img data-remote-src="https://tracker.example.net/open.gif?u=42" alt="" width="1">' in (
        mail.html
    )
    assert '<img alt="gone">' in mail.html  # a cid: this mail does not have

    media = {"logo.png@brand.example.com": "/api/media/7f3a"}
    with_urls = parse("inline_image.eml", cid_url=media.get)
    assert with_urls.html is not None
    assert '<img src="/api/media/7f3a" alt="Logo" width="1" height="1">' in with_urls.html
    assert "cid:" not in with_urls.html


def test_encoded_word_subject_in_indonesian_quoted_printable() -> None:
    mail = parse("subject_indonesian.eml")
    assert mail.subject == "Pesanan saya belum diterima – mohon bantuan"
    assert mail.from_name == "Sri Wahyuni – Toko Batik"
    # The Indonesian Gmail reply header ("Pada ... menulis:") and the quote are trimmed.
    assert mail.preview == "Selamat pagi,\n\nPesanan saya nomor A-2093 belum sampai."
    assert "Nomor resi: JNE-1234567" in mail.text


def test_indonesian_outlook_reply_preview_drops_sign_off_and_history() -> None:
    body = (
        "Mohon dikirim ulang fakturnya.\n\nTerima kasih,\nRina\n\n"
        "Dari: OmniStream Support <support@omnistream.test>\n"
        "Dikirim: Senin, 07 Desember 2026 10.00\nKepada: Rina <rina@example.co.id>\n"
        "Perihal: Faktur\n\nFaktur terlampir.\n"
    )
    raw = b"From: rina@example.co.id\nContent-Type: text/plain; charset=utf-8\n\n" + body.encode()
    mail = parse_mail(raw, max_attachment_bytes=LIMIT)
    assert mail.preview == "Mohon dikirim ulang fakturnya."
    assert mail.text == body.strip()


def test_encoded_word_subject_in_arabic_base64_over_two_words() -> None:
    mail = parse("subject_arabic.eml")
    assert mail.subject == "طلب استرداد المبلغ للطلب رقم ٤٥٢١"
    assert mail.from_name == "محمد العلي"
    assert mail.from_address == "m.alali@example.sa"
    assert mail.text == "أريد استرداد المبلغ."
    assert mail.date == datetime(2026, 12, 8, 10, 20, tzinfo=timezone(timedelta(hours=3)))


def test_windows_1252_body_with_curly_quotes_and_euro_sign() -> None:
    mail = parse("windows1252.eml")
    assert mail.text == "The “Café crème” costs 4,50 € – isn’t that too much?"
    # ISO-8859-1 encoded words whose bytes are in fact Windows-1252 (an en dash, =96).
    assert mail.subject == "Café crème – prix"
    assert mail.from_name == "Renée Lefèvre"
    assert mail.defects == []


@pytest.mark.parametrize("label", ["iso-8859-1", "us-ascii", "latin1"])
def test_latin_labels_are_read_as_windows_1252(label: str) -> None:
    raw = corpus("windows1252.eml").replace(b'charset="windows-1252"', f"charset={label}".encode())
    assert parse_mail(raw, max_attachment_bytes=LIMIT).text == (
        "The “Café crème” costs 4,50 € – isn’t that too much?"
    )


def test_utf8_with_invalid_bytes_is_read_with_replacement() -> None:
    raw = (
        b"From: a@example.com\nSubject: x\nContent-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: 8bit\n\nna\xefve caf\xc3\xa9\n"
    )
    assert parse_mail(raw, max_attachment_bytes=LIMIT).text == "na\ufffdve café"


def test_undeclared_utf8_in_a_raw_header_is_read() -> None:
    raw = "From: José <jose@example.com>\nSubject: Pedido número 7\n\nhola\n".encode()
    mail = parse_mail(raw, max_attachment_bytes=LIMIT)
    assert (mail.subject, mail.from_name) == ("Pedido número 7", "José")


def test_attachment_over_the_limit_is_recorded_as_skipped() -> None:
    big = bytes(range(256)) * (20 * 1024 * 1024 // 256)  # 20 MB, generated, never stored
    message = EmailMessage()
    message["From"] = "Big Sender <big@example.com>"
    message["To"] = "support@omnistream.test"
    message["Subject"] = "Scans"
    message.set_content("The scans are attached.\n")
    message.add_attachment(big, maintype="application", subtype="zip", filename="scans.zip")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="cover.pdf")

    mail = parse_mail(message.as_bytes(), max_attachment_bytes=LIMIT)

    assert mail.text == "The scans are attached."
    skipped, kept = mail.attachments
    assert skipped == Attachment(
        filename="scans.zip",
        content_type="application/zip",
        content_id=None,
        inline=False,
        data=None,
        size=20 * 1024 * 1024,
        skipped_reason=f"larger than {LIMIT} bytes",
    )
    assert (kept.filename, kept.data, kept.skipped_reason) == ("cover.pdf", PDF, None)


def test_forwarded_thread_keeps_the_whole_text_and_previews_the_note() -> None:
    mail = parse("forwarded.eml")
    assert mail.preview == "Please handle this one, the customer called us too."
    assert mail.text.endswith("The box arrived crushed and two cups are broken.")
    assert "From: Pat Lee <pat.lee@example.net>" in mail.text


def test_forwarded_as_attachment_keeps_the_mail_readable() -> None:
    mail = parse("forwarded_attached.eml")
    assert mail.text == "See the attached mail."
    [forwarded] = mail.attachments
    assert (forwarded.filename, forwarded.content_type) == (
        "Damaged delivery.eml",
        "message/rfc822",
    )
    assert forwarded.data is not None and forwarded.size == len(forwarded.data)
    inner = parse_mail(forwarded.data, max_attachment_bytes=LIMIT)
    assert inner.message_id == "<original-0001@example.net>"
    assert inner.text == "The box arrived crushed and two cups are broken."


def test_gmail_style_reply_preview_drops_signature_and_quotes() -> None:
    mail = parse("reply_gmail.eml")
    assert mail.preview == (
        "Thanks, the export works now.\n\nOne more question: can I schedule it weekly?"
    )
    assert "> We fixed the export. Please try again." in mail.text
    assert mail.references == [
        "<first-0099@mail.example.com>",
        "<out-0100@support.omnistream.test>",
    ]


def test_outlook_original_message_reply_preview() -> None:
    mail = parse("reply_outlook.eml")
    assert mail.preview == "Please renew for 12 months at the same price."
    assert mail.from_name == "Chen, Li"
    assert "Your contract ends on 31 December." in mail.text


def test_outlook_from_sent_header_reply_preview() -> None:
    mail = parse("reply_outlook_headers.eml")
    assert mail.preview == "Also, please add two more seats."


def test_html_only_gmail_reply_preview_is_trimmed_too() -> None:
    raw = (
        b"From: jordan.miles@example.com\nSubject: Re: x\nContent-Type: text/html; charset=utf-8\n\n"
        b'<div dir="ltr">Works now, thank you!</div><br><div class="gmail_quote">'
        b'<div dir="ltr" class="gmail_attr">On Tue, Dec 8, 2026 at 2:40 PM OmniStream Support '
        b"&lt;support@omnistream.test&gt; wrote:<br></div><blockquote>We fixed it.</blockquote></div>"
    )
    mail = parse_mail(raw, max_attachment_bytes=LIMIT)
    assert mail.preview == "Works now, thank you!"
    assert mail.text.endswith("We fixed it.")


def test_preview_keeps_long_lines_and_stays_fast_on_pathological_ones() -> None:
    paragraph = "A paragraph written without line breaks, as Outlook sends them. " * 30
    raw = (
        f"From: a@example.com\nSubject: x\n\n{paragraph}\n\n"
        "On Mon, 7 Dec 2026 at 09:00, Support <support@omnistream.test> wrote:\n> old\n"
    ).encode()
    assert parse_mail(raw, max_attachment_bytes=LIMIT).preview == paragraph.strip()
    # The trimmer's "On ... wrote:" expression backtracks cubically on a long "On" line:
    # 20,000 characters took 11 s before long lines were hidden from it.
    started = time.perf_counter()
    mail = parse_mail(b"Subject: x\n\nOn " + b"x " * 10_000, max_attachment_bytes=LIMIT)
    assert time.perf_counter() - started < 3
    assert mail.preview.startswith("On x x x")


def test_auto_reply_headers() -> None:
    assert parse("auto_reply.eml").is_auto_reply is True
    plain = corpus("plain.eml")
    for header, expected in [
        (b"Auto-Submitted: auto-generated\n", True),
        (b"Auto-Submitted: no\n", False),
        (b"Precedence: bulk\n", True),
        (b"Precedence: list\n", True),
        (b"Precedence: first-class\n", False),
        (b"X-Autorespond: yes\n", True),
    ]:
        mail = parse_mail(header + plain, max_attachment_bytes=LIMIT)
        assert mail.is_auto_reply is expected, header


def test_delivery_status_notification_gives_the_bounce() -> None:
    mail = parse("bounce.eml")
    assert mail.bounce == Bounce(
        original_message_id="<reply-7f3a9c@support.omnistream.test>",
        status="5.1.1",
        action="failed",
        diagnostic="550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown",
        recipient="nobody@example.org",
    )
    assert mail.is_auto_reply is True
    assert mail.text.startswith("This is the mail system at host mx.omnistream.test.")
    # The report's parts stay viewable as attachments.
    assert [a.content_type for a in mail.attachments] == [
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    assert mail.attachments[1].data is not None
    assert mail.attachments[1].data.startswith(
        b"Message-ID: <reply-7f3a9c@support.omnistream.test>"
    )
    assert mail.from_address == "MAILER-DAEMON@mx.omnistream.test"


def test_bounce_returning_the_whole_message() -> None:
    raw = corpus("bounce.eml").replace(
        b"Content-Type: text/rfc822-headers", b"Content-Type: message/rfc822"
    )
    bounce = parse_mail(raw, max_attachment_bytes=LIMIT).bounce
    assert bounce is not None
    assert bounce.original_message_id == "<reply-7f3a9c@support.omnistream.test>"
    assert bounce.recipient == "nobody@example.org"


def test_hostile_html_loses_scripts_handlers_and_javascript_links() -> None:
    mail = parse("hostile_html.eml")
    html = mail.html
    assert html is not None
    for banned in (
        "script", "alert", "onerror", "onload", "onclick", "onmouseover", "steal",
        "javascript", "iframe", "<form", "<input", "<svg", "data:text", "class=",
        "id=", "position", "background", "tracker.example", "_self", "opener\"",
        "/settings",
    ):  # fmt: skip
        assert banned not in html.lower(), banned
    assert (
        '<a href="https://bank.example.com/login" target="_blank" '
        'rel="noopener noreferrer nofollow">Real bank</a>'
    ) in html
    assert '<p style="color:red">Dear customer,</p>' in html
    # The text stays, the link goes.
    assert '<a target="_blank" rel="noopener noreferrer nofollow">Verify now</a>' in html
    assert "<td>cell</td>" in html


def test_garbled_boundary_is_read_with_the_delimiter_found_in_the_body() -> None:
    mail = parse("malformed_boundary.eml")
    assert mail.subject == "Broken structure"
    assert mail.text == "The text survives a bogus charset."
    [data] = mail.attachments
    # Truncated base64: what could be decoded is kept, the padding defect recorded.
    assert (data.filename, data.data) == ("data.bin", b"OmniStream")
    defects = "\n".join(mail.defects)
    assert "StartBoundaryNotFoundDefect" in defects
    assert "read with the delimiter in its body ('actual-boundary')" in defects
    assert "unknown charset 'x-bogus-charset'" in defects
    assert "InvalidBase64PaddingDefect" in defects


def test_multipart_without_boundary_keeps_its_body_as_text() -> None:
    mail = parse("malformed_no_boundary.eml")
    assert mail.text == "No boundary parameter at all, so this multipart has no parts."
    assert mail.date is None
    assert mail.from_address == "broken@example.com"
    # Truncated base64 and an unknown charset in encoded words: what could be read.
    assert mail.subject == "Pesanan say and caf\ufffd"
    defects = "\n".join(mail.defects)
    assert "NoBoundaryInMultipartDefect" in defects
    assert "header Date" in defects
    assert "header Subject" in defects


def test_huge_address_header_is_read_up_to_the_limit() -> None:
    addresses = ", ".join(
        f"customer-with-a-long-local-part-{n:05}@example.com" for n in range(3000)
    )
    mail = parse_mail(f"To: {addresses}\n\nhi\n".encode(), max_attachment_bytes=LIMIT)
    # 49 characters and ", " each: 1,285 whole addresses in 65,536 characters, and a cut one.
    assert len(mail.to) == MAX_HEADER_CHARS // 51 + 1 == 1286
    assert mail.to[0] == ("", "customer-with-a-long-local-part-00000@example.com")
    assert "header To: read up to 65536 characters" in mail.defects


def test_deep_nesting_is_read_up_to_the_limit() -> None:
    depth = 60
    head = b"".join(
        b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (level, level + 1)
        for level in range(depth)
    )
    tail = b"".join(b"\n--b%d--\n" % level for level in reversed(range(depth + 1)))
    raw = (
        b"From: a@example.com\nContent-Type: multipart/mixed; boundary=b0\n\n"
        + head
        + b"--b%d\nContent-Type: text/plain\n\ndeep\n" % depth
        + tail
    )
    mail = parse_mail(raw, max_attachment_bytes=LIMIT)
    assert mail.text == ""
    assert any("nested deeper than 40" in defect for defect in mail.defects)


@pytest.mark.parametrize(
    "name", sorted(p.name for p in CORPUS.glob("*.eml") if not p.name.startswith("malformed_"))
)
def test_well_formed_mails_record_no_defects(name: str) -> None:
    assert parse(name).defects == []


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.glob("*.eml")))
def test_any_truncation_of_a_corpus_mail_parses_without_raising(name: str) -> None:
    raw = corpus(name)
    for end in range(0, len(raw), 37):
        mail = parse_mail(raw[:end], max_attachment_bytes=64)
        assert isinstance(mail.defects, list)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff\xfe garbage", b'Content-Type: multipart/mixed; boundary=""\n\n--\n--\n'],
)
def test_garbage_parses_without_raising(raw: bytes) -> None:
    mail = parse_mail(raw, max_attachment_bytes=LIMIT)
    assert mail.message_id is None
    assert mail.subject == ""
