"""The email channel's adapter for the outbound sender (messages/worker.py): an agent's reply
becomes a mail (compose.py) sent over SMTP (smtp.py) from the conversation's mailbox.

- Thread: the subject is the thread's (the latest inbound mail's subject, else the message's
  own `content.subject`, else the latest subject in the conversation), made `Re: ...` for a
  reply; In-Reply-To is the latest earlier message's Message-ID (its channel id) and
  References the conversation's Message-IDs, oldest first (the root and the latest,
  capped); a conversation without any is a new thread (a subject is required then).
- Body: the text (or a media message's caption, and its link when sent by link); the
  message's stored file, and the files `content.attachments` names by media_id (a reply's
  attachment_ids, read from `media_dir`), as attachments; `content.cc` (addresses) as CC.
- Our Message-ID `<conversation/{conv}/messages/{msg}@{mailbox domain}>` is the same on
  every attempt and becomes the message's channel id once the server took the mail.
- Outcomes: 4xx answers, refused or lost connections and timeouts are transient (the
  sender retries with backoff); 5xx answers and TLS problems fail the message with the
  server's text; a refused login also marks the integration auth_failed.

Connections: up to SESSIONS_PER_ACCOUNT SMTP connections per account, each kept open for
many mails (smtp.SmtpSession); new ones when the account's settings change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any
from uuid import UUID

from omnistream.channels.email import outbound_queries as queries
from omnistream.channels.email.account import EmailSettingsError, Sender, sender, smtp_settings
from omnistream.channels.email.compose import (
    MAX_REFERENCES,
    ComposeError,
    OutboundAttachment,
    compose_reply,
)
from omnistream.channels.email.smtp import SendResult as SmtpResult
from omnistream.channels.email.smtp import SmtpSession, SmtpSettings
from omnistream.channels.errors import AuthSendError, cut
from omnistream.channels.registry import (
    MediaFile,
    OutboundMessage,
    PermanentSendError,
    SendError,
    SendResult,
    TransientSendError,
    read_media_file,
)
from omnistream.db.pool import Pool
from omnistream.integrations import queries as integration_queries
from omnistream.integrations.credentials import unseal
from omnistream.kit.crypto import DecryptError, SecretBox
from omnistream.kit.enums import Channel

log = logging.getLogger(__name__)
SESSIONS_PER_ACCOUNT = 4  # SMTP connections kept per mailbox (each sends one mail at a time)
ACCOUNT_TTL_SECONDS = 30.0  # credential changes reach running workers within this time
MAX_CC = 50


@dataclass(frozen=True)
class MailAccount:
    integration_id: UUID
    smtp: SmtpSettings
    sender: Sender


class _Sessions:
    """An account's SMTP connections: a send takes the idle one used last (or waits for
    one), so that a quiet mailbox keeps one warm connection and a busy one opens more."""

    def __init__(self, settings: SmtpSettings, size: int) -> None:
        self.settings = settings
        self.all = [SmtpSession(settings) for _ in range(size)]
        self.idle: asyncio.LifoQueue[SmtpSession] = asyncio.LifoQueue()
        for session in self.all:
            self.idle.put_nowait(session)
        self.retired = False

    async def send(
        self, mail: EmailMessage, *, envelope_from: str, recipients: list[str]
    ) -> SmtpResult:
        session = await self.idle.get()
        try:
            return await session.send(mail, envelope_from=envelope_from, recipients=recipients)
        finally:
            if self.retired:
                await session.close()
            else:
                self.idle.put_nowait(session)

    async def retire(self) -> None:
        """No more sends: idle connections close now, busy ones when their send ends."""
        self.retired = True
        while not self.idle.empty():
            await self.idle.get_nowait().close()


class EmailAdapter:
    """The ChannelAdapter of the email channel; `aclose` when the worker stops."""

    def __init__(
        self,
        pool: Pool,
        box: SecretBox,
        *,
        ttl: float = ACCOUNT_TTL_SECONDS,
        sessions_per_account: int = SESSIONS_PER_ACCOUNT,
        media_dir: Path | None = None,
        allow_private: bool = False,  # OMNISTREAM_ALLOW_PRIVATE_URLS: SMTP on a private address
    ) -> None:
        self.pool, self.box, self.ttl, self.allow_private = pool, box, ttl, allow_private
        self.media_dir = media_dir  # where content.attachments' files are stored
        self.sessions_per_account = sessions_per_account
        self._accounts: dict[UUID, tuple[float, MailAccount | SendError]] = {}
        self._sessions: dict[UUID, _Sessions] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    async def send(self, message: OutboundMessage) -> SendResult:
        account_id = message.integration_account_id
        if account_id is None:
            raise PermanentSendError(
                "no_account", "the conversation has no email account to send from"
            )
        account = await self._account(account_id)
        mail = await self._compose(message, account.sender)
        recipients = _addresses([str(v) for v in mail.get_all("To", []) + mail.get_all("Cc", [])])
        result = await self._sessions_of(account_id, account.smtp).send(
            mail, envelope_from=account.sender.from_address, recipients=recipients
        )
        return _outcome(result, str(mail["Message-ID"]), account.integration_id)

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for found in sessions.values():
            await found.retire()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

    async def _account(self, account_id: UUID) -> MailAccount:
        hit = self._accounts.get(account_id)
        if hit is None or hit[0] <= time.monotonic():
            hit = (time.monotonic() + self.ttl, await self._load(account_id))
            self._accounts[account_id] = hit
        if isinstance(hit[1], SendError):  # a fresh one: sends may raise it side by side
            raise PermanentSendError(hit[1].code, hit[1].reason)
        return hit[1]

    async def _load(self, account_id: UUID) -> MailAccount | SendError:
        async with self.pool.acquire() as conn:
            row = await integration_queries.account_by_id(conn, account_id)
        if row is None:
            return PermanentSendError("no_account", "the conversation's email account is gone")
        if row["channel"] != Channel.EMAIL:
            return PermanentSendError(
                "wrong_account", f"the conversation's account is a {row['channel']} account"
            )
        if not row["is_active"]:
            return PermanentSendError(
                "integration_inactive", "the integration is turned off: turn it on and retry"
            )
        try:
            values = unseal(self.box, Channel.EMAIL, row["integration_id"], row["credentials_json"])
            return MailAccount(
                row["integration_id"],
                smtp_settings(values, row["external_id"], allow_private=self.allow_private),
                sender(values, row["external_id"]),
            )
        except DecryptError as exc:
            reason = f"the integration's credentials cannot be read: {exc}"
            return PermanentSendError("credentials_unreadable", reason)
        except EmailSettingsError as exc:
            reason = f"the email integration's settings cannot be used: {exc.field} {exc.reason}"
            return PermanentSendError("misconfigured", cut(reason))

    def _sessions_of(self, account_id: UUID, settings: SmtpSettings) -> _Sessions:
        found = self._sessions.get(account_id)
        if found is None or found.settings != settings:
            if found is not None:  # the credentials changed: new connections
                task = asyncio.get_running_loop().create_task(found.retire())
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)
            found = self._sessions[account_id] = _Sessions(settings, self.sessions_per_account)
        return found

    async def _compose(self, message: OutboundMessage, who: Sender) -> EmailMessage:
        content = message.content
        async with self.pool.acquire() as conn:
            thread = await queries.thread_of(
                conn, message.conversation_id, message.message_id, MAX_REFERENCES
            )
        ids: list[str] = list(thread["message_ids"])
        subject = thread["inbound_subject"] or _text(content, "subject") or thread["any_subject"]
        attachments = []
        if message.media is not None:
            data = await read_media_file(message.media)
            name, kind = message.media.filename, message.media.mime_type
            attachments.append(OutboundAttachment(name, kind, data))
        attachments.extend(await self._attached(message))
        try:
            return compose_reply(
                from_name=who.from_name,
                from_address=who.from_address,
                to=[message.recipient],
                cc=_cc(content),
                subject=subject or "",
                new_thread=not ids,
                conversation_id=message.conversation_id,
                message_id=message.message_id,
                domain=who.domain,
                in_reply_to=ids[-1] if ids else None,
                references=ids[:-1],
                body_text=_body(message),
                attachments=attachments,
            )
        except ComposeError as exc:
            raise PermanentSendError(f"invalid_{exc.field}", cut(_compose_reason(exc))) from None

    async def _attached(self, message: OutboundMessage) -> list[OutboundAttachment]:
        """The files of `content.attachments` (media ids of the conversation), in order."""
        ids = _attachment_ids(message.content)
        if not ids:
            return []
        if self.media_dir is None:
            raise PermanentSendError("media_unavailable", "no media storage to read files from")
        async with self.pool.acquire() as conn:
            rows = {
                r["id"]: r for r in await queries.attached_files(conn, message.conversation_id, ids)
            }
        found: list[OutboundAttachment] = []
        for media_id in ids:
            row = rows.get(media_id)
            if row is None or row["status"] != "ready" or not row["storage_path"]:
                raise PermanentSendError("media_unavailable", "an attached file is not available")
            file = MediaFile(
                media_id=media_id,
                path=self.media_dir / row["storage_path"],
                mime_type=row["mime_type"],
                filename=row["filename"] or "file",
                size_bytes=0,
                sha256=None,
            )
            data = await read_media_file(file)
            found.append(OutboundAttachment(file.filename, file.mime_type, data))
        return found


def _attachment_ids(content: Mapping[str, Any]) -> list[UUID]:
    """The media ids of `content.attachments` (a reply's attachment_ids), each once."""
    found = content.get("attachments")
    ids: list[UUID] = []
    for item in found if isinstance(found, list) else []:
        value = item.get("media_id") if isinstance(item, Mapping) else None
        try:
            media_id = UUID(str(value))
        except ValueError:
            continue
        if media_id not in ids:
            ids.append(media_id)
    return ids


def _text(content: Mapping[str, Any], name: str) -> str:
    value = content.get(name)
    return value.strip() if isinstance(value, str) else ""


def _body(message: OutboundMessage) -> str:
    content = message.content
    if message.type == "text":
        return _text(content, "text")
    if message.type in ("image", "video", "audio", "document"):
        parts = [_text(content, "caption"), _text(content, "link")]
        return "\n\n".join(p for p in parts if p)
    raise PermanentSendError(
        "unsupported_type", f"a {message.type} message cannot be sent by email"
    )


def _cc(content: Mapping[str, Any]) -> list[str]:
    """`content.cc`: addresses as strings, or {"address": ...} / [name, address] items."""
    found = content.get("cc")
    items = [found] if isinstance(found, str) else found if isinstance(found, list) else []
    addresses: list[str] = []
    for item in items[:MAX_CC]:
        value = item
        if isinstance(item, Mapping):
            value = item.get("address")
        elif isinstance(item, list) and len(item) == 2:
            value = item[1]
        if isinstance(value, str) and value.strip() and value.strip() not in addresses:
            addresses.append(value.strip())
    return addresses


def _addresses(header_values: list[str]) -> list[str]:
    """The envelope recipients: the addresses of the composed To and Cc headers (as
    compose_reply checked them, an IDNA domain encoded), each once."""
    found: list[str] = []
    for _, address in getaddresses(header_values):
        if address and address.lower() not in (a.lower() for a in found):
            found.append(address)
    return found


def _compose_reason(exc: ComposeError) -> str:
    if exc.field == "subject":
        return "a new email thread needs a subject"
    if exc.field in ("to", "cc"):
        return f"cannot send to this address: {exc.reason}"
    return f"the mail cannot be composed: {exc}"


def _outcome(result: SmtpResult, message_id: str, integration_id: UUID) -> SendResult:
    """The sender's SendResult, or the SendError to raise."""
    if result.sent:
        details: dict[str, Any] = {"smtp_reply": result.reply}
        if result.refused:  # the others got it: the message counts as sent
            details["refused"] = [{"address": r.address, "reply": r.reply} for r in result.refused]
            log.info(
                "email recipients refused",
                extra={"message_id": message_id, "refused": details["refused"]},
            )
        return SendResult(channel_message_id=message_id, details=details)
    code = f"smtp_{result.code}" if result.code is not None else f"smtp_{result.step or 'send'}"
    if result.outcome == "transient":
        raise TransientSendError(
            code, cut(f"the mail server did not take the mail yet: {result.reply}")
        )
    if result.step == "auth":
        reason = f"the mail server refused the login: {result.reply}"
        raise AuthSendError(code, cut(reason), integration_id)
    raise PermanentSendError(code, cut(f"the mail server refused the mail: {result.reply}"))
