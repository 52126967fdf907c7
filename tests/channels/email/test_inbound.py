"""The email import against a real Dovecot and PostgreSQL (no mocks): mails appended over IMAP
become messages and conversations; threading by In-Reply-To / References (ours and stored
ones), reopening; nothing twice across redelivery, restarts and UIDVALIDITY changes; bounces,
auto-replies, our own sent mails, malformed mail, attachments as media."""

from __future__ import annotations

import asyncio
import hashlib
from uuid import UUID, uuid4

import asyncpg

from omnistream.channels.email.compose import own_message_id
from omnistream.channels.email.inbound import EmailAccount, synthetic_message_id
from omnistream.context import AppContext
from tests.channels.email.dovecot import Dovecot, MailUser
from tests.channels.email.importing import (
    CORPUS,
    SUPPORT,
    event_types,
    fetch,
    mail,
    make_account,
    messages,
    run_import,
)


async def first_mail_imported(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser, raw: bytes
) -> tuple[EmailAccount, asyncpg.Record]:
    """A new account whose mailbox holds `raw`, imported: the account and its message."""
    account = await make_account(ctx, dovecot, mail_user)
    await dovecot.append(raw, mail_user)
    await run_import(account, ctx)
    (first,) = await messages(ctx)
    return account, first


async def test_mails_become_conversations(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account = await make_account(ctx, dovecot, mail_user)
    await dovecot.append_all(
        [
            mail(message_id="<q1@example.com>"),
            mail("Siti <siti@example.org>", "Refund", "Saya mau refund.\n\n-- \nSiti"),
            mail(subject="Pertanyaan lain", body="Satu lagi."),  # Budi again: a new thread
        ],
        mail_user,
    )
    stats = await run_import(account, ctx)
    assert (stats.fetched, stats.stored, stats.failed) == (3, 3, 0)
    rows = await messages(ctx)
    assert len({r["conversation_id"] for r in rows}) == 3
    first = rows[0]
    assert first["channel"] == "email" and first["direction"] == "inbound"
    assert first["channel_message_id"] == "<q1@example.com>"
    assert first["content"]["subject"] == "Pesanan saya"
    assert first["content"]["text"].strip() == "Halo, pesanan #12 belum sampai."
    assert first["content"]["preview"] == "Halo, pesanan #12 belum sampai."
    assert first["content"]["from"] == {"name": "Budi Santoso", "address": "Budi@Example.com"}
    assert first["content"]["to"] == [{"name": "", "address": SUPPORT}]
    assert first["content"]["auto_reply"] is False
    assert rows[0]["contact_id"] == rows[2]["contact_id"] != rows[1]["contact_id"]
    (contact,) = await fetch(ctx, "SELECT * FROM contacts WHERE id = $1", first["contact_id"])
    assert (contact["email"], contact["name"]) == ("budi@example.com", "Budi Santoso")
    identities = await fetch(ctx, "SELECT channel, external_id FROM contact_identities")
    assert {tuple(r) for r in identities} == {
        ("email", "budi@example.com"),
        ("email", "siti@example.org"),
    }
    (siti,) = [r for r in rows if r["content"]["subject"] == "Refund"]
    assert siti["content"]["preview"] == "Saya mau refund."  # the signature trimmed
    conversations = await fetch(ctx, "SELECT * FROM conversations ORDER BY created_at")
    assert {c["integration_account_id"] for c in conversations} == {account.id}
    assert {c["last_message_preview"] for c in conversations} >= {"Saya mau refund."}
    assert all(c["unread_count"] == 1 for c in conversations)
    types = await event_types(ctx)
    assert types.count("message.created") == 3
    assert types.count("conversation.created") == 3
    assert types.count("contact.created") == 2
    (cursor,) = await fetch(ctx, "SELECT * FROM email_import_cursors")
    assert cursor["last_uid"] == stats.last_uid and cursor["last_error"] is None
    assert cursor["uidvalidity"] == await dovecot.uidvalidity(mail_user)


async def test_a_reply_continues_the_conversation_and_reopens_it(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account, first = await first_mail_imported(
        ctx, dovecot, mail_user, mail(message_id="<q1@example.com>")
    )
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE conversations SET status = 'resolved', resolved_at = now() WHERE id = $1",
            first["conversation_id"],
        )
    # Same subject from another thread must not thread; a reply by its headers must.
    await dovecot.append_all(
        [
            mail(subject="Re: Pesanan saya", body="Ini thread baru."),
            mail(
                "Budi Santoso <budi@example.com>",
                "Re: Pesanan saya",
                "Masih belum sampai.",
                in_reply_to="<q1@example.com>",
                references="<q1@example.com>",
            ),
        ],
        mail_user,
    )
    stats = await run_import(account, ctx)
    assert stats.stored == 2
    rows = await messages(ctx)
    by_text = {r["content"]["text"].strip(): r for r in rows}
    reply = by_text["Masih belum sampai."]
    assert reply["conversation_id"] == first["conversation_id"]
    assert reply["conversation_status"] == "open"
    assert reply["reply_to_id"] == first["id"]
    assert by_text["Ini thread baru."]["conversation_id"] != first["conversation_id"]
    assert (await event_types(ctx)).count("conversation.reopened") == 1


async def test_a_customer_reply_to_our_outbound_message_id_threads(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account, first = await first_mail_imported(ctx, dovecot, mail_user, mail())
    conversation_id: UUID = first["conversation_id"]
    stored_id, unstored_id = uuid4(), uuid4()
    ours = own_message_id(conversation_id, stored_id, "omnistream.test")
    async with ctx.pool.acquire() as conn:  # our reply, sent (its channel id: our Message-ID)
        await conn.execute(
            "INSERT INTO messages (id, conversation_id, channel, channel_message_id, direction, "
            "type, content, status, sent_at) "
            "VALUES ($1, $2, 'email', $3, 'outbound', 'text', '{}', 'sent', now())",
            stored_id,
            conversation_id,
            ours,
        )
    # A reply to it; and one naming only an id of ours that no message row carries.
    other = own_message_id(conversation_id, unstored_id, "omnistream.test")
    await dovecot.append_all(
        [
            mail(body="Terima kasih!", in_reply_to=ours, references=f"<q0@example.com> {ours}"),
            mail("Kim <kim@example.com>", "Re: x", "Saya juga.", references=other),
        ],
        mail_user,
    )
    assert (await run_import(account, ctx)).stored == 2
    rows = [r for r in await messages(ctx) if r["direction"] == "inbound"]
    assert {r["conversation_id"] for r in rows} == {conversation_id}
    types = await event_types(ctx)
    assert types.count("contact.created") == 2  # Budi, and Kim who joined the thread


async def test_redelivery_and_reimport_store_nothing_twice(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account = await make_account(ctx, dovecot, mail_user)
    raws = [mail(message_id=f"<r{n}@example.com>", body=f"Mail {n}") for n in range(3)]
    no_id = mail("Anon <anon@example.com>", body="No Message-ID here.", message_id=None)
    await dovecot.append_all([*raws, no_id], mail_user)
    assert (await run_import(account, ctx)).stored == 4
    before = (len(await messages(ctx)), await event_types(ctx))
    await dovecot.append_all([raws[1], no_id], mail_user)  # delivered again: new UIDs
    stats = await run_import(account, ctx)
    assert (stats.fetched, stats.stored, stats.duplicates) == (2, 0, 2)
    async with ctx.pool.acquire() as conn:  # the cursor lost: everything fetched again
        await conn.execute("DELETE FROM email_import_cursors")
    stats = await run_import(account, ctx)
    assert (stats.fetched, stats.stored, stats.duplicates) == (6, 0, 6)
    assert (len(await messages(ctx)), await event_types(ctx)) == before
    assert len(await fetch(ctx, "SELECT 1 FROM conversations")) == 4
    ids = {r["channel_message_id"] for r in await messages(ctx)}
    assert synthetic_message_id(no_id) in ids


async def test_a_restart_in_the_middle_misses_nothing_and_duplicates_nothing(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account = await make_account(ctx, dovecot, mail_user)
    uids = await dovecot.append_all(
        [mail(f"C{n} <c{n}@example.com>", body=f"Mail {n}") for n in range(7)], mail_user
    )
    first = await run_import(account, ctx, batch_size=3, max_batches=1)
    assert (first.stored, first.last_uid) == (3, uids[2])
    await dovecot.append(mail("Late <late@example.com>", body="Late mail"), mail_user)
    rest = await run_import(account, ctx, batch_size=3)  # a new connection, from the cursor
    assert (rest.fetched, rest.stored, rest.duplicates) == (5, 5, 0)
    texts = sorted(r["content"]["text"].strip() for r in await messages(ctx))
    assert texts == sorted([f"Mail {n}" for n in range(7)] + ["Late mail"])


async def test_a_uidvalidity_change_reimports_nothing_twice(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    await dovecot.create_folder("Support", mail_user)
    account = await make_account(ctx, dovecot, mail_user, folder="Support")
    raws = [mail(message_id=f"<u{n}@example.com>", body=f"Mail {n}") for n in range(3)]
    await dovecot.append_all(raws, mail_user, "Support")
    assert (await run_import(account, ctx)).stored == 3
    await dovecot.recreate_folder("Support", mail_user)  # new UIDVALIDITY, UIDs from 1
    await dovecot.append_all([*raws, mail(body="New one")], mail_user, "Support")
    stats = await run_import(account, ctx)
    assert (stats.fetched, stats.stored, stats.duplicates) == (4, 1, 3)
    assert len(await messages(ctx)) == 4
    (cursor,) = await fetch(ctx, "SELECT * FROM email_import_cursors")
    assert cursor["uidvalidity"] == await dovecot.uidvalidity(mail_user, "Support")


async def test_a_bounce_marks_the_outbound_message_failed(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account, first = await first_mail_imported(ctx, dovecot, mail_user, mail())
    async with ctx.pool.acquire() as conn:  # our reply the bounce is about
        outbound_id = await conn.fetchval(
            "INSERT INTO messages (conversation_id, channel, channel_message_id, direction, "
            "type, content, status, sent_at) VALUES ($1, 'email', "
            "'<reply-7f3a9c@support.omnistream.test>', 'outbound', 'text', '{}', 'sent', now()) "
            "RETURNING id",
            first["conversation_id"],
        )
    await dovecot.append((CORPUS / "bounce.eml").read_bytes(), mail_user)
    stats = await run_import(account, ctx)
    assert (stats.bounces, stats.stored) == (1, 0)
    (row,) = await fetch(ctx, "SELECT * FROM messages WHERE id = $1", outbound_id)
    assert row["status"] == "failed" and row["failed_at"] is not None
    assert row["error_code"] == "5.1.1"
    assert "User unknown" in row["error_reason"]
    assert len(await fetch(ctx, "SELECT 1 FROM conversations")) == 1
    assert (await event_types(ctx))[-1] == "message.updated"


async def test_auto_replies_are_stored_flagged_and_own_sent_mail_skipped(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account, first = await first_mail_imported(ctx, dovecot, mail_user, mail())
    async with ctx.pool.acquire() as conn:  # our "solved" reply, and the conversation resolved
        await conn.execute(
            "INSERT INTO messages (conversation_id, channel, channel_message_id, direction, "
            "type, content, status, sent_at) VALUES ($1, 'email', "
            "'<out-0300@support.omnistream.test>', 'outbound', 'text', '{}', 'sent', now())",
            first["conversation_id"],
        )
        await conn.execute(
            "UPDATE conversations SET status = 'resolved', resolved_at = now() WHERE id = $1",
            first["conversation_id"],
        )
    sent = own_message_id(first["conversation_id"], uuid4(), "omnistream.test")
    await dovecot.append_all(
        [
            (CORPUS / "auto_reply.eml").read_bytes(),  # In-Reply-To <out-0300@...>
            mail(f"Support <{SUPPORT}>", "Re: x", "Our reply", message_id=sent),
        ],
        mail_user,
    )
    stats = await run_import(account, ctx)
    assert (stats.stored, stats.own) == (1, 1)
    (row,) = [r for r in await messages(ctx) if r["content"].get("auto_reply")]
    assert row["content"]["subject"] == "Automatic reply: Your ticket"
    assert row["conversation_id"] == first["conversation_id"]
    assert row["conversation_status"] == "resolved"  # an out-of-office reopens nothing
    assert "conversation.reopened" not in await event_types(ctx)


# NUL characters, encoded (IMAP itself carries no NUL bytes): PostgreSQL text refuses them.
NUL_MAIL = (
    b"From: =?utf-8?q?Nul=00ly?= <nul@example.com>\r\nTo: support@omnistream.test\r\n"
    b"Subject: =?utf-8?q?NULs=00_here?=\r\nMessage-ID: <nul-1@example.com>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
    b"\r\n\r\nand=00 here\r\n"
)


async def test_a_malformed_mail_is_stored_with_what_could_be_read(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account = await make_account(ctx, dovecot, mail_user)
    await dovecot.append_all(
        [
            (CORPUS / "malformed_boundary.eml").read_bytes(),
            (CORPUS / "malformed_no_boundary.eml").read_bytes(),
            b"\x00\xff garbage without headers\r\n",
            (CORPUS / "attachments.eml").read_bytes(),
            NUL_MAIL,
            mail(body="After the broken ones."),
        ],
        mail_user,
    )
    stats = await run_import(account, ctx)
    assert (stats.fetched, stats.stored, stats.failed) == (6, 6, 0)
    rows = {r["content"]["subject"]: r for r in await messages(ctx)}
    broken = rows["Broken structure"]
    assert "survives a bogus charset" in broken["content"]["text"]
    assert broken["content"]["defects"]
    assert rows["Invoice and price list"]["content"]["attachments"]
    assert rows["NULs here"]["content"]["text"].strip() == "and here"  # PostgreSQL takes no NUL
    assert any(r["content"]["text"].strip() == "After the broken ones." for r in rows.values())


async def test_attachments_and_inline_images_are_stored_as_media(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account = await make_account(ctx, dovecot, mail_user)
    raws = [(CORPUS / n).read_bytes() for n in ("attachments.eml", "inline_image.eml")]
    await dovecot.append_all(raws, mail_user)
    assert (await run_import(account, ctx)).stored == 2
    rows = {r["content"]["subject"]: r for r in await messages(ctx)}
    media = {
        r["id"]: r
        for r in await fetch(
            ctx, "SELECT * FROM media WHERE origin = 'inbound' AND status = 'ready'"
        )
    }
    described = rows["Invoice and price list"]["content"]["attachments"]
    assert [a["filename"] for a in described] == ["invoice.pdf", "daftar harga – Desember.csv"]
    for entry in described:
        row = media[UUID(entry["media_id"])]
        assert row["conversation_id"] == rows["Invoice and price list"]["conversation_id"]
        assert entry["url"] == f"/api/v1/media/{row['id']}" and entry["skipped_reason"] is None
        data = (ctx.settings.media_dir / row["storage_path"]).read_bytes()
        assert len(data) == row["size_bytes"] == entry["size"]
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
    assert described[0]["content_type"] == "application/pdf"
    logo = rows["Our new logo"]["content"]
    (image,) = logo["attachments"]
    assert image["inline"] and image["content_type"] == "image/png"
    assert f'src="/api/v1/media/{image["media_id"]}"' in logo["html"]
    assert 'src="cid:' not in logo["html"]
    assert ' src="https://tracker' not in logo["html"]  # remote images: only on demand
    # Redelivered: no second media row, no file left behind.
    files = {p for p in (ctx.settings.media_dir / "email").rglob("*") if p.is_file()}
    await dovecot.append_all(raws, mail_user)
    assert (await run_import(account, ctx)).duplicates == 2
    assert len(await fetch(ctx, "SELECT 1 FROM media")) == len(media) == 3
    assert {p for p in (ctx.settings.media_dir / "email").rglob("*") if p.is_file()} == files


async def test_an_attachment_over_the_limit_is_described_with_the_reason(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account = await make_account(ctx, dovecot, mail_user)
    await dovecot.append((CORPUS / "attachments.eml").read_bytes(), mail_user)
    assert (await run_import(account, ctx, max_attachment_bytes=10)).stored == 1
    (row,) = await messages(ctx)
    for entry in row["content"]["attachments"]:
        assert "media_id" not in entry and "10" in entry["skipped_reason"]
    assert not await fetch(ctx, "SELECT 1 FROM media")


async def test_two_imports_of_one_mailbox_at_once_store_each_mail_once(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account = await make_account(ctx, dovecot, mail_user)
    await dovecot.append_all(
        [mail(f"C{n} <c{n}@example.com>", body=f"Mail {n}") for n in range(12)], mail_user
    )
    first, second = await asyncio.gather(
        run_import(account, ctx, batch_size=2), run_import(account, ctx, batch_size=3)
    )
    assert first.stored + second.stored == 12
    assert len(await messages(ctx)) == 12
    assert len(await fetch(ctx, "SELECT 1 FROM conversations")) == 12  # none left empty
    assert (await event_types(ctx)).count("message.created") == 12


async def test_a_mail_that_cannot_be_stored_is_skipped_and_named_in_last_error(
    ctx: AppContext, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account = await make_account(ctx, dovecot, mail_user)
    uids = await dovecot.append_all([mail(subject="poison"), mail(body="The next one.")], mail_user)
    async with ctx.pool.acquire() as conn:  # a row this database refuses, for this test only
        await conn.execute(
            "ALTER TABLE messages ADD CONSTRAINT test_no_poison "
            "CHECK (content->>'subject' IS DISTINCT FROM 'poison') NOT VALID"
        )
    try:
        stats = await run_import(account, ctx)
    finally:
        async with ctx.pool.acquire() as conn:
            await conn.execute("ALTER TABLE messages DROP CONSTRAINT test_no_poison")
    assert (stats.fetched, stats.stored, stats.failed) == (2, 1, 1)
    (row,) = await messages(ctx)
    assert row["content"]["text"].strip() == "The next one."
    assert not await fetch(
        ctx, "SELECT 1 FROM conversations WHERE id <> $1", row["conversation_id"]
    )
    (cursor,) = await fetch(ctx, "SELECT * FROM email_import_cursors")
    assert cursor["last_uid"] == uids[1]
    assert f"UID {uids[0]}" in cursor["last_error"] and "test_no_poison" in cursor["last_error"]
