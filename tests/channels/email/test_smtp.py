"""Sending over SMTP to a real server (aiosmtpd on loopback, tests/channels/email/
smtp_server.py): the headers and parts as received, attachments byte for byte, CC in the
envelope, 4xx -> transient and 5xx -> permanent with the server's text, per-recipient
refusals, `check` step by step (AUTH, STARTTLS, implicit TLS, nothing listening), the
loopback-only rule for TLS "none", and a session sending many mails on one connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from omnistream.channels.email.compose import (
    OutboundAttachment,
    compose_reply,
    message_ids_in,
    own_message_id,
    parse_own_message_id,
)
from omnistream.channels.email.hosts import is_loopback
from omnistream.channels.email.smtp import (
    SmtpSession,
    SmtpSettings,
    SmtpSettingsError,
    check,
    send,
)
from tests.channels.email.smtp_server import (
    TEST_PASSWORD,
    TEST_USER,
    RecordingSmtpServer,
    running_smtp_server,
    self_signed_certificate,
    server_tls_context,
)
from tests.processes import free_port

# The test server offers AUTH without TLS, as on loopback: aiosmtpd warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

DOMAIN = "support.example.com"
AGENT = "help@support.example.com"
CUSTOMER = "budi@example.id"


@pytest.fixture
def smtp_server() -> Iterator[RecordingSmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def auth_server() -> Iterator[RecordingSmtpServer]:
    with running_smtp_server(auth_required=True) as server:
        yield server


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"))


def reply(conversation: UUID, **overrides: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "from_name": "Dewi – OmniStream",
        "from_address": AGENT,
        "to": [CUSTOMER],
        "subject": "Pesanan #42 belum sampai",
        "new_thread": False,
        "conversation_id": conversation,
        "message_id": uuid4(),
        "domain": DOMAIN,
        "in_reply_to": "<first@mail.example.id>",
        "references": [],
        "body_text": "Halo Budi,\n\nPaket Anda sudah dikirim hari ini.\nTerima kasih!",
    }
    return compose_reply(**(values | overrides))


async def deliver(
    server: RecordingSmtpServer, message: EmailMessage, recipients: list[str] | None = None
) -> Any:
    return await send(
        server.settings(), message, envelope_from=AGENT, recipients=recipients or [CUSTOMER]
    )


async def test_a_reply_and_a_reply_to_the_reply_thread_exactly(smtp_server) -> None:
    conversation = uuid4()
    first = reply(conversation, subject="Re: Pesanan #42 belum sampai")
    result = await deliver(smtp_server, first)
    assert result.sent and result.code == 250 and result.reply.startswith("250 2.0.0 Ok")
    got = smtp_server.received[0].message()
    assert got["Message-ID"] == first["Message-ID"]
    assert parse_own_message_id(got["Message-ID"], domain=DOMAIN).conversation_id == conversation
    assert got["In-Reply-To"] == "<first@mail.example.id>"
    assert message_ids_in(got["References"]) == ["<first@mail.example.id>"]
    assert got["Subject"] == "Re: Pesanan #42 belum sampai"
    assert got["From"].addresses[0].display_name == "Dewi – OmniStream"
    assert [a.addr_spec for a in got["To"].addresses] == [CUSTOMER]

    # The customer answers our reply ("RE: Re: ..."), and we answer that.
    customer_id = "<CAF+second@mail.example.id>"
    second = reply(
        conversation,
        subject="RE: Re: Pesanan #42 belum sampai",
        in_reply_to=customer_id,
        references=["<first@mail.example.id>", got["Message-ID"]],
    )
    assert (await deliver(smtp_server, second)).sent
    got2 = smtp_server.received[1].message()
    assert got2["Subject"] == "Re: Pesanan #42 belum sampai"
    assert got2["In-Reply-To"] == customer_id
    assert message_ids_in(got2["References"]) == [
        "<first@mail.example.id>",
        first["Message-ID"],
        customer_id,
    ]
    assert got2["Message-ID"] != got["Message-ID"]


async def test_text_and_html_parts_and_attachments_arrive_byte_identical(smtp_server) -> None:
    blobs = [
        OutboundAttachment("struk pembayaran.pdf", "application/pdf", bytes(range(256)) * 300),
        OutboundAttachment("صورة.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00\r\n.\r\n" * 50),
        OutboundAttachment("notes.txt", "text/plain", b"line 1\r\n.\r\nline 3 \xff\n"),
    ]
    body = "Halo <Budi> & tim,\n\nمرحبا بك\nBaris kedua\n.\nTitik di atas"
    message = reply(uuid4(), body_text=body, attachments=blobs)
    assert (await deliver(smtp_server, message)).sent
    raw = smtp_server.received[0].data
    assert raw.isascii()  # 7-bit clean: no 8BITMIME or SMTPUTF8 needed
    got = smtp_server.received[0].message()
    assert got.get_content_type() == "multipart/mixed"
    # Base64 text carries the canonical CRLF line endings (RFC 2046 4.1.1).
    assert got.get_body(("plain",)).get_content().replace("\r\n", "\n") == body + "\n"
    html = got.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert "Halo &lt;Budi&gt; &amp; tim,</p>" in html
    assert "مرحبا بك<br>\nBaris kedua<br>\n.<br>\nTitik di atas</p>" in html
    received = [
        (a.get_filename(), a.get_content_type(), a.get_payload(decode=True))
        for a in got.iter_attachments()
    ]
    assert received == [(b.filename, b.content_type, b.data) for b in blobs]


async def test_cc_recipients_are_in_the_envelope_and_the_header(smtp_server) -> None:
    message = reply(uuid4(), cc=["manager@example.id", "Audit@Example.id"])
    recipients = [CUSTOMER, "manager@example.id", "Audit@Example.id"]
    assert (await deliver(smtp_server, message, recipients)).sent
    (mail,) = smtp_server.received
    assert mail.mail_from == AGENT
    assert mail.rcpt_tos == tuple(recipients)
    cc = [a.addr_spec for a in mail.message()["Cc"].addresses]
    assert cc == ["manager@example.id", "Audit@example.id"]  # domains are case-insensitive
    assert "Bcc" not in mail.message()


async def test_a_4xx_answer_is_transient_and_5xx_permanent_with_the_server_text(
    smtp_server,
) -> None:
    smtp_server.handler.data_replies.extend(
        ["451 4.3.0 Temporary local problem, try later", "554 5.7.1 Message rejected as spam"]
    )
    transient = await deliver(smtp_server, reply(uuid4()))
    assert (transient.outcome, transient.code, transient.step) == ("transient", 451, "data")
    assert transient.reply == "451 4.3.0 Temporary local problem, try later"
    permanent = await deliver(smtp_server, reply(uuid4()))
    assert (permanent.outcome, permanent.code, permanent.step) == ("permanent", 554, "data")
    assert permanent.reply == "554 5.7.1 Message rejected as spam"
    assert smtp_server.received == []
    assert (await deliver(smtp_server, reply(uuid4()))).sent  # then accepted


async def test_recipient_refusals_are_classified_and_reported_each(smtp_server) -> None:
    smtp_server.handler.recipient_replies.update(
        {
            "nobody@example.id": "550 5.1.1 no such user",
            "full@example.id": "452 4.2.2 mailbox full",
        }
    )
    failed = await deliver(smtp_server, reply(uuid4()), ["nobody@example.id"])
    assert (failed.outcome, failed.step, failed.reply) == (
        "permanent",
        "rcpt",
        "550 5.1.1 no such user",
    )
    greylisted = await deliver(
        smtp_server, reply(uuid4()), ["nobody@example.id", "full@example.id"]
    )
    assert greylisted.outcome == "transient"
    assert [(r.address, r.code) for r in greylisted.refused] == [
        ("nobody@example.id", 550),
        ("full@example.id", 452),
    ]
    partial = await deliver(smtp_server, reply(uuid4()), [CUSTOMER, "nobody@example.id"])
    assert partial.sent
    assert [(r.address, r.reply) for r in partial.refused] == [
        ("nobody@example.id", "550 5.1.1 no such user")
    ]
    (mail,) = smtp_server.received
    assert mail.rcpt_tos == (CUSTOMER,)


async def test_connection_refused_and_a_silent_server_are_transient() -> None:
    refused_port = free_port()
    settings = SmtpSettings(
        host="127.0.0.1", port=refused_port, tls="none", timeout=2, allow_private=True
    )
    result = await send(settings, reply(uuid4()), envelope_from=AGENT, recipients=[CUSTOMER])
    assert (result.outcome, result.step, result.code) == ("transient", "connect", None)
    assert str(refused_port) in result.reply

    async def say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never sends the 220 greeting
        writer.close()

    silent = await asyncio.start_server(say_nothing, "127.0.0.1", 0)
    try:
        port = silent.sockets[0].getsockname()[1]
        settings = SmtpSettings(
            host="127.0.0.1", port=port, tls="none", timeout=0.3, allow_private=True
        )
        started = time.monotonic()
        timed_out = await send(settings, reply(uuid4()), envelope_from=AGENT, recipients=[CUSTOMER])
        assert (timed_out.outcome, timed_out.step) == ("transient", "connect")
        assert "timed out" in timed_out.reply.lower()
        assert time.monotonic() - started < 2
    finally:
        silent.close()
        await silent.wait_closed()


async def test_authenticated_send_records_the_user(auth_server) -> None:
    unauthenticated = await deliver(auth_server, reply(uuid4()))
    assert (unauthenticated.outcome, unauthenticated.step) == ("permanent", "mail")
    assert unauthenticated.reply.startswith("530")
    settings = auth_server.settings(username=TEST_USER, password=TEST_PASSWORD)
    result = await send(settings, reply(uuid4()), envelope_from=AGENT, recipients=[CUSTOMER])
    assert result.sent
    assert auth_server.received[0].login == TEST_USER


async def test_check_reports_ok_or_the_failing_step(auth_server) -> None:
    ok = await check(auth_server.settings(username=TEST_USER, password=TEST_PASSWORD))
    assert ok.ok and ok.step is None and ok.reply.startswith("250")
    wrong = await check(auth_server.settings(username=TEST_USER, password="wrong"))
    assert (wrong.ok, wrong.step, wrong.code) == (False, "auth", 535)
    assert "5.7.8" in wrong.reply
    nothing = await check(
        SmtpSettings(host="127.0.0.1", port=free_port(), tls="none", allow_private=True)
    )
    assert (nothing.ok, nothing.step) == (False, "connect")
    no_tls = await check(auth_server.settings(tls="starttls"))
    assert (no_tls.ok, no_tls.step) == (False, "tls")
    assert "STARTTLS" in no_tls.reply


async def test_check_with_auth_login_only() -> None:
    with running_smtp_server(auth_exclude=["PLAIN"]) as server:
        result = await check(server.settings(username=TEST_USER, password=TEST_PASSWORD))
        assert result.ok
        wrong = await check(server.settings(username=TEST_USER, password="nope"))
        assert (wrong.ok, wrong.step) == (False, "auth")


async def test_starttls_and_implicit_tls_with_a_trusted_certificate(certificate) -> None:
    cert, key = certificate
    context = server_tls_context(cert, key)
    with running_smtp_server(starttls_context=context) as server:
        settings = server.settings(
            tls="starttls", ca_file=str(cert), username=TEST_USER, password=TEST_PASSWORD
        )
        assert (await check(settings)).ok
        sent = await send(settings, reply(uuid4()), envelope_from=AGENT, recipients=[CUSTOMER])
        assert sent.sent and server.received[0].login == TEST_USER
        untrusted = await check(server.settings(tls="starttls"))
        assert (untrusted.ok, untrusted.step) == (False, "tls")
        assert "certificate" in untrusted.reply.lower()
    with running_smtp_server(implicit_tls_context=context) as server:
        assert (await check(server.settings(tls="implicit", ca_file=str(cert)))).ok
        untrusted = await check(server.settings(tls="implicit"))
        assert (untrusted.ok, untrusted.step) == (False, "tls")
        plain_to_tls = await check(server.settings(tls="none", timeout=0.3))
        assert not plain_to_tls.ok and plain_to_tls.step == "connect"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]
)
def test_tls_none_is_allowed_on_loopback(host: str) -> None:
    assert is_loopback(host)
    SmtpSettings(host=host, port=25, tls="none")


@pytest.mark.parametrize(
    "host", ["smtp.example.com", "10.0.0.5", "0.0.0.0", "localhost.example.com", "::"]
)
def test_tls_none_is_refused_for_other_hosts(host: str) -> None:
    with pytest.raises(SmtpSettingsError) as caught:
        SmtpSettings(host=host, port=25, tls="none")
    assert caught.value.field == "tls" and isinstance(caught.value, ValueError)
    assert "loopback" in str(caught.value) and host in str(caught.value)
    SmtpSettings(host=host, port=587, tls="starttls")


def test_other_invalid_settings_name_their_field() -> None:
    cases = [
        ({"port": 0}, "port"),
        ({"tls": "ssl"}, "tls"),
        ({"host": "smtp.example.com\r\nRCPT TO:<x>"}, "host"),
        ({"timeout": 0}, "timeout"),
    ]
    for override, name in cases:
        values: dict[str, Any] = {"host": "smtp.example.com", "port": 465, "tls": "implicit"}
        with pytest.raises(SmtpSettingsError) as caught:
            SmtpSettings(**(values | override))
        assert caught.value.field == name
    assert "hunter2" not in repr(SmtpSettings("h.example", 465, "implicit", "u", "hunter2"))


async def test_injected_envelope_addresses_are_refused_before_connecting(smtp_server) -> None:
    for recipients in (["budi@example.id>\r\nRCPT TO:<victim@evil.test"], ["no-at"], []):
        result = await send(
            smtp_server.settings(), reply(uuid4()), envelope_from=AGENT, recipients=recipients
        )
        assert (result.outcome, result.step) == ("permanent", "rcpt")
    bad_from = await send(
        smtp_server.settings(), reply(uuid4()), envelope_from="a@b\r\nRSET", recipients=[CUSTOMER]
    )
    assert (bad_from.outcome, bad_from.step) == ("permanent", "mail")
    assert smtp_server.received == []


async def test_a_non_ascii_envelope_address_goes_with_smtputf8_only(smtp_server) -> None:
    assert (await deliver(smtp_server, reply(uuid4()), ["bücher@example.de"])).sent
    assert smtp_server.received[0].rcpt_tos == ("bücher@example.de",)
    with running_smtp_server(smtputf8=False) as ascii_only:
        result = await deliver(ascii_only, reply(uuid4()), ["bücher@example.de"])
        assert (result.outcome, result.step) == ("permanent", "mail")
        assert "SMTPUTF8" in result.reply and ascii_only.received == []


async def test_a_header_injection_attempt_arrives_neutralised(smtp_server) -> None:
    message = reply(
        uuid4(),
        from_name="Dewi\r\nBcc: victim@evil.test",
        subject="Hi\nBcc: victim@evil.test",
        body_text="x\r\n.\r\nMAIL FROM:<evil@evil.test>\r\nRCPT TO:<victim@evil.test>",
    )
    assert (await deliver(smtp_server, message)).sent
    (mail,) = smtp_server.received
    assert mail.rcpt_tos == (CUSTOMER,)
    got = mail.message()
    assert "Bcc" not in got and got["Subject"] == "Re: Hi Bcc: victim@evil.test"
    assert "MAIL FROM:<evil@evil.test>" in got.get_body(("plain",)).get_content()


async def test_a_session_sends_many_mails_over_one_connection(smtp_server) -> None:
    conversation = uuid4()
    messages = [reply(conversation, body_text=f"mail {i}") for i in range(150)]
    started = time.monotonic()
    async with SmtpSession(smtp_server.settings(), max_messages_per_connection=None) as session:
        results = [
            await session.send(m, envelope_from=AGENT, recipients=[CUSTOMER]) for m in messages
        ]
    elapsed = time.monotonic() - started
    assert all(r.sent for r in results)
    assert session.connections_opened == 1
    assert len({mail.peer for mail in smtp_server.received}) == 1
    assert [m.message()["Message-ID"] for m in smtp_server.received] == [
        m["Message-ID"] for m in messages
    ]
    # ~200 mails/s here with the server in the same process; bench/ measures the figure.
    assert len(messages) / elapsed > 50, f"{len(messages) / elapsed:.0f} mails/s"


async def test_a_session_reconnects_when_the_server_closes_or_refuses_more(smtp_server) -> None:
    smtp_server.handler.hang_up_after = 3
    async with SmtpSession(smtp_server.settings()) as session:
        for i in range(10):
            result = await session.send(
                reply(uuid4(), body_text=str(i)), envelope_from=AGENT, recipients=[CUSTOMER]
            )
            assert result.sent, result
        assert session.connections_opened == 4
    smtp_server.handler.hang_up_after = None
    smtp_server.handler.mails_per_connection = 4
    async with SmtpSession(smtp_server.settings()) as session:
        for i in range(10):
            result = await session.send(
                reply(uuid4(), body_text=str(i)), envelope_from=AGENT, recipients=[CUSTOMER]
            )
            assert result.sent, result
        assert session.connections_opened == 3
    bodies = [m.message().get_body(("plain",)).get_content().strip() for m in smtp_server.received]
    assert bodies == [str(i) for i in range(10)] * 2  # each once, in order
    async with SmtpSession(smtp_server.settings(), max_messages_per_connection=2) as session:
        smtp_server.handler.mails_per_connection = None
        for _ in range(5):
            assert (
                await session.send(reply(uuid4()), envelope_from=AGENT, recipients=[CUSTOMER])
            ).sent
        assert session.connections_opened == 3


async def test_own_message_ids_survive_the_server_for_inbound_recognition(smtp_server) -> None:
    conversation, message_id = uuid4(), uuid4()
    assert (await deliver(smtp_server, reply(conversation, message_id=message_id))).sent
    got = smtp_server.received[0].message()
    assert got["Message-ID"] == own_message_id(conversation, message_id, DOMAIN)
    own = parse_own_message_id(got["Message-ID"], domain=DOMAIN)
    assert own is not None and (own.conversation_id, own.message_id) == (conversation, message_id)


async def test_session_unused_closes_cleanly(smtp_server) -> None:
    session = SmtpSession(smtp_server.settings())
    await session.close()
    assert session.connections_opened == 0
