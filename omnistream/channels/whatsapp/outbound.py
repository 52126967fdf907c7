"""WhatsApp Cloud API sends (shared/docs/meta-channels.md section 2).

`message_body` builds the exact JSON of POST {graph}/{phone_number_id}/messages from a
stored message (a template's object: `template_spec`); `WhatsAppAdapter` uploads a stored
file first (POST /{phone_number_id}/media, multipart) when the message carries one, sends,
and returns the wamid. Read receipts go through `mark_read`.

Idempotency: every send carries our message id in `biz_opaque_callback_data`, which Meta
echoes in the status webhooks. Meta does not deduplicate on it, so a resend after a crash
(see messages/worker.py) can reach the customer twice, but each copy is recognisable as the
same message of ours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote
from uuid import UUID

from omnistream.channels.graph import (
    AccountLookup,
    GraphClient,
    account_for,
    call_graph,
    require_account,
)
from omnistream.channels.registry import (
    MediaFile,
    OutboundMessage,
    PermanentSendError,
    SendResult,
    read_media_file,
)
from omnistream.integrations.accounts import AccountConfig

WINDOW = timedelta(hours=24)  # free-form messages only this long after the customer's last
MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
CAPTIONED = frozenset({"image", "video", "document"})  # audio and stickers take no caption


def recipient(value: str) -> str:
    """The WhatsApp id to send to: the digits of the stored phone number."""
    return "".join(c for c in value if c.isdigit())


def _media(message: OutboundMessage, media_id: str | None) -> dict[str, Any]:
    content = message.content
    spec: dict[str, Any]
    if content.get("link"):
        spec = {"link": content["link"]}
    elif media_id is not None:
        spec = {"id": media_id}
    else:
        raise PermanentSendError("media_unavailable", "the message has no file or link to send")
    if message.type in CAPTIONED and content.get("caption"):
        spec["caption"] = content["caption"]
    if message.type == "document":
        filename = content.get("filename") or (message.media.filename if message.media else None)
        if filename:
            spec["filename"] = filename
    return spec


def _interactive(content: Any) -> dict[str, Any]:
    kind = content.get("type")
    spec: dict[str, Any] = {"type": kind}
    if content.get("header"):
        spec["header"] = {"type": "text", "text": content["header"]}
    spec["body"] = {"text": content["body"]}
    if content.get("footer"):
        spec["footer"] = {"text": content["footer"]}
    if kind == "button":
        buttons = [
            {"type": "reply", "reply": {"id": b["id"], "title": b["title"]}}
            for b in content["buttons"]
        ]
        spec["action"] = {"buttons": buttons}
    elif kind == "list":
        sections = []
        for section in content["sections"]:
            out: dict[str, Any] = {}
            if section.get("title"):
                out["title"] = section["title"]
            out["rows"] = [
                {k: row[k] for k in ("id", "title", "description") if row.get(k)}
                for row in section["rows"]
            ]
            sections.append(out)
        spec["action"] = {"button": content["button"], "sections": sections}
    else:
        raise PermanentSendError("unsupported_type", f"interactive type {kind!r} is not supported")
    return spec


def _template_parameter(header: Mapping[str, Any]) -> dict[str, Any]:
    kind = header["type"]
    if kind == "text":
        return _text_parameter(header)
    if kind == "location":
        keys = ("latitude", "longitude", "name", "address")
        return {"type": "location", "location": {k: header[k] for k in keys if k in header}}
    media = {"link": header["link"]}
    if header.get("filename"):
        media["filename"] = header["filename"]
    return {"type": kind, kind: media}


def _text_parameter(value: Mapping[str, Any]) -> dict[str, Any]:
    out = {"type": "text", "text": value["text"]}
    if value.get("parameter_name"):  # named-variable templates
        out["parameter_name"] = value["parameter_name"]
    return out


# What each button sub_type carries (the stored `parameter` is the agent's value).
_BUTTON_PARAMETERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "url": lambda v: {"type": "text", "text": v},
    "quick_reply": lambda v: {"type": "payload", "payload": v},
    "copy_code": lambda v: {"type": "coupon_code", "coupon_code": v},
    "flow": lambda v: {"type": "action", "action": {"flow_token": v}},
}


def template_spec(content: Mapping[str, Any]) -> dict[str, Any]:
    """Meta's `template` object from a stored template message (templates/sending.py wrote
    it after checking the parameters against the template): name, language with the
    deterministic policy, and a component per header / body / button that takes values."""
    components: list[dict[str, Any]] = []
    if content.get("header"):
        parameter = _template_parameter(content["header"])
        components.append({"type": "header", "parameters": [parameter]})
    if content.get("body"):
        parameters = [_text_parameter(p) for p in content["body"]]
        components.append({"type": "body", "parameters": parameters})
    for button in content.get("buttons") or []:
        kind = button["sub_type"]
        components.append(
            {
                "type": "button",
                "sub_type": kind,
                "index": str(button["index"]),
                "parameters": [_BUTTON_PARAMETERS[kind](button["parameter"])],
            }
        )
    spec: dict[str, Any] = {
        "name": content["name"],
        "language": {"code": content["language"], "policy": "deterministic"},
    }
    if components:
        spec["components"] = components
    return spec


def message_body(message: OutboundMessage, media_id: str | None = None) -> dict[str, Any]:
    """The send body; `media_id` is the id of the file uploaded for this send, if any."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient(message.recipient),
    }
    kind = message.type
    quoted = message.reply_to_channel_message_id
    if quoted and kind != "reaction":
        body["context"] = {"message_id": quoted}
    body["biz_opaque_callback_data"] = message.callback_data or str(message.message_id)
    body["type"] = kind
    content = message.content
    if kind == "text":
        body["text"] = {"body": content["text"], "preview_url": False}
    elif kind in MEDIA_TYPES:
        body[kind] = _media(message, media_id)
    elif kind == "interactive":
        body["interactive"] = _interactive(content)
    elif kind == "template":
        body["template"] = template_spec(content)
    elif kind == "reaction":
        target = quoted or content.get("target_message_id")
        if not target:
            raise PermanentSendError(
                "no_target", "the message reacted to has no WhatsApp id (it was never sent)"
            )
        body["reaction"] = {"message_id": target, "emoji": content.get("emoji") or ""}
    else:
        raise PermanentSendError("unsupported_type", f"cannot send a {kind} message on WhatsApp")
    return body


def read_body(channel_message_id: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "status": "read", "message_id": channel_message_id}


class WhatsAppAdapter:
    """Sends through the Cloud API of the conversation's phone number (its AccountConfig)."""

    def __init__(self, accounts: AccountLookup, http: GraphClient) -> None:
        self._accounts = accounts
        self._http = http

    async def send(self, message: OutboundMessage) -> SendResult:
        account = await account_for(self._accounts, message)
        media_id = None
        if message.type in MEDIA_TYPES and not message.content.get("link"):
            if message.media is None:
                raise PermanentSendError("media_unavailable", "the attached file is not available")
            media_id = await self.upload(account, message.media)
        answer = await call_graph(
            self._http, account, _node(account, "messages"), json=message_body(message, media_id)
        )
        sent = answer.get("messages")
        first = sent[0] if isinstance(sent, list) and sent and isinstance(sent[0], dict) else {}
        wamid = first.get("id")
        if not isinstance(wamid, str) or not wamid:
            raise PermanentSendError("bad_response", "Meta accepted the send without a message id")
        contacts = answer.get("contacts")
        contact = contacts[0] if isinstance(contacts, list) and contacts else {}
        details = {"message_status": first.get("message_status")}
        if isinstance(contact, dict) and contact.get("wa_id"):
            details["wa_id"] = contact["wa_id"]
        if media_id is not None:
            details["media_id"] = media_id
        return SendResult(channel_message_id=wamid, details=details)

    async def upload(self, account: AccountConfig, media: MediaFile) -> str:
        """POST /{phone_number_id}/media (multipart file, type, messaging_product)."""
        data = await read_media_file(media)
        answer = await call_graph(
            self._http,
            account,
            _node(account, "media"),
            data={"messaging_product": "whatsapp", "type": media.mime_type},
            files={"file": (media.filename or "file", data, media.mime_type)},
        )
        media_id = answer.get("id")
        if not isinstance(media_id, str | int) or not str(media_id):
            raise PermanentSendError("bad_response", "Meta accepted the upload without an id")
        return str(media_id)

    async def mark_read(self, account_id: UUID, channel_message_id: str) -> None:
        """Tell WhatsApp the customer's message (and all before it) was read."""
        account = await require_account(self._accounts, account_id, "whatsapp")
        await call_graph(
            self._http, account, _node(account, "messages"), json=read_body(channel_message_id)
        )


def _node(account: AccountConfig, edge: str) -> str:
    return f"{quote(account.external_id, safe='')}/{edge}"
