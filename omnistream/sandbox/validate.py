"""Send-body checks, with the readable code-100 messages Meta gives for malformed bodies."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from omnistream.sandbox.errors import invalid

WA_TYPES = (
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "reaction",
    "interactive",
    "template",
    "location",
    "contacts",
)
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
INTERACTIVE_TYPES = ("button", "list", "cta_url", "flow", "product", "product_list")
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
TAGS = ("HUMAN_AGENT", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE")
PAGE_ATTACHMENTS = ("image", "audio", "video", "file", "template")
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen", "react", "unreact")


def _obj(body: dict[str, Any], key: str, where: str | None = None) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise invalid(f"The parameter {where or key} is required and must be an object.")
    return value


def _text(
    body: dict[str, Any], key: str, where: str, limit: int, required: bool = True
) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(f"The parameter {where} is required.")
    if len(value) > limit:
        raise invalid(f"Param {where} must be at most {limit} characters long.")
    return value


def wa_id(to: object) -> str:
    """The digits of a recipient as WhatsApp normalizes them ("+1 650-555-1234")."""
    if not isinstance(to, str) or not to.strip():
        raise invalid("The parameter to is required.")
    if any(c not in "+0123456789 -()." for c in to):
        raise invalid(f"Invalid parameter to: {to!r} is not a phone number.")
    digits = "".join(c for c in to if c.isdigit())
    if not 5 <= len(digits) <= 15:
        raise invalid(f"Invalid parameter to: {to!r} is not a phone number.")
    return digits


def is_read_receipt(body: dict[str, Any]) -> bool:
    return body.get("status") == "read" and "to" not in body


def check_whatsapp(body: dict[str, Any]) -> str:
    """Validate a message send; returns its type."""
    if body.get("messaging_product") != "whatsapp":
        raise invalid("The parameter messaging_product is required and must be 'whatsapp'.")
    if body.get("recipient_type", "individual") not in ("individual", "group"):
        raise invalid("Param recipient_type must be one of {individual, group}.")
    wa_id(body.get("to"))
    kind = body.get("type", "text")
    if kind not in WA_TYPES:
        raise invalid(f"Param type must be one of {{{', '.join(WA_TYPES)}}}; got {kind!r}.")
    if "context" in body:
        context = _obj(body, "context")
        if not isinstance(context.get("message_id"), str) or not context["message_id"]:
            raise invalid("The parameter context['message_id'] is required.")
    opaque = body.get("biz_opaque_callback_data")
    if opaque is not None and (not isinstance(opaque, str) or len(opaque.encode()) > 512):
        raise invalid("Param biz_opaque_callback_data must be a string of at most 512 bytes.")
    if kind == "contacts":
        _contacts(body.get("contacts"))
        return "contacts"
    spec = _obj(body, kind)
    if kind == "text":
        _text(spec, "body", "text['body']", 4096)
        if not isinstance(spec.get("preview_url", False), bool):
            raise invalid("Param text['preview_url'] must be a boolean.")
    elif kind in MEDIA_TYPES:
        _media(kind, spec)
    elif kind == "reaction":
        if not isinstance(spec.get("message_id"), str) or not spec["message_id"]:
            raise invalid("The parameter reaction['message_id'] is required.")
        if not isinstance(spec.get("emoji", ""), str):
            raise invalid("Param reaction['emoji'] must be a string.")
    elif kind == "interactive":
        _interactive(spec)
    elif kind == "location":
        for key in ("latitude", "longitude"):
            if not isinstance(spec.get(key), int | float | str):
                raise invalid(f"The parameter location['{key}'] is required.")
    return str(kind)


def _media(kind: str, spec: dict[str, Any]) -> None:
    has_id, has_link = "id" in spec, "link" in spec
    if has_id == has_link:
        raise invalid(f"Param {kind} must have exactly one of 'id' or 'link'.")
    if has_link:
        link = spec["link"]
        if not isinstance(link, str) or urlsplit(link).scheme not in ("http", "https"):
            raise invalid(f"Param {kind}['link'] must be an http(s) URL.")
    elif not isinstance(spec["id"], str) or not spec["id"]:
        raise invalid(f"Param {kind}['id'] must be a non-empty string.")
    if "caption" in spec:
        if kind in ("audio", "sticker"):
            raise invalid(f"Param {kind}['caption'] is not supported for {kind}.")
        _text(spec, "caption", f"{kind}['caption']", 1024)


def _interactive(spec: dict[str, Any]) -> None:
    kind = spec.get("type")
    if kind not in INTERACTIVE_TYPES:
        raise invalid(
            f"Param interactive['type'] must be one of {{{', '.join(INTERACTIVE_TYPES)}}}."
        )
    body = _obj(spec, "body", "interactive['body']")
    _text(body, "text", "interactive['body']['text']", 1024)
    action = _obj(spec, "action", "interactive['action']")
    if kind == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise invalid("Param interactive['action']['buttons'] must have 1 to 3 buttons.")
        ids, titles = set(), set()
        for i, button in enumerate(buttons):
            where = f"interactive['action']['buttons'][{i}]['reply']"
            reply = button.get("reply") if isinstance(button, dict) else None
            if not isinstance(reply, dict) or button.get("type") != "reply":
                raise invalid(f"The parameter {where} is required (type 'reply').")
            ids.add(_text(reply, "id", f"{where}['id']", 256))
            titles.add(_text(reply, "title", f"{where}['title']", 20))
        if len(ids) != len(buttons) or len(titles) != len(buttons):
            raise invalid("Buttons must have unique ids and titles.")
    elif kind == "list":
        _text(action, "button", "interactive['action']['button']", 20)
        sections = action.get("sections")
        if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
            raise invalid("Param interactive['action']['sections'] must have 1 to 10 sections.")
        rows = 0
        for i, section in enumerate(sections):
            where = f"interactive['action']['sections'][{i}]"
            if not isinstance(section, dict) or not isinstance(section.get("rows"), list):
                raise invalid(f"The parameter {where}['rows'] is required.")
            if len(sections) > 1:
                _text(section, "title", f"{where}['title']", 24)
            for j, row in enumerate(section["rows"]):
                if not isinstance(row, dict):
                    raise invalid(f"Param {where}['rows'][{j}] must be an object.")
                _text(row, "id", f"{where}['rows'][{j}]['id']", 200)
                _text(row, "title", f"{where}['rows'][{j}]['title']", 24)
                _text(row, "description", f"{where}['rows'][{j}]['description']", 72, False)
                rows += 1
        if not 1 <= rows <= 10:
            raise invalid("A list message must have 1 to 10 rows in total.")


def _contacts(contacts: object) -> None:
    if not isinstance(contacts, list) or not contacts:
        raise invalid("The parameter contacts is required and must be a non-empty array.")
    for i, contact in enumerate(contacts):
        name = contact.get("name") if isinstance(contact, dict) else None
        if not isinstance(name, dict):
            raise invalid(f"The parameter contacts[{i}]['name'] is required.")
        _text(name, "formatted_name", f"contacts[{i}]['name']['formatted_name']", 1024)


def check_page(body: dict[str, Any]) -> tuple[str, str]:
    """Validate a Messenger/Instagram send; returns (recipient id, kind)."""
    recipient = body.get("recipient")
    user = recipient.get("id") if isinstance(recipient, dict) else None
    if not isinstance(user, str | int) or not str(user):
        raise invalid("param recipient must be non-empty.", whatsapp=False)
    user = str(user)
    if "sender_action" in body:
        action = body["sender_action"]
        if action not in SENDER_ACTIONS:
            raise invalid(
                f"param sender_action must be one of {', '.join(SENDER_ACTIONS)}.",
                whatsapp=False,
            )
        if action in ("react", "unreact"):
            _reaction(action, body.get("payload"))
        return user, "sender_action"
    kind = body.get("messaging_type", "RESPONSE")
    if kind not in MESSAGING_TYPES:
        raise invalid(
            f"param messaging_type must be one of {{{', '.join(MESSAGING_TYPES)}}}.", whatsapp=False
        )
    if kind == "MESSAGE_TAG" and body.get("tag") not in TAGS:
        raise invalid("param tag must be a valid message tag, e.g. HUMAN_AGENT.", whatsapp=False)
    message = body.get("message")
    if not isinstance(message, dict):
        raise invalid("param message must be non-empty.", whatsapp=False)
    text, attachment = message.get("text"), message.get("attachment")
    if (text is None) == (attachment is None):
        raise invalid("param message must have exactly one of text or attachment.", whatsapp=False)
    if text is not None:
        if not isinstance(text, str) or not text:
            raise invalid("param message[text] must be a non-empty string.", whatsapp=False)
        if len(text) > 2000:
            raise invalid(
                "param message[text] must be at most 2000 characters long.", whatsapp=False
            )
        return user, "text"
    if not isinstance(attachment, dict) or attachment.get("type") not in PAGE_ATTACHMENTS:
        raise invalid(
            "param message[attachment][type] must be image, audio, video, file or template.",
            whatsapp=False,
        )
    payload = attachment.get("payload")
    if not isinstance(payload, dict):
        raise invalid("param message[attachment][payload] is required.", whatsapp=False)
    if attachment["type"] != "template":
        _attachment_payload(payload)
    return user, str(attachment["type"])


def _attachment_payload(payload: dict[str, Any]) -> None:
    url, attachment_id = payload.get("url"), payload.get("attachment_id")
    if (url is None) == (attachment_id is None):
        raise invalid(
            "param message[attachment][payload] must have exactly one of url or attachment_id.",
            whatsapp=False,
        )
    if url is not None and (
        not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https")
    ):
        raise invalid(
            "param message[attachment][payload][url] must be an http(s) URL.", whatsapp=False
        )
    if attachment_id is not None and (not isinstance(attachment_id, str) or not attachment_id):
        raise invalid(
            "param message[attachment][payload][attachment_id] must be a non-empty string.",
            whatsapp=False,
        )


def _reaction(action: str, payload: object) -> None:
    """react: {message_id, reaction}; unreact: {message_id} alone (Messenger's sender
    actions; Instagram's react takes reaction "love" only, checked by the route)."""
    if not isinstance(payload, dict):
        raise invalid(f"param payload is required for sender_action {action}.", whatsapp=False)
    message_id = payload.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise invalid("param payload[message_id] must be a message id.", whatsapp=False)
    wanted = {"message_id", "reaction"} if action == "react" else {"message_id"}
    if set(payload) != wanted:
        raise invalid(
            f"param payload of sender_action {action} takes exactly {', '.join(sorted(wanted))}.",
            whatsapp=False,
        )
    if action == "react" and (not isinstance(payload["reaction"], str) or not payload["reaction"]):
        raise invalid("param payload[reaction] must be a non-empty string.", whatsapp=False)
