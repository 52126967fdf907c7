"""Email replies end to end: the reply API -> the real sender tick (messages/worker.py) ->
the email adapter -> a real SMTP server (aiosmtpd on loopback, smtp_server.py). Headers
and parts are read from what the server received; 4xx / 5xx answers are the server's own.
The connection test: test_connection.py."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from omnistream.channels.email.outbound import EmailAdapter
from omnistream.channels.registry import ChannelRegistry
from omnistream.context import AppContext
from omnistream.integrations.credentials import seal
from omnistream.kit.enums import Channel
from tests import factories
from tests.channels.email.mailboxes import (
    CUSTOMER,
    MAILBOX,
    MailAccount,
    credentials,
    earlier_message,
    email_conversation,
    email_integration,
    tick,
)
from tests.channels.email.smtp_server import (
    TEST_USER,
    RecordingSmtpServer,
    running_smtp_server,
)
from tests.conftest import Agent, fields, problem
from tests.messages.test_messages import PDF
from tests.processes import free_port

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

ROOT = "<CAF=root-1@mail.example.id>"
CUSTOMER_REPLY = "<CAF=reply-2@mail.example.id>"
SUBJECT = "Order 42 arrived broken"


async def mailbox(ctx: AppContext, smtp: RecordingSmtpServer, **over: Any) -> MailAccount:
    return await email_integration(ctx, credentials(smtp.port, **over))


async def thread(ctx: AppContext, account: MailAccount) -> UUID:
    """A conversation: the customer's first mail, our reply to it, the customer's answer."""
    conversation_id = await email_conversation(ctx, account)
    await earlier_message(ctx, conversation_id, ROOT, minutes_ago=30, subject=SUBJECT)
    ours = f"<conversation/{conversation_id}/messages/earlier@omnistream.test>"
    await earlier_message(
        ctx, conversation_id, ours, direction="outbound", minutes_ago=20, subject=f"Re: {SUBJECT}"
    )
    await earlier_message(
        ctx, conversation_id, CUSTOMER_REPLY, minutes_ago=10, subject=f"RE: Re: {SUBJECT}"
    )
    return conversation_id


async def reply(
    client: httpx.AsyncClient, agent: Agent, conversation_id: UUID, **body: Any
) -> UUID:
    r = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json=body, headers=agent.headers
    )
    assert r.status_code == 201, r.text
    return UUID(r.json()["id"])


async def stored(ctx: AppContext, message_id: UUID) -> Any:
    async with ctx.pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)


def lines(text: str) -> str:
    """A received part's text with the SMTP line endings made "\\n"."""
    return text.replace("\r\n", "\n")


async def execute(ctx: AppContext, sql: str, *args: Any) -> None:
    async with ctx.pool.acquire() as conn:
        await conn.execute(sql, *args)


# Sending --------------------------------------------------------------------------------------


async def test_a_reply_arrives_with_the_thread_headers_and_is_sent(
    ctx, client, admin, settings, registry, smtp
) -> None:
    account = await mailbox(ctx, smtp)
    conversation_id = await thread(ctx, account)
    message_id = await reply(
        client, admin, conversation_id, type="text", text="Sorry!\n\nA new one is on its way.",
        cc=["Ops@Example.id"],
    )  # fmt: skip
    assert await tick(ctx, settings, registry) == 1
    (received,) = smtp.received
    ours = f"<conversation/{conversation_id}/messages/{message_id}@omnistream.test>"
    mail = received.message()
    assert mail["Message-ID"] == ours
    assert mail["In-Reply-To"] == CUSTOMER_REPLY
    assert mail["References"].split() == [
        ROOT,
        f"<conversation/{conversation_id}/messages/earlier@omnistream.test>",
        CUSTOMER_REPLY,
    ]
    assert mail["Subject"] == f"Re: {SUBJECT}"  # "RE: Re:" collapsed, never doubled
    assert mail["From"] == f"Acme Support <{MAILBOX}>"
    assert (mail["To"], mail["Cc"]) == (CUSTOMER, "ops@example.id")
    assert (received.mail_from, received.rcpt_tos) == (MAILBOX, (CUSTOMER, "ops@example.id"))
    assert received.login == TEST_USER
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert lines(text.get_content()) == "Sorry!\n\nA new one is on its way.\n"
    assert "<p>Sorry!</p>" in html.get_content() and "A new one is on its way." in str(html)
    row = await stored(ctx, message_id)
    assert (row["status"], row["channel_message_id"], row["attempts"]) == ("sent", ours, 1)
    assert row["sent_at"] is not None and row["error_code"] is None
    # The next reply answers ours: In-Reply-To is now our Message-ID, the chain grows.
    second = await reply(client, admin, conversation_id, type="text", text="Tracking: 123")
    assert await tick(ctx, settings, registry) == 1
    mail = smtp.received[1].message()
    assert mail["In-Reply-To"] == ours
    assert mail["References"].split()[-2:] == [CUSTOMER_REPLY, ours]
    assert mail["Subject"] == f"Re: {SUBJECT}" and mail["Cc"] is None
    assert (await stored(ctx, second))["status"] == "sent"
    assert smtp.received[1].peer == received.peer  # the same connection, kept open


async def test_a_4xx_answer_is_retried_with_backoff_then_sent(
    ctx, client, admin, settings, registry, smtp
) -> None:
    account = await mailbox(ctx, smtp)
    conversation_id = await thread(ctx, account)
    message_id = await reply(client, admin, conversation_id, type="text", text="Hello again")
    smtp.handler.data_replies.append("451 4.3.0 Mail server temporarily rejected message")
    assert await tick(ctx, settings, registry) == 1
    row = await stored(ctx, message_id)
    assert (row["status"], row["attempts"], row["error_code"]) == ("pending", 1, "smtp_451")
    assert "451 4.3.0 Mail server temporarily rejected message" in row["error_reason"]
    assert row["next_attempt_at"] > row["created_at"]  # backoff: not due at once
    assert smtp.received == [] and await tick(ctx, settings, registry) == 0
    await execute(ctx, "UPDATE messages SET next_attempt_at = now() WHERE id = $1", message_id)
    assert await tick(ctx, settings, registry) == 1
    row = await stored(ctx, message_id)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    (received,) = smtp.received
    assert received.message()["Message-ID"] == row["channel_message_id"]


async def test_a_5xx_answer_fails_the_message_with_the_servers_text(
    ctx, client, admin, settings, registry, smtp
) -> None:
    account = await mailbox(ctx, smtp)
    conversation_id = await thread(ctx, account)
    smtp.handler.recipient_replies[CUSTOMER] = "550 5.1.1 <budi@example.id>: no such user here"
    message_id = await reply(client, admin, conversation_id, type="text", text="Hello")
    assert await tick(ctx, settings, registry) == 1
    row = await stored(ctx, message_id)
    assert (row["status"], row["error_code"], row["attempts"]) == ("failed", "smtp_550", 1)
    assert "550 5.1.1 <budi@example.id>: no such user here" in row["error_reason"]
    assert row["channel_message_id"] is None and smtp.received == []


async def test_a_refused_login_fails_and_marks_the_integration(
    ctx, client, admin, settings, registry, smtp
) -> None:
    account = await mailbox(ctx, smtp, smtp_password="wrong-password")
    conversation_id = await thread(ctx, account)
    message_id = await reply(client, admin, conversation_id, type="text", text="Hello")
    assert await tick(ctx, settings, registry) == 1
    row = await stored(ctx, message_id)
    assert (row["status"], row["error_code"]) == ("failed", "smtp_535")
    assert "refused the login" in row["error_reason"]
    async with ctx.pool.acquire() as conn:
        health = await conn.fetchval(
            "SELECT health FROM integrations WHERE id = $1", account.integration_id
        )
    assert health == "auth_failed" and smtp.received == []


async def test_an_uploaded_file_arrives_byte_identical(
    ctx, client, admin, settings, registry, smtp
) -> None:
    account = await mailbox(ctx, smtp)
    conversation_id = await thread(ctx, account)
    up = await client.post(
        f"/api/v1/conversations/{conversation_id}/uploads",
        files={"file": ("Invoice 42.pdf", PDF, "application/pdf")},
        headers=admin.headers,
    )
    assert up.status_code == 201, up.text
    message_id = await reply(
        client,
        admin,
        conversation_id,
        type="document",
        media_id=up.json()["id"],
        caption="Your invoice",
    )
    assert await tick(ctx, settings, registry) == 1
    mail = smtp.received[0].message()
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == "Invoice 42.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF
    body = mail.get_body(("plain",))
    assert body is not None and lines(body.get_content()) == "Your invoice\n"
    assert (await stored(ctx, message_id))["status"] == "sent"


async def test_a_new_thread_takes_the_messages_subject_or_fails_without_one(
    ctx, client, admin, settings, registry, smtp
) -> None:
    account = await mailbox(ctx, smtp)
    conversation_id = await email_conversation(ctx, account)
    first = await reply(client, admin, conversation_id, type="text", text="About your order")
    assert await tick(ctx, settings, registry) == 1
    row = await stored(ctx, first)
    assert (row["status"], row["error_code"]) == ("failed", "invalid_subject")
    assert row["error_reason"] == "a new email thread needs a subject"
    second = await reply(
        client, admin, conversation_id, type="text", text="About your order",
        subject="  Re: Your order 42 ",
    )  # fmt: skip
    assert await tick(ctx, settings, registry) == 1
    (received,) = smtp.received
    mail = received.message()
    assert mail["Subject"] == "Re: Your order 42"  # a new thread's subject is kept as written
    assert mail["In-Reply-To"] is None and mail["References"] is None
    assert (await stored(ctx, second))["status"] == "sent"


async def test_an_unreachable_server_is_retried(ctx, client, admin, settings, registry) -> None:
    account = await email_integration(ctx, credentials(free_port()))
    conversation_id = await thread(ctx, account)
    message_id = await reply(client, admin, conversation_id, type="text", text="Hello")
    assert await tick(ctx, settings, registry) == 1
    row = await stored(ctx, message_id)
    assert (row["status"], row["error_code"]) == ("pending", "smtp_connect")


async def test_changed_credentials_take_effect_on_new_connections(
    ctx, client, admin, settings, smtp
) -> None:
    account = await mailbox(ctx, smtp)
    conversation_id = await thread(ctx, account)
    adapter = EmailAdapter(ctx.pool, ctx.box, ttl=0, allow_private=True)  # re-read each send
    channels = ChannelRegistry({Channel.EMAIL: adapter})
    try:
        await reply(client, admin, conversation_id, type="text", text="One")
        assert await tick(ctx, settings, channels) == 1
        with running_smtp_server(auth_required=True) as moved:
            async with ctx.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE integrations SET credentials_json = $2 WHERE id = $1",
                    account.integration_id,
                    seal(ctx.box, Channel.EMAIL, account.integration_id, credentials(moved.port)),
                )
            second = await reply(client, admin, conversation_id, type="text", text="Two")
            assert await tick(ctx, settings, channels) == 1
            assert [len(smtp.received), len(moved.received)] == [1, 1]
            assert (await stored(ctx, second))["status"] == "sent"
    finally:
        await adapter.aclose()


async def test_a_refused_cc_does_not_fail_a_mail_the_customer_got(
    ctx, client, admin, settings, registry, smtp
) -> None:
    account = await mailbox(ctx, smtp)
    conversation_id = await thread(ctx, account)
    smtp.handler.recipient_replies["gone@example.id"] = "550 5.1.1 no such user"
    message_id = await reply(
        client, admin, conversation_id, type="text", text="Hello", cc=["gone@example.id"]
    )
    assert await tick(ctx, settings, registry) == 1
    (received,) = smtp.received
    assert received.rcpt_tos == (CUSTOMER,)
    assert received.message()["Cc"] == "gone@example.id"
    assert (await stored(ctx, message_id))["status"] == "sent"


async def test_a_turned_off_integration_fails_the_reply_with_the_reason(
    ctx, client, admin, settings, registry, smtp
) -> None:
    account = await email_integration(ctx, credentials(smtp.port), active=False)
    conversation_id = await thread(ctx, account)
    message_id = await reply(client, admin, conversation_id, type="text", text="Hello")
    assert await tick(ctx, settings, registry) == 1
    row = await stored(ctx, message_id)
    assert (row["status"], row["error_code"]) == ("failed", "integration_inactive")
    assert "turned off" in row["error_reason"] and smtp.received == []


async def test_subject_and_cc_are_checked_and_only_for_email(ctx, client, admin, smtp) -> None:
    account = await mailbox(ctx, smtp)
    conversation_id = await thread(ctx, account)
    for body, field in (
        ({"subject": "Two\nlines"}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"cc": ["not an address"]}, "cc.0"),
        ({"cc": [f"a{n}@example.id" for n in range(21)]}, "cc"),
    ):
        r = await client.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"type": "text", "text": "Hi", **body}, headers=admin.headers,
        )  # fmt: skip
        assert fields(problem(r, 422)) == {field}, (body, r.text)
    whatsapp = await factories.conversation(ctx)
    for body, field in (({"subject": "Hello"}, "subject"), ({"cc": ["a@example.id"]}, "cc")):
        r = await client.post(
            f"/api/v1/conversations/{whatsapp}/messages",
            json={"type": "text", "text": "Hi", **body}, headers=admin.headers,
        )  # fmt: skip
        assert fields(problem(r, 422)) == {field}, r.text
    async with ctx.pool.acquire() as conn:  # nothing was stored
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM messages WHERE direction = 'outbound' AND conversation_id = $1",
                whatsapp,
            )
            == 0
        )
