"""Messenger and Instagram sends (shared/docs/meta-channels.md section 4).

POST {graph}/{page_id}/messages with the page token:
    {"recipient": {"id": PSID|IGSID}, "messaging_type": "RESPONSE", "message": {...}}
inside 24 h of the customer's last message, or "messaging_type": "MESSAGE_TAG" with
"tag": "HUMAN_AGENT" from 24 h to 7 days (a human agent's reply); later, nothing may be
sent. `message` is {"text"} (with "quick_replies": [{"content_type": "text", "title",
"payload"}] when the stored text has some) or {"attachment": {"type", "payload": {"url"}}}
(a link) or {"attachment": {"type", "payload": {"attachment_id"}}} (an agent's upload, first
sent to POST /{page_id}/message_attachments, multipart `message` + `filedata`), with
{"reply_to": {"mid"}} when quoting. Answer: {"recipient_id", "message_id": "m_…"}.
Reactions are sender actions on the same endpoint: {"recipient", "sender_action": "react",
"payload": {"message_id", "reaction"}} (Messenger: the emoji; Instagram: "love", its only
reaction), and "unreact" with {"message_id"} alone.

The window is decided at send time from PageMessage.last_inbound_at (the conversation's,
read when the sender claimed the message), so a reply that waited for a retry still goes
out with the right type. Messenger sends carry `metadata` "omnistream:<message id>", which
Meta echoes back: the inbound side (inbound/service.py) knows its own sends by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson

from omnistream.channels.graph import AccountLookup, GraphClient, account_for, call_graph
from omnistream.channels.registry import (
    MediaFile,
    OutboundMessage,
    PermanentSendError,
    SendResult,
    read_media_file,
)
from omnistream.integrations.accounts import AccountConfig

RESPONSE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
METADATA_PREFIX = "omnistream:"  # = inbound.service.OWN_METADATA_PREFIX
# Our media types -> the Send API's attachment types.
ATTACHMENT_TYPES = {"image": "image", "video": "video", "audio": "audio", "document": "file"}
# A sender action has no message id of its own: the stored one is ours, unique per message.
REACTION_ID_PREFIX = "reaction:"


@dataclass(frozen=True)
class PageMessage(OutboundMessage):
    """An OutboundMessage with the time of the customer's last message (None: never)."""

    last_inbound_at: datetime | None = None


def messaging_type(last_inbound_at: datetime | None, now: datetime) -> dict[str, str]:
    """RESPONSE inside 24 h, HUMAN_AGENT tag up to 7 days, else a permanent failure."""
    if last_inbound_at is None:
        raise PermanentSendError(
            "window_closed", "the customer has never written: Meta allows no message to them"
        )
    age = now - last_inbound_at
    if age <= RESPONSE_WINDOW:
        return {"messaging_type": "RESPONSE"}
    if age <= HUMAN_AGENT_WINDOW:
        return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    raise PermanentSendError(
        "window_closed",
        "more than 7 days have passed since the customer's last message: "
        "Messenger and Instagram allow no reply now",
    )


def message_body(
    message: OutboundMessage, now: datetime | None = None, attachment_id: str | None = None
) -> dict[str, Any]:
    """The send body; `attachment_id` is the id of the file uploaded for this send, if any."""
    last = message.last_inbound_at if isinstance(message, PageMessage) else None
    if message.type == "reaction":
        messaging_type(last, now or datetime.now(UTC))  # the window holds for reactions too
        return reaction_body(message)
    body: dict[str, Any] = {"recipient": {"id": message.recipient}}
    body.update(messaging_type(last, now or datetime.now(UTC)))
    content = message.content
    out: dict[str, Any]
    if message.type == "text":
        out = {"text": content["text"]}
        if content.get("quick_replies"):  # a CSAT survey's choices (csat/service.py)
            out["quick_replies"] = [
                {"content_type": "text", "title": q["title"], "payload": q["payload"]}
                for q in content["quick_replies"]
            ]
    elif message.type in ATTACHMENT_TYPES:
        payload: dict[str, Any]
        if content.get("link"):
            payload = {"url": content["link"]}
        elif attachment_id is not None:
            payload = {"attachment_id": attachment_id}
        else:
            raise PermanentSendError("media_unavailable", "the message has no file or link to send")
        out = {"attachment": {"type": ATTACHMENT_TYPES[message.type], "payload": payload}}
    else:
        raise PermanentSendError(
            "unsupported_type", f"cannot send a {message.type} message on {message.channel}"
        )
    if message.reply_to_channel_message_id:
        out["reply_to"] = {"mid": message.reply_to_channel_message_id}
    if message.channel == "messenger":
        out["metadata"] = f"{METADATA_PREFIX}{message.message_id}"
    body["message"] = out
    return body


def reaction_body(message: OutboundMessage) -> dict[str, Any]:
    """react (Messenger: the emoji itself; Instagram: "love", the only one it takes) or, for
    an empty emoji, unreact, which carries the target's id alone."""
    target = message.reply_to_channel_message_id or message.content.get("target_message_id")
    if not target:
        raise PermanentSendError(
            "no_target", f"the message reacted to has no {message.channel} id (never sent)"
        )
    emoji = message.content.get("emoji") or ""
    body: dict[str, Any] = {"recipient": {"id": message.recipient}}
    if not emoji:
        return {**body, "sender_action": "unreact", "payload": {"message_id": target}}
    reaction = "love" if message.channel == "instagram" else emoji
    return {
        **body,
        "sender_action": "react",
        "payload": {"message_id": target, "reaction": reaction},
    }


def upload_form(channel: str, kind: str) -> dict[str, str]:
    """The non-file fields of POST /{page_id}/message_attachments."""
    spec = {"attachment": {"type": ATTACHMENT_TYPES[kind], "payload": {"is_reusable": True}}}
    form = {"message": orjson.dumps(spec).decode()}
    if channel == "instagram":
        form["platform"] = "instagram"
    return form


class PageAdapter:
    """Messenger or Instagram, through the page's (or IG account's) Send API."""

    def __init__(self, accounts: AccountLookup, http: GraphClient) -> None:
        self._accounts = accounts
        self._http = http

    async def send(self, message: OutboundMessage) -> SendResult:
        account = await account_for(self._accounts, message)
        attachment_id = None
        if message.type in ATTACHMENT_TYPES and not message.content.get("link"):
            if message.media is None:
                raise PermanentSendError("media_unavailable", "the attached file is not available")
            attachment_id = await self.upload(account, message.type, message.media)
        body = message_body(message, attachment_id=attachment_id)
        answer = await call_graph(self._http, account, _node(account, "messages"), json=body)
        mid = answer.get("message_id")
        if message.type == "reaction":
            # Meta answers a sender action with the recipient only.
            channel_id = mid if isinstance(mid, str) and mid else None
            return SendResult(
                channel_message_id=channel_id or f"{REACTION_ID_PREFIX}{message.message_id}",
                details={"sender_action": body["sender_action"]},
            )
        if not isinstance(mid, str) or not mid:
            raise PermanentSendError("bad_response", "Meta accepted the send without a message id")
        details: dict[str, Any] = {"messaging_type": body["messaging_type"], "tag": body.get("tag")}
        if attachment_id is not None:
            details["attachment_id"] = attachment_id
        return SendResult(channel_message_id=mid, details=details)

    async def upload(self, account: AccountConfig, kind: str, media: MediaFile) -> str:
        """POST /{page_id}/message_attachments (multipart `message` JSON + `filedata`), a
        reusable attachment: a retried send uploads again, which Meta allows."""
        data = await read_media_file(media)
        answer = await call_graph(
            self._http,
            account,
            _node(account, "message_attachments"),
            data=upload_form(account.channel, kind),
            files={"filedata": (media.filename or "file", data, media.mime_type)},
        )
        attachment_id = answer.get("attachment_id")
        if not isinstance(attachment_id, str | int) or not str(attachment_id):
            raise PermanentSendError(
                "bad_response", "Meta accepted the upload without an attachment_id"
            )
        return str(attachment_id)


def _node(account: AccountConfig, edge: str) -> str:
    return f"{quote(account.external_id, safe='')}/{edge}"
