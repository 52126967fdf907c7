"""Messenger and Instagram sends (shared/docs/meta-channels.md section 4).

POST {graph}/{page_id}/messages with the page token:
    {"recipient": {"id": PSID|IGSID}, "messaging_type": "RESPONSE", "message": {...}}
inside 24 h of the customer's last message, or "messaging_type": "MESSAGE_TAG" with
"tag": "HUMAN_AGENT" from 24 h to 7 days (a human agent's reply); later, nothing may be
sent. `message` is {"text"} or {"attachment": {"type", "payload": {"url"}}}, with
{"reply_to": {"mid"}} when quoting. Answer: {"recipient_id", "message_id": "m_…"}.

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

from omnistream.channels.graph import AccountLookup, GraphClient, account_for, call_graph
from omnistream.channels.registry import OutboundMessage, PermanentSendError, SendResult

RESPONSE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
METADATA_PREFIX = "omnistream:"  # = inbound.service.OWN_METADATA_PREFIX
# Our media types -> the Send API's attachment types.
ATTACHMENT_TYPES = {"image": "image", "video": "video", "audio": "audio", "document": "file"}


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


def message_body(message: OutboundMessage, now: datetime | None = None) -> dict[str, Any]:
    last = message.last_inbound_at if isinstance(message, PageMessage) else None
    body: dict[str, Any] = {"recipient": {"id": message.recipient}}
    body.update(messaging_type(last, now or datetime.now(UTC)))
    content = message.content
    out: dict[str, Any]
    if message.type == "text":
        out = {"text": content["text"]}
    elif message.type in ATTACHMENT_TYPES:
        link = content.get("link")
        if not link:
            raise PermanentSendError(
                "media_needs_link",
                f"{message.channel} takes attachments by URL only: send the file as a link",
            )
        out = {"attachment": {"type": ATTACHMENT_TYPES[message.type], "payload": {"url": link}}}
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


class PageAdapter:
    """Messenger or Instagram, through the page's (or IG account's) Send API."""

    def __init__(self, accounts: AccountLookup, http: GraphClient) -> None:
        self._accounts = accounts
        self._http = http

    async def send(self, message: OutboundMessage) -> SendResult:
        account = await account_for(self._accounts, message)
        body = message_body(message)
        node = f"{quote(account.external_id, safe='')}/messages"
        answer = await call_graph(self._http, account, node, json=body)
        mid = answer.get("message_id")
        if not isinstance(mid, str) or not mid:
            raise PermanentSendError("bad_response", "Meta accepted the send without a message id")
        return SendResult(
            channel_message_id=mid,
            details={"messaging_type": body["messaging_type"], "tag": body.get("tag")},
        )
