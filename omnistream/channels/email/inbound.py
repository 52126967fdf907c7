"""Storing one imported mail (issue 16, inbound); importer.py fetches and stores them by
batches.

A mail is stored once by its Message-ID (a mail without one gets a stable synthetic id, a
hash of its bytes). Per mail:
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

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.channels.email import inbound_queries as q
from omnistream.channels.email.account import imap_settings
from omnistream.channels.email.compose import parse_own_message_id
from omnistream.channels.email.imap import ImapSettings
from omnistream.channels.email.inbound_media import (
    WrittenFile,
    attachments_content,
    html_with_media,
    insert_media,
)
from omnistream.channels.email.parse import ParsedMail
from omnistream.contacts.service import present as present_contacts
from omnistream.conversations import queries as conversation_queries
from omnistream.conversations.service import audience_of
from omnistream.db.pool import Pool, Tx
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
