"""Several files in one email reply (attachment_ids): checked by the reply API, stored in
content.attachments as received mails describe theirs, and sent intact in one mail through
the real sender tick to a real SMTP server (aiosmtpd, smtp_server.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from omnistream.context import AppContext
from omnistream.scheduled.worker import send_due as send_scheduled
from tests import factories
from tests.channels.email.mailboxes import (
    CUSTOMER,
    MailAccount,
    credentials,
    earlier_message,
    email_conversation,
    email_integration,
    tick,
)
from tests.channels.email.smtp_server import RecordingSmtpServer
from tests.conftest import Agent, fields, problem
from tests.messages.test_messages import PDF, PNG
from tests.scheduled.test_scheduled import due

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

ROOT = "<CAF=files-1@mail.example.id>"


async def thread(
    ctx: AppContext, smtp: RecordingSmtpServer, account: MailAccount | None = None
) -> tuple[MailAccount, UUID]:
    """An email conversation with the customer's first mail (a second one: another customer)."""
    customer = CUSTOMER if account is None else "sari@example.id"
    root = ROOT if account is None else "<CAF=files-2@mail.example.id>"
    account = account or await email_integration(ctx, credentials(smtp.port))
    conversation_id = await email_conversation(ctx, account, customer)
    await earlier_message(ctx, conversation_id, root, minutes_ago=5, subject="Invoices")
    return account, conversation_id


async def upload(
    client: httpx.AsyncClient, agent: Agent, conversation_id: UUID, name: str, data: bytes,
    kind: str,
) -> str:  # fmt: skip
    r = await client.post(
        f"/api/v1/conversations/{conversation_id}/uploads",
        files={"file": (name, data, kind)},
        headers=agent.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def post(
    client: httpx.AsyncClient, agent: Agent, conversation_id: UUID, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json=body, headers=agent.headers
    )


async def outbound_count(ctx: AppContext) -> int:
    async with ctx.pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE direction = 'outbound'"
        )
    return count


async def test_two_files_arrive_intact_in_one_mail(
    ctx, client, admin, settings, registry, smtp
) -> None:
    _, conversation_id = await thread(ctx, smtp)
    pdf = await upload(client, admin, conversation_id, "Invoice 42.pdf", PDF, "application/pdf")
    png = await upload(client, admin, conversation_id, "Foto kerusakan.png", PNG, "image/png")
    r = await post(
        client, admin, conversation_id, type="text", text="Both files attached.",
        attachment_ids=[pdf, png, pdf],  # a repeated id counts once
    )  # fmt: skip
    assert r.status_code == 201, r.text
    message = r.json()
    assert message["content"]["text"] == "Both files attached."
    assert message["content"]["attachments"] == [
        {"filename": "Invoice 42.pdf", "content_type": "application/pdf", "size": len(PDF),
         "media_id": pdf, "url": f"/api/v1/media/{pdf}", "inline": False},
        {"filename": "Foto kerusakan.png", "content_type": "image/png", "size": len(PNG),
         "media_id": png, "url": f"/api/v1/media/{png}", "inline": False},
    ]  # fmt: skip
    assert await tick(ctx, settings, registry) == 1
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, error_reason FROM messages WHERE id = $1", UUID(message["id"])
        )
    assert row["status"] == "sent", row["error_reason"]
    (received,) = smtp.received
    mail = received.message()
    found = [
        (a.get_filename(), a.get_content_type(), a.get_content()) for a in mail.iter_attachments()
    ]
    assert found == [
        ("Invoice 42.pdf", "application/pdf", PDF),
        ("Foto kerusakan.png", "image/png", PNG),
    ]
    body = mail.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Both files attached."
    assert mail["In-Reply-To"] == ROOT and received.rcpt_tos == (CUSTOMER,)


async def test_files_without_text_are_sent_and_previewed_by_name(
    ctx, client, admin, settings, registry, smtp
) -> None:
    _, conversation_id = await thread(ctx, smtp)
    pdf = await upload(client, admin, conversation_id, "Invoice 42.pdf", PDF, "application/pdf")
    r = await post(client, admin, conversation_id, type="text", attachment_ids=[pdf])
    assert r.status_code == 201, r.text
    conversation = await client.get(
        f"/api/v1/conversations/{conversation_id}", headers=admin.headers
    )
    assert conversation.json()["last_message_preview"] == "📎 Invoice 42.pdf"
    assert await tick(ctx, settings, registry) == 1
    (attachment,) = smtp.received[0].message().iter_attachments()
    assert attachment.get_content() == PDF
    # Without files the text is still required.
    r = await post(client, admin, conversation_id, type="text", text="  ", attachment_ids=[])
    assert fields(problem(r, 422)) == {"text"}


async def test_attachment_ids_are_checked_and_nothing_is_stored_when_refused(
    ctx, client, admin, smtp
) -> None:
    account, conversation_id = await thread(ctx, smtp)
    _, other_conversation = await thread(ctx, smtp, account)
    pdf = await upload(client, admin, conversation_id, "a.pdf", PDF, "application/pdf")
    foreign = await upload(client, admin, other_conversation, "b.pdf", PDF, "application/pdf")
    async with ctx.pool.acquire() as conn:
        pending = await conn.fetchval(
            "INSERT INTO media (conversation_id, origin, status, filename, mime_type) "
            "VALUES ($1, 'inbound', 'pending', 'c.pdf', 'application/pdf') RETURNING id",
            conversation_id,
        )
    whatsapp = await factories.conversation(ctx)
    wa_file = await upload(client, admin, whatsapp, "w.pdf", PDF, "application/pdf")
    cases: list[tuple[UUID, dict[str, Any]]] = [
        (conversation_id, {"type": "text", "text": "x", "attachment_ids": [str(uuid4())]}),
        (conversation_id, {"type": "text", "text": "x", "attachment_ids": [pdf, foreign]}),
        (conversation_id, {"type": "text", "text": "x", "attachment_ids": [str(pending)]}),
        (conversation_id, {"type": "text", "text": "x",
                           "attachment_ids": [str(uuid4()) for _ in range(11)]}),
        (conversation_id, {"type": "document", "media_id": pdf, "attachment_ids": [pdf]}),
        (conversation_id, {"type": "text", "text": "x", "attachment_ids": ["not-a-uuid"]}),
        (whatsapp, {"type": "text", "text": "x", "attachment_ids": [wa_file]}),
    ]  # fmt: skip
    for target, body in cases:
        r = await post(client, admin, target, **body)
        found = fields(problem(r, 422))
        assert found and all(f.startswith("attachment_ids") for f in found), (body, r.text)
    assert await outbound_count(ctx) == 0


async def test_files_over_the_total_size_are_refused(ctx, client, admin, smtp) -> None:
    _, conversation_id = await thread(ctx, smtp)
    ids = [
        await upload(client, admin, conversation_id, f"{n}.pdf", PDF, "application/pdf")
        for n in range(2)
    ]
    async with ctx.pool.acquire() as conn:  # as if each were 13 MiB (the upload limit is 16)
        await conn.execute(
            "UPDATE media SET size_bytes = 13 * 1024 * 1024 WHERE id = ANY($1::uuid[])",
            [UUID(i) for i in ids],
        )
    r = await post(client, admin, conversation_id, type="text", text="x", attachment_ids=ids)
    body = problem(r, 422)
    assert fields(body) == {"attachment_ids"} and "bytes" in body["errors"][0]["message"]
    assert await outbound_count(ctx) == 0


async def test_a_scheduled_reply_with_files_sends_them_when_due(
    ctx, client, admin, settings, registry, smtp
) -> None:
    _, conversation_id = await thread(ctx, smtp)
    pdf = await upload(client, admin, conversation_id, "Invoice 42.pdf", PDF, "application/pdf")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await client.post(
        f"/api/v1/conversations/{conversation_id}/scheduled-messages",
        json={"type": "text", "attachment_ids": [pdf], "scheduled_at": later},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    refused = await client.post(
        f"/api/v1/conversations/{conversation_id}/scheduled-messages",
        json={"type": "text", "text": "x", "attachment_ids": [str(uuid4())], "scheduled_at": later},
        headers=admin.headers,
    )
    assert fields(problem(refused, 422)) == {"attachment_ids"}
    await due(ctx, r.json()["id"])
    assert await send_scheduled(ctx.pool, ctx.settings) == 1
    assert await tick(ctx, settings, registry) == 1
    (attachment,) = smtp.received[0].message().iter_attachments()
    assert (attachment.get_filename(), attachment.get_content()) == ("Invoice 42.pdf", PDF)
