"""Importing a mailbox's new mail (issue 16, inbound): IMAP by UID, one transaction per batch.

Each batch's mails are stored and the account's import cursor (UIDVALIDITY, last UID) moved in
one transaction, so a crash at any moment neither loses nor duplicates a mail: a mail fetched
again is a no-op by its Message-ID (a mail without one gets a stable synthetic id, a hash of
its bytes). Per mail:
- our own sent mail found in the folder (From the mailbox, one of our Message-IDs): skipped;
- a bounce (DSN, action failed): marks the original outbound message failed, no conversation;
- a reply (In-Reply-To / References naming one of our Message-IDs or a stored message's)
  continues that conversation, reopening a resolved one; otherwise a new conversation with
  the contact found or created by the From address. Never matched by subject.
- auto-replies are stored with content.auto_reply true and reopen no conversation;
- attachments and inline images are stored as media (inbound_media.py) and described in
  content.attachments (media_id and url, or skipped_reason when over the size limit).
The worker loop around this is inbound_worker.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.channels.email import inbound_queries as q
from omnistream.channels.email.account import imap_settings
from omnistream.channels.email.compose import parse_own_message_id
from omnistream.channels.email.imap import FetchedMail, ImapSettings, ImportCursor, Mailbox
from omnistream.channels.email.inbound_media import (
    WrittenFile,
    attachments_content,
    html_with_media,
    insert_media,
    remove_files,
    write_files,
)
from omnistream.channels.email.parse import ParsedMail, parse_mail
from omnistream.contacts.service import present as present_contacts
from omnistream.conversations import queries as conversation_queries
from omnistream.conversations.service import audience_of
from omnistream.db.pool import Pool, Tx, transaction
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.integrations.credentials import unseal
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel
from omnistream.messages import queries as message_queries
from omnistream.messages.enums import MessageStatus, MessageType
from omnistream.messages.ingest import store_inbound
from omnistream.messages.service import apply_status

log = logging.getLogger(__name__)

BATCH_SIZE = 50
# What one mail's data can cause (it is skipped, logged, and named in last_error); anything
# else (a deadlock, a lost connection) fails the whole batch, which is fetched again.
MAIL_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, ValueError)
MAX_ID_LENGTH = 500  # messages.channel_message_id as ingest checks it
MAX_SENDER_LENGTH = 200  # contact_identities.external_id
UNKNOWN_SENDER = "unknown-sender@invalid"  # a mail whose From could not be read


@dataclass(frozen=True)
class EmailAccount:
    """An email integration account, ready to connect: its mailbox address and IMAP side."""

    id: UUID
    integration_id: UUID
    address: str  # lower-cased
    imap: ImapSettings


def email_account(box: SecretBox, row: asyncpg.Record) -> EmailAccount:
    """From an inbound_queries account row, with account.py's defaults for unset fields;
    raises EmailSettingsError (or DecryptError) when its credentials cannot be used."""
    values = unseal(box, Channel.EMAIL, row["integration_id"], row["credentials_json"])
    settings = imap_settings(values, row["external_id"])
    return EmailAccount(row["id"], row["integration_id"], row["external_id"].lower(), settings)


async def load_account(pool: Pool, box: SecretBox, account_id: UUID) -> EmailAccount:
    async with pool.acquire() as conn:
        row = await q.account(conn, account_id)
    if row is None:
        raise LookupError(f"no active email integration account {account_id}")
    return email_account(box, row)


@dataclass
class ImportStats:
    """What an import did (mails fetched; of them stored, duplicates, own, bounces, failed;
    left_out: on the folder's first import, the older mails it does not import)."""

    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    own: int = 0
    bounces: int = 0
    failed: int = 0
    last_uid: int = 0
    left_out: int = 0
    errors: list[str] = field(default_factory=list)
    stored_uids: set[int] = field(default_factory=set, repr=False)

    def add(self, other: ImportStats) -> None:
        for name in ("fetched", "stored", "duplicates", "own", "bounces", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.last_uid = max(self.last_uid, other.last_uid)
        self.errors.extend(other.errors)
        self.stored_uids |= other.stored_uids


def without_nul(value: Any) -> Any:
    """`value` (str, list, dict) without NUL characters, which PostgreSQL text and JSONB
    refuse; a mail may carry them (say, in an encoded-word subject)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: without_nul(v) for k, v in value.items()}
    return value


def synthetic_message_id(raw: bytes) -> str:
    """A stable Message-ID for a mail without a usable one: the same bytes, the same id."""
    return f"<sha256.{hashlib.sha256(raw).hexdigest()}@omnistream.invalid>"


async def import_new(
    pool: Pool,
    account: EmailAccount,
    mailbox: Mailbox,
    *,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
    max_attachment_bytes: int = 16 * 1024 * 1024,
    media_dir: Path | None = None,
) -> ImportStats:
    """Imports the mails after the stored cursor, batch by batch, until none is left (or
    `max_batches`). Attachments are stored as media under `media_dir` (without one, only
    described). The folder's first import (no cursor yet) starts at the mailbox's
    start_point (the mail of the last `imap_backfill_days` days), stored at once."""
    async with pool.acquire() as conn:
        stored = await q.cursor(conn, account.id)
    left_out = 0
    if stored is None or stored["uidvalidity"] == 0:  # never imported (0: an error's row)
        start = await mailbox.start_point()
        async with pool.acquire() as conn:
            if await q.start_cursor(conn, account.id, mailbox.uidvalidity, start.last_uid):
                left_out = start.left_out
                log.info(
                    "email import: first connection, older mail left out",
                    extra={
                        "account_id": str(account.id),
                        "backfill_days": account.imap.backfill_days,
                        "left_out": left_out,
                        "after_uid": start.last_uid,
                    },
                )
            stored = await q.cursor(conn, account.id)  # this one, or another worker's
    last_uid = mailbox.resume_after(
        None if stored is None else ImportCursor(stored["uidvalidity"], stored["last_uid"])
    )
    total = ImportStats(last_uid=last_uid, left_out=left_out)
    batches = 0

    async def read_after(uid: int) -> tuple[list[FetchedMail], list[ParsedMail]]:
        mails = await mailbox.fetch_after(uid, batch_size)
        return mails, await asyncio.to_thread(_parse_all, mails, max_attachment_bytes)

    # The next batch is fetched and parsed while this one is stored: IMAP, parsing and the
    # database overlap. A read ahead runs to its end (cancelling it would leave the IMAP
    # connection mid-command) unless the import itself fails or is cancelled.
    ahead = asyncio.ensure_future(read_after(last_uid))
    try:
        while True:
            mails, parsed = await ahead
            if not mails:
                break
            batches += 1
            more = max_batches is None or batches < max_batches
            if more:
                ahead = asyncio.ensure_future(read_after(mails[-1].uid))
            result = await store_batch(
                pool, account, mailbox.uidvalidity, mails, parsed, media_dir=media_dir
            )
            total.add(result)
            last_uid = result.last_uid
            if not more:
                break
            if last_uid != mails[-1].uid:  # another worker got further: read after its cursor
                await _settled(ahead)
                ahead = asyncio.ensure_future(read_after(last_uid))
    except BaseException:
        ahead.cancel()
        await _settled(ahead)
        raise
    return total


async def _settled(task: asyncio.Future[Any]) -> None:
    """Waits for a read ahead whose result is not wanted, its error included."""
    await asyncio.wait([task])
    if not task.cancelled() and task.exception() is not None:
        log.debug("email import: unused read ahead failed", exc_info=task.exception())


def _parse_all(mails: list[FetchedMail], max_attachment_bytes: int) -> list[ParsedMail]:
    return [parse_mail(m.raw, max_attachment_bytes=max_attachment_bytes) for m in mails]


async def store_batch(
    pool: Pool,
    account: EmailAccount,
    uidvalidity: int,
    mails: list[FetchedMail],
    parsed: list[ParsedMail],
    *,
    media_dir: Path | None = None,
) -> ImportStats:
    """One transaction: the mails (one bad mail is logged and skipped, in a savepoint of its
    own: see MAIL_ERRORS) and the cursor moved past them."""
    stats = ImportStats(fetched=len(mails), last_uid=mails[-1].uid)
    files: list[list[WrittenFile]] = [[] for _ in mails]
    if media_dir is not None:
        files = await asyncio.to_thread(write_files, media_dir, parsed)
    unused = [f for written in files for f in written]  # removed unless their mail is stored
    try:
        await _store_batch(pool, account, uidvalidity, mails, parsed, files, media_dir, stats)
        unused = [f for written, mail in zip(files, mails, strict=True)
                  if mail.uid not in stats.stored_uids for f in written]  # fmt: skip
    finally:
        if unused and media_dir is not None:
            await asyncio.to_thread(remove_files, media_dir, unused)
    return stats


async def _store_batch(
    pool: Pool,
    account: EmailAccount,
    uidvalidity: int,
    mails: list[FetchedMail],
    parsed: list[ParsedMail],
    files: list[list[WrittenFile]],
    media_dir: Path | None,
    stats: ImportStats,
) -> None:
    """The batch in one transaction, first without a savepoint per mail (two round trips a
    mail saved); when a mail fails, the whole batch again with them, to skip just that mail."""
    batch = (account, uidvalidity, mails, parsed, files, media_dir, stats)
    try:
        await _store_all(pool, *batch, savepoints=False)
    except _MailFailed:
        fresh = ImportStats(fetched=stats.fetched, last_uid=stats.last_uid)
        for name in ("stored", "duplicates", "own", "bounces", "failed", "errors", "stored_uids"):
            setattr(stats, name, getattr(fresh, name))
        await _store_all(pool, *batch, savepoints=True)


class _MailFailed(Exception):
    """A mail of a batch stored without savepoints failed: the batch is rolled back."""


async def _store_all(
    pool: Pool,
    account: EmailAccount,
    uidvalidity: int,
    mails: list[FetchedMail],
    parsed: list[ParsedMail],
    files: list[list[WrittenFile]],
    media_dir: Path | None,
    stats: ImportStats,
    *,
    savepoints: bool,
) -> None:
    async with transaction(pool) as tx:
        cursor = await q.lock_cursor(tx.conn, account.id)
        if cursor["uidvalidity"] == uidvalidity and cursor["last_uid"] >= stats.last_uid:
            # Another worker stored this batch while we fetched it: continue after its cursor.
            stats.duplicates = len(mails)
            stats.last_uid = cursor["last_uid"]
            return
        for mail, read, written in zip(mails, parsed, files, strict=True):
            stored = media_dir is not None
            try:
                if savepoints:
                    async with tx.conn.transaction():
                        outcome = await store_mail(
                            tx, account, mail.raw, read, written, stored=stored
                        )
                else:
                    outcome = await store_mail(tx, account, mail.raw, read, written, stored=stored)
            except MAIL_ERRORS as exc:
                if not savepoints:
                    raise _MailFailed from exc
                log.exception(
                    "email import: mail not stored",
                    extra={"account_id": str(account.id), "uid": mail.uid},
                )
                stats.failed += 1
                stats.errors.append(f"UID {mail.uid}: {exc}")
                continue
            setattr(stats, outcome, getattr(stats, outcome) + 1)
            if outcome == "stored":
                stats.stored_uids.add(mail.uid)
        await q.move_cursor(tx.conn, account.id, uidvalidity, stats.last_uid)
        if stats.errors:  # for the admin: which mails were skipped, and why
            await q.record_error(tx.conn, account.id, "; ".join(stats.errors))


def _address_list(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "address": address} for name, address in pairs]


def content_of(
    mail: ParsedMail, message_id: str, media_ids: dict[int, UUID], stored: bool
) -> dict[str, Any]:
    """messages.content of an email."""
    return {
        "subject": mail.subject,
        "from": {"name": mail.from_name or "", "address": mail.from_address or ""},
        "to": _address_list(mail.to),
        "cc": _address_list(mail.cc),
        "date": mail.date.isoformat() if mail.date else None,
        "message_id": message_id,
        "in_reply_to": mail.in_reply_to,
        "references": mail.references,
        "text": mail.text,
        "preview": mail.preview,
        "html": html_with_media(mail, media_ids),
        "attachments": attachments_content(mail, media_ids, stored),
        "auto_reply": mail.is_auto_reply,
        "defects": mail.defects,
    }


async def store_mail(
    tx: Tx,
    account: EmailAccount,
    raw: bytes,
    mail: ParsedMail,
    files: Sequence[WrittenFile] = (),
    *,
    stored: bool = False,
) -> str:
    """One mail (`files`: its attachments written; `stored`: attachments are stored); the
    ImportStats counter it adds to: stored, duplicates, own or bounces."""
    conn = tx.conn
    message_id = without_nul(mail.message_id)
    if not message_id or len(message_id) > MAX_ID_LENGTH:
        message_id = synthetic_message_id(raw)
    if await message_queries.exists(conn, Channel.EMAIL.value, message_id):
        return "duplicates"  # a redelivery: no contact, no conversation, no media
    sender = without_nul(mail.from_address or "").strip().lower()
    if sender == account.address and parse_own_message_id(message_id) is not None:
        return "own"
    if mail.bounce is not None:
        await _bounce(tx, mail)
        return "bounces"
    if not sender or len(sender) > MAX_SENDER_LENGTH:
        sender = UNKNOWN_SENDER
    conversation = await _thread(tx, mail)
    name = without_nul(mail.from_name or "")
    person, contact_created = await q.find_or_create_contact(conn, sender, name)
    created = conversation is None
    if conversation is None:
        conversation = await conversation_queries.insert(
            conn, person["id"], Channel.EMAIL.value, account.id
        )
    media_ids = await insert_media(conn, conversation["id"], mail, list(files))
    row = await store_inbound(
        conn,
        person=person,
        contact_created=contact_created,
        conversation=conversation,
        conversation_created=created,
        channel=Channel.EMAIL,
        type=MessageType.TEXT,
        channel_message_id=message_id,
        content=without_nul(content_of(mail, message_id, media_ids, stored)),
        occurred_at=mail.date or datetime.now(UTC),
        reply_to_channel_message_id=mail.in_reply_to[0] if mail.in_reply_to else None,
        summary=mail.preview or mail.subject,
        reopen=not mail.is_auto_reply,  # an out-of-office answer to "solved" reopens nothing
    )
    if row is None:  # another transaction stored this mail meanwhile
        await q.delete_media(conn, list(media_ids.values()))
        if created:
            await q.delete_empty_conversation(conn, conversation["id"])
        return "duplicates"
    if contact_created and not created:  # a new person joined a thread (say, one in Cc)
        (shown,) = await present_contacts(conn, [person])
        await emit(
            conn,
            EventType.CONTACT_CREATED,
            shown.model_dump(mode="json"),
            actor={"type": "contact", "id": str(person["id"]), "name": person["name"]},
            audience=audience_of(conversation),
        )
    return "stored"


async def _thread(tx: Tx, mail: ParsedMail) -> asyncpg.Record | None:
    """The conversation (locked) the mail's In-Reply-To / References name: the nearest
    reference first (In-Reply-To, then References from the latest back)."""
    candidates = list(dict.fromkeys([*mail.in_reply_to, *reversed(mail.references)]))
    if not candidates:
        return None
    own = {c: parse_own_message_id(c) for c in candidates}
    matches = await q.thread_matches(
        tx.conn,
        candidates,
        [o.message_id for o in own.values() if o is not None],
        [o.conversation_id for o in own.values() if o is not None],
    )
    found = {(r["kind"], r["key"]): r["conversation_id"] for r in matches}
    for candidate in candidates:
        mine = own[candidate]
        conversation_id = found.get(("channel", candidate))
        if conversation_id is None and mine is not None:
            conversation_id = found.get(("message", str(mine.message_id))) or found.get(
                ("conversation", str(mine.conversation_id))
            )
        if conversation_id is not None:
            conversation = await q.lock_conversation(tx.conn, conversation_id)
            if conversation is not None:
                return conversation
    return None


async def _bounce(tx: Tx, mail: ParsedMail) -> None:
    """A delivery status notification: a failed delivery marks the original outbound
    message failed with the diagnostic; other reports (delayed, delivered) change nothing."""
    bounce = mail.bounce
    assert bounce is not None
    original = bounce.original_message_id
    if (bounce.action or "").lower() != "failed" or not original:
        log.info("email import: delivery report ignored", extra={"action": bounce.action})
        return
    channel_id: str | None = original
    if not await message_queries.exists(tx.conn, Channel.EMAIL.value, original):
        own = parse_own_message_id(original)
        channel_id = None if own is None else await q.outbound_channel_id(tx.conn, own.message_id)
    if channel_id is None:
        log.info("email import: bounce of an unknown message", extra={"original": original})
        return
    reason = bounce.diagnostic or f"the mail bounced (status {bounce.status or 'unknown'})"
    await apply_status(
        tx,
        Channel.EMAIL.value,
        channel_id,
        MessageStatus.FAILED,
        mail.date or datetime.now(UTC),
        error_code=bounce.status,
        error_reason=reason,
    )
