"""Customer play: turn "a customer sends X" into the webhook Meta would send."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from omnistream.sandbox import ids
from omnistream.sandbox.config import AccountConfig, ChannelName
from omnistream.sandbox.errors import status_error
from omnistream.sandbox.media import cdn_url, store
from omnistream.sandbox.samples import customer_name, sample
from omnistream.sandbox.state import Media, SandboxState
from omnistream.sandbox.webhooks import page_envelope, wa_envelope

InboundType = Literal[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "unsupported",
]
MEDIA = ("image", "video", "audio", "document", "sticker")
PAGE_ATTACHMENT = {"image": "image", "video": "video", "audio": "audio", "document": "file"}
REACTIONS = {"❤️": "love", "❤": "love", "👍": "like", "😮": "wow", "😢": "sad", "😠": "angry"}


class PlayError(ValueError):
    """The requested customer message cannot exist on that channel."""


class CustomerMessage(BaseModel):
    """POST /_sandbox/customers/send: what the customer sends (fields by type)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    channel: ChannelName | None = Field(None, description="checked against the account's")
    account: str = Field(description="the account's external_id")
    sender: str = Field(
        alias="from", pattern=r"^[0-9A-Za-z_-]{1,64}$", description="wa_id, PSID or IGSID"
    )
    name: str | None = Field(
        None,
        max_length=200,
        description='profile name; default: the last one, else a sample name; "": none',
    )
    username: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._]{1,30}$",
        description="Instagram: the profile's username; default: made from the name",
    )
    type: InboundType = "text"
    text: str | None = Field(None, description="text body; button/quick-reply text")
    caption: str | None = None
    filename: str | None = None
    mime_type: str | None = None
    media_base64: str | None = Field(None, description="file bytes; default a sample file")
    reply_to: str | None = Field(
        None,
        description="message id quoted (context / reply_to); a WhatsApp `button` tap "
        "defaults to the last message sent to the customer",
    )
    target: str | None = Field(None, description="reaction: the message reacted to")
    emoji: str = Field("👍", description="reaction; empty removes it")
    interactive_type: Literal["button_reply", "list_reply", "nfm_reply"] = "button_reply"
    reply_id: str = "btn_yes"
    reply_title: str = "Yes"
    reply_description: str | None = None
    flow_response: dict[str, Any] | None = Field(None, description="nfm_reply response_json")
    payload: str | None = Field(
        None,
        description="button / postback / quick-reply payload; WhatsApp interactive: the "
        "button_reply / list_reply id unless reply_id is given",
    )
    latitude: float = -6.2088
    longitude: float = 106.8456
    location_name: str | None = None
    address: str | None = None
    contacts: list[dict[str, Any]] | None = None
    message_id: str | None = Field(None, description="reuse an id (redelivery tests)")
    timestamp: int | None = Field(None, description="Unix seconds; default now")
    deliveries: int = Field(1, ge=1, le=10, description="POST the same webhook this many times")
    wait: bool = Field(True, description="answer after delivery (with its result)")


def _media(state: SandboxState, account: AccountConfig, m: CustomerMessage) -> Media:
    mime, filename, data = sample(m.type)
    if m.media_base64 is not None:
        try:
            data = base64.b64decode(m.media_base64, validate=True)
        except (binascii.Error, ValueError):
            raise PlayError("media_base64 is not valid base64") from None
    return store(state, account.external_id, data, m.mime_type or mime, m.filename or filename)


def _default_contacts() -> list[dict[str, Any]]:
    return [
        {
            "name": {
                "formatted_name": "Budi Santoso",
                "first_name": "Budi",
                "last_name": "Santoso",
            },
            "phones": [{"phone": "+62 812-3456-7890", "wa_id": "6281234567890", "type": "CELL"}],
        }
    ]


def last_sent(state: SandboxState, account: AccountConfig, to: str) -> str | None:
    for message in reversed(state.outbound.values()):
        if message.account == account.external_id and message.to == to:
            return message.id
    return None


def _wa_message(
    state: SandboxState, account: AccountConfig, m: CustomerMessage, mid: str
) -> tuple[dict[str, Any], Media | None]:
    msg: dict[str, Any] = {
        "from": m.sender,
        "id": mid,
        "timestamp": str(m.timestamp or int(time.time())),
    }
    reply_to = m.reply_to
    if reply_to is None and m.type == "button":
        # A template's quick-reply tap always quotes the template: default to the last
        # message this account sent the customer.
        reply_to = last_sent(state, account, m.sender)
    if reply_to:
        msg["context"] = {"from": account.phone_digits, "id": reply_to}
    media = None
    kind = m.type
    if kind == "text":
        part: dict[str, Any] = {"body": m.text or "Hello from the sandbox"}
    elif kind in MEDIA:
        media = _media(state, account, m)
        part = {"mime_type": media.mime_type, "sha256": media.sha256, "id": media.id}
        if m.caption and kind in ("image", "video", "document"):
            part["caption"] = m.caption
        if kind == "document":
            part["filename"] = media.filename
        if kind == "sticker":
            part["animated"] = False
        if kind == "audio":
            part["voice"] = media.mime_type == "audio/ogg"
    elif kind == "location":
        part = {"latitude": m.latitude, "longitude": m.longitude}
        part.update({k: v for k, v in (("name", m.location_name), ("address", m.address)) if v})
    elif kind == "contacts":
        msg.update(type="contacts", contacts=m.contacts or _default_contacts())
        return msg, None
    elif kind == "interactive":
        part = {"type": m.interactive_type}
        if m.interactive_type == "nfm_reply":
            response = {"flow_token": "sandbox-flow-token", **(m.flow_response or {})}
            part["nfm_reply"] = {
                "name": "flow",
                "body": "Sent",
                "response_json": json.dumps(response),
            }
        else:
            # `payload` is the natural name for what a button carries: it sets the id too.
            given = m.payload if m.payload and "reply_id" not in m.model_fields_set else None
            reply = {"id": given or m.reply_id, "title": m.reply_title}
            if m.interactive_type == "list_reply" and m.reply_description:
                reply["description"] = m.reply_description
            part[m.interactive_type] = reply
    elif kind == "button":
        part = {"payload": m.payload or m.text or "STOP", "text": m.text or "Stop promos"}
    elif kind == "reaction":
        if not m.target:
            raise PlayError("a reaction needs `target`: the id of the message reacted to")
        part = {"message_id": m.target}
        if m.emoji:
            part["emoji"] = m.emoji
    else:  # unsupported
        error = status_error(131051)
        msg.update(type="unsupported", errors=[{k: v for k, v in error.items() if k != "href"}])
        return msg, None
    msg.update({"type": kind, kind: part})
    return msg, media


def _page_event(
    state: SandboxState, account: AccountConfig, m: CustomerMessage, mid: str, base: str
) -> tuple[dict[str, Any], Media | None]:
    now = (m.timestamp * 1000) if m.timestamp else int(time.time() * 1000)
    event: dict[str, Any] = {
        "sender": {"id": m.sender},
        "recipient": {"id": account.external_id},
        "timestamp": now,
    }
    message: dict[str, Any] = {"mid": mid}
    if m.reply_to:
        message["reply_to"] = {"mid": m.reply_to}
    media = None
    kind = m.type
    if kind == "text":
        message["text"] = m.text or "Hello from the sandbox"
    elif kind in MEDIA:
        media = _media(state, account, m)
        payload: dict[str, Any] = {"url": cdn_url(base, state, media)}
        if kind == "sticker" and account.channel == "messenger":
            payload["sticker_id"] = 369239263222822
            message["sticker_id"] = 369239263222822
        message["attachments"] = [{"type": PAGE_ATTACHMENT.get(kind, "image"), "payload": payload}]
    elif kind == "location":
        coordinates = {"coordinates": {"lat": m.latitude, "long": m.longitude}}
        message["attachments"] = [{"type": "location", "payload": coordinates}]
    elif kind == "interactive":
        if m.interactive_type == "nfm_reply":
            raise PlayError("nfm_reply (WhatsApp Flows) does not exist on Messenger/Instagram")
        message["text"] = m.reply_title
        message["quick_reply"] = {"payload": m.payload or m.reply_id}
    elif kind == "button":
        title = m.text or "Get started"
        event["postback"] = {"title": title, "payload": m.payload or "GET_STARTED", "mid": mid}
        return event, None
    elif kind == "reaction":
        if not m.target:
            raise PlayError("a reaction needs `target`: the mid of the message reacted to")
        reaction: dict[str, Any] = {"mid": m.target, "action": "react" if m.emoji else "unreact"}
        if m.emoji:
            reaction.update(reaction=REACTIONS.get(m.emoji, "other"), emoji=m.emoji)
        event["reaction"] = reaction
        return event, None
    elif kind == "contacts":
        raise PlayError("contacts messages exist only on WhatsApp")
    elif account.channel == "instagram":  # unsupported
        message["is_unsupported"] = True
    else:
        fallback = {"url": f"{base}/cdn/profile/fallback.png", "title": "Shared content"}
        message["attachments"] = [{"type": "fallback", "payload": fallback}]
    event["message"] = message
    return event, media


def build(
    state: SandboxState, account: AccountConfig, m: CustomerMessage, base: str
) -> tuple[dict[str, Any], str, Media | None]:
    """The webhook payload, the message id and any stored media; remembers the customer."""
    if m.channel is not None and m.channel != account.channel:
        raise PlayError(f"account {account.external_id} is on {account.channel}, not {m.channel}")
    key = (account.external_id, m.sender)
    known = state.customers.get(key, customer_name(m.sender))
    name = m.name if m.name is not None else known
    if account.channel == "whatsapp":
        mid = m.message_id or ids.wamid(m.sender, inbound=True)
        msg, media = _wa_message(state, account, m, mid)
        value = {"contacts": [{"profile": {"name": name}, "wa_id": m.sender}], "messages": [msg]}
        payload = wa_envelope(account, value)
    else:
        mid = m.message_id or ids.mid(account.channel, account.external_id)
        event, media = _page_event(state, account, m, mid, base)
        payload = page_envelope(account, [event])
    state.customers[key] = name
    if m.username:
        state.usernames[key] = m.username
    state.last_inbound[key] = time.time()
    return payload, mid, media
