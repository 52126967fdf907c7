"""CSAT by email through the real pipeline: a customer's mail imported from a real Dovecot,
the resolve, the CSAT consumer, the sender tick mailing the survey to a real SMTP server
(aiosmtpd), and the customer's reply appended to Dovecot and imported: its first line is the
score, the lines after it the feedback; the quoted survey below it (which lists every score)
is never read as an answer. No 24-hour window on email."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any
from uuid import UUID

import pytest

from omnistream.channels.email.inbound import EmailAccount
from omnistream.channels.registry import ChannelRegistry
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.csat.schemas import DEFAULT_TEXTS
from tests.channels.email.dovecot import Dovecot, MailUser, running_dovecot
from tests.channels.email.importing import run_import, sending_account
from tests.channels.email.smtp_server import (  # noqa: F401 - the smtp fixture
    ReceivedMail,
    RecordingSmtpServer,
    smtp_fixture,
)
from tests.csat.support import consume_all, resolve, rows, send_all, surveys, value

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SUPPORT = "support@omnistream.test"
CUSTOMER = "budi@example.id"
SUBJECT = "Paket belum sampai"
EN = DEFAULT_TEXTS["en"]


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot() as server:
        yield server


def customer_mail(body: str, message_id: str, *, in_reply_to: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = f"Budi Santoso <{CUSTOMER}>"
    message["To"] = SUPPORT
    message["Subject"] = f"Re: {SUBJECT}" if in_reply_to else SUBJECT
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = f"<first@example.id> {in_reply_to}"
    message.set_content(body)
    return message.as_bytes(policy=SMTP)


def quoted(survey: ReceivedMail) -> str:
    """The survey mail quoted below a reply, as Gmail does."""
    text = survey.message().get_body(("plain",)).get_content()  # type: ignore[union-attr]
    lines = "\n".join(f"> {line}" for line in text.strip().splitlines())
    return f"On Mon, 7 Dec 2026 at 10:02, Acme Support <{SUPPORT}> wrote:\n{lines}\n"


@dataclass
class CsatMail:
    """A mailbox of its own (a Dovecot user, its email account sending to aiosmtpd) and what
    the CSAT flow runs on: the API as the admin, the consumer, the sender."""

    ctx: AppContext
    client: Any
    admin: Any
    private: Settings
    registry: ChannelRegistry
    smtp: RecordingSmtpServer
    dovecot: Dovecot
    user: MailUser
    account: EmailAccount

    async def deliver(self, raw: bytes) -> None:
        """The customer's mail arrives in the mailbox and the importer takes it."""
        await self.dovecot.append(raw, self.user)
        stats = await run_import(self.account, self.ctx)
        assert stats.stored == 1, stats

    async def send_all(self) -> int:
        return await send_all(self.ctx, self.private, self.registry)

    async def survey_mailed(self, *, days_ago: int = 0) -> tuple[UUID, Any, ReceivedMail]:
        """The customer writes, an agent resolves, the consumer and the sender run."""
        r = await self.client.put(
            "/api/v1/csat/settings", json={"channels": ["email"]}, headers=self.admin.headers
        )
        assert r.status_code == 200, r.text
        await self.deliver(customer_mail("Paket saya belum sampai.", "<first@example.id>"))
        conversation_id = await value(
            self.ctx, "SELECT id FROM conversations WHERE channel = 'email'"
        )
        if days_ago:  # long past the 24 hours of WhatsApp: email has no such window
            await value(
                self.ctx,
                "UPDATE conversations SET last_inbound_at = now() - make_interval(days => $2) "
                "WHERE id = $1",
                conversation_id,
                days_ago,
            )
        await resolve(self.client, self.admin, conversation_id)
        await consume_all(self.ctx)
        assert await self.send_all() == 1
        await consume_all(self.ctx)  # the send's message.updated: the survey is 'sent'
        (survey,) = await surveys(self.ctx)
        (mailed,) = self.smtp.received
        return conversation_id, survey, mailed


@pytest.fixture
async def csat(
    ctx: AppContext,
    client: Any,
    admin: Any,
    private: Settings,
    registry: ChannelRegistry,
    dovecot: Dovecot,
    smtp: RecordingSmtpServer,
) -> CsatMail:
    user = dovecot.add_user()
    account = await sending_account(ctx, dovecot, user, smtp.port)
    return CsatMail(ctx, client, admin, private, registry, smtp, dovecot, user, account)


async def test_a_survey_goes_out_by_email_and_the_reply_with_a_number_answers_it(
    ctx: AppContext, csat: CsatMail
) -> None:
    conversation_id, survey, mailed = await csat.survey_mailed(days_ago=3)
    assert (survey["status"], survey["channel"], survey["language"]) == ("sent", "email", "en")

    # A plain text mail in the thread: the question, the 5 scores, how to answer.
    message = mailed.message()
    assert mailed.rcpt_tos == (CUSTOMER,)
    assert message["Subject"] == f"Re: {SUBJECT}"
    assert message["In-Reply-To"] == "<first@example.id>"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert EN.question in text and EN.email_reply in text
    assert all(option in text for option in EN.options)
    survey_message = await value(
        ctx, "SELECT channel_message_id FROM messages WHERE id = $1", survey["message_id"]
    )
    assert survey_message == message["Message-ID"]

    # The customer answers on top of the quoted survey: 4, and a comment.
    reply = f"4\nQuick and friendly, thank you.\n\n{quoted(mailed)}"
    assert "5 - Excellent" in reply  # the quoted survey lists every score
    await csat.deliver(customer_mail(reply, "<answer@example.id>", in_reply_to=survey_message))
    (answered,) = await surveys(ctx)
    assert (answered["status"], answered["score"], answered["answered_via"]) == (
        "answered",
        4,
        "text",
    )
    assert answered["feedback"] == "Quick and friendly, thank you."
    answer = await value(
        ctx, "SELECT id FROM messages WHERE channel_message_id = '<answer@example.id>'"
    )
    assert answered["answer_message_id"] == answer
    status = await value(ctx, "SELECT status FROM conversations WHERE id = $1", conversation_id)
    assert status == "resolved"  # an answer reopens nothing

    # The thanks goes out by email too, in the same thread.
    await consume_all(ctx)
    assert await csat.send_all() == 1
    thanks = csat.smtp.received[-1].message()
    assert EN.thanks in thanks.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert thanks["Subject"] == f"Re: {SUBJECT}"
    assert survey_message in thanks["References"]


async def test_a_reply_quoting_the_survey_without_a_number_is_no_answer(
    ctx: AppContext, client: Any, admin: Any, csat: CsatMail
) -> None:
    conversation_id, survey, mailed = await csat.survey_mailed()
    survey_message = mailed.message()["Message-ID"]

    text = mailed.message().get_body(("plain",)).get_content()  # type: ignore[union-attr]
    outlook = (
        f"From: Acme Support <{SUPPORT}>\nSent: Monday, December 7, 2026 10:02 AM\n"
        f"To: Budi Santoso <{CUSTOMER}>\nSubject: Re: {SUBJECT}\n\n{text}"
    )
    replies = {
        # Words only above a Gmail quote (whose lines hold "5 - Excellent" and the rest).
        "<words@example.id>": f"Paketnya masih belum sampai juga.\n\n{quoted(mailed)}",
        # Outlook quotes without "> ": the survey's score lines start lines of the mail.
        "<outlook@example.id>": f"Masih belum sampai.\n\n{outlook}",
        # Nothing typed above the quote at all, the quote starting with the question.
        "<bare@example.id>": quoted(mailed).split("\n", 1)[1],
    }
    assert "\n5 - Excellent" in replies["<outlook@example.id>"]
    for message_id, body in replies.items():
        raw = customer_mail(body, message_id, in_reply_to=survey_message)
        await csat.deliver(raw)
        (still,) = await surveys(ctx)
        assert (still["id"], still["status"], still["score"], still["feedback"]) == (
            survey["id"],
            "sent",
            None,
            None,
        ), message_id
        found = await rows(
            ctx,
            "SELECT m.conversation_id, c.status FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id WHERE m.channel_message_id = $1",
            message_id,
        )
        # An ordinary message in the thread: the conversation is reopened.
        assert [tuple(r) for r in found] == [(conversation_id, "open")], message_id
        await resolve(client, admin, conversation_id)  # resolved again for the next one


async def test_email_surveys_can_be_turned_on_with_their_own_text(client: Any, admin: Any) -> None:
    r = await client.get("/api/v1/csat/settings", headers=admin.headers)
    body = r.json()
    assert body["texts"]["id"]["email_reply"] == DEFAULT_TEXTS["id"].email_reply
    body["channels"] = ["email", "whatsapp"]
    body["texts"]["en"]["email_reply"] = "Reply with 1 (bad) to 5 (great)."
    del body["texts"]["id"]["email_reply"]  # a client that does not know it: the default
    r = await client.put("/api/v1/csat/settings", json=body, headers=admin.headers)
    assert r.status_code == 200, r.text
    saved = (await client.get("/api/v1/csat/settings", headers=admin.headers)).json()
    assert saved["channels"] == ["email", "whatsapp"]
    assert saved["texts"]["en"]["email_reply"] == "Reply with 1 (bad) to 5 (great)."
    assert saved["texts"]["id"]["email_reply"] == DEFAULT_TEXTS["id"].email_reply
    body["texts"]["en"]["email_reply"] = " "
    r = await client.put("/api/v1/csat/settings", json=body, headers=admin.headers)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["texts.en.email_reply"]
