"""Messenger ("page") and Instagram ("instagram") webhooks -> inbound items
(shared/docs/meta-channels.md section 4).

Pure translation: no SQL, no I/O. Each entry's `messaging[]` (and `standby[]`, the events
received while another app holds the thread) yields messages, echoes of the business's own
sends, delivery / read watermarks and reactions. Timestamps are milliseconds. Items are
routed on `entry[].id`, then the business side of the event (recipient, or sender of an echo).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from omnistream.inbound.model import Echo, InboundMessage, MediaRef, Parsed, PayloadError, Watermark
from omnistream.inbound.reading import (
    MAX_ID,
    compact,
    epoch,
    field_obj,
    ident,
    items,
    obj,
    opt_obj,
    opt_text,
)

OBJECTS = {"page": "messenger", "instagram": "instagram"}  # webhook object -> channel
# Attachment types stored as media: (messages.type, MIME type until the download says).
MEDIA = {
    "image": ("image", "image/jpeg"),
    "video": ("video", "video/mp4"),
    "audio": ("audio", "audio/mpeg"),
    "file": ("document", "application/octet-stream"),
    "reel": ("video", "video/mp4"),
    "ig_reel": ("video", "video/mp4"),
    "story_mention": ("image", "image/jpeg"),
}


def parse(payload: Mapping[str, Any], channel: str) -> Parsed:
    out = Parsed(channel)
    for where, raw_entry in items(payload, "entry", "payload"):
        entry = obj(raw_entry, where)
        entry_id = opt_text(entry, "id")
        if entry.get("changes"):
            out.notes.append(f"{where}.changes ignored (not messaging)")
        events = items(entry, "messaging", where) + items(entry, "standby", where)
        for ewhere, raw in events:
            _event(obj(raw, ewhere), ewhere, entry_id, channel, out)
    return out


def _accounts(entry_id: str | None, business: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in (entry_id, business) if i))


def _event(
    ev: Mapping[str, Any], where: str, entry_id: str | None, channel: str, out: Parsed
) -> None:
    sender = ident(field_obj(ev, "sender", where), "id", f"{where}.sender")
    recipient = ident(field_obj(ev, "recipient", where), "id", f"{where}.recipient")
    at = epoch(ev, "timestamp", where, millis=True)
    if "message" in ev:
        message = field_obj(ev, "message", where)
        echo = bool(message.get("is_echo"))
        business, contact = (sender, recipient) if echo else (recipient, sender)
        if message.get("is_deleted"):
            out.notes.append(f"{where}: the contact unsent message {message.get('mid')!r}")
            return
        found = _messages(
            message, f"{where}.message", channel, _accounts(entry_id, business), contact, at
        )
        if echo:
            app_id, metadata = opt_text(message, "app_id"), opt_text(message, "metadata")
            out.items.extend(Echo(m, app_id=app_id, metadata=metadata) for m in found)
        else:
            out.items.extend(found)
    elif "delivery" in ev or "read" in ev:
        status = "delivered" if "delivery" in ev else "read"
        key = "delivery" if status == "delivered" else "read"
        receipt = field_obj(ev, key, where)
        watermark = (
            epoch(receipt, "watermark", f"{where}.{key}", millis=True)
            if receipt.get("watermark") is not None
            else None
        )
        mids = tuple(str(m) for m in receipt.get("mids") or [] if isinstance(m, str) and m)
        if opt_text(receipt, "mid"):  # Instagram reads name the last message read
            mids += (str(receipt["mid"]),)
        if watermark is None and not mids:
            raise PayloadError(f"{where}.{key} has neither a watermark nor a mid")
        out.items.append(
            Watermark(channel, _accounts(entry_id, recipient), sender, status, at, watermark, mids)
        )
    elif "reaction" in ev:
        out.items.append(_reaction(ev, where, channel, _accounts(entry_id, recipient), sender, at))
    elif "postback" in ev:  # a tap on a button of a template or the persistent menu
        postback = field_obj(ev, "postback", where)
        mid = opt_text(postback, "mid") or f"postback:{sender}:{ev['timestamp']}"
        content = compact(
            {"text": opt_text(postback, "title") or "", "payload": opt_text(postback, "payload")}
        )
        out.items.append(
            InboundMessage(
                channel,
                _accounts(entry_id, recipient),
                sender,
                "",
                mid[:MAX_ID],
                "button",
                content,
                at,
            )
        )
    else:
        known = sorted(k for k in ev if k not in ("sender", "recipient", "timestamp"))
        out.notes.append(f"{where}: event {', '.join(known) or 'without content'} ignored")


def _reaction(
    ev: Mapping[str, Any],
    where: str,
    channel: str,
    accounts: tuple[str, ...],
    sender: str,
    at: Any,
) -> InboundMessage:
    reaction = field_obj(ev, "reaction", where)
    target = ident(reaction, "mid", f"{where}.reaction")
    action = opt_text(reaction, "action") or "react"
    emoji = (opt_text(reaction, "emoji") or "") if action == "react" else ""
    # A reaction event has no id of its own: this one is stable across redeliveries.
    event_id = f"reaction:{target}:{sender}:{action}:{ev['timestamp']}"[:MAX_ID]
    content = compact(
        {
            "emoji": emoji,
            "target_message_id": target,
            "reaction": opt_text(reaction, "reaction"),
            "action": action,
        }
    )
    return InboundMessage(
        channel, accounts, sender, "", event_id, "reaction", content, at, reply_to=target
    )


def _messages(
    message: Mapping[str, Any],
    where: str,
    channel: str,
    accounts: tuple[str, ...],
    contact: str,
    at: Any,
) -> list[InboundMessage]:
    """One message per attachment (the first keeps the mid); text alone is one message."""
    mid = ident(message, "mid", where)
    text = opt_text(message, "text")
    reply = opt_obj(message, "reply_to", where)
    reply_to = opt_text(reply, "mid")
    quick = opt_obj(message, "quick_reply", where)
    extra: dict[str, Any] = {}
    if isinstance(reply.get("story"), Mapping):  # Instagram: a reply to the business's story
        extra["reply_to_story"] = dict(reply["story"])
    attachments = [obj(a, w) for w, a in items(message, "attachments", where)]

    def item(n: int, kind: str, content: dict[str, Any], media: MediaRef | None) -> InboundMessage:
        return InboundMessage(
            channel=channel,
            accounts=accounts,
            contact=contact,
            profile_name="",
            channel_message_id=mid if n == 0 else f"{mid}#{n}"[:MAX_ID],
            type=kind,
            content={**content, **extra} if n == 0 else content,
            occurred_at=at,
            reply_to=reply_to if n == 0 else None,
            media=media,
        )

    if not attachments:
        if opt_text(quick, "payload") is not None:
            return [item(0, "button", {"text": text or "", "payload": str(quick["payload"])}, None)]
        if text is not None:
            return [item(0, "text", {"text": text}, None)]
        return [item(0, "unsupported", {"original_type": "unsupported"}, None)]
    found = []
    for n, attachment in enumerate(attachments):
        kind, content, media = _attachment(attachment, f"{where}.attachments[{n}]")
        if n == 0 and text:
            content["caption" if media is not None else "text"] = text
        found.append(item(n, kind, content, media))
    return found


def _attachment(
    attachment: Mapping[str, Any], where: str
) -> tuple[str, dict[str, Any], MediaRef | None]:
    atype = opt_text(attachment, "type") or "unknown"
    payload = opt_obj(attachment, "payload", where)
    url = opt_text(payload, "url")
    title = opt_text(payload, "title") or opt_text(attachment, "title")
    if atype in MEDIA and url:
        kind, mime = MEDIA[atype]
        if atype == "image" and payload.get("sticker_id") is not None:
            kind = "sticker"
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) if kind == "document" else ""
        content = compact({"title": title, "attachment_type": atype if atype != kind else None})
        return kind, content, MediaRef(mime_type=mime, url=url, filename=filename)
    if atype == "location":
        coordinates = opt_obj(payload, "coordinates", where)
        content = compact(
            {
                "latitude": coordinates.get("lat"),
                "longitude": coordinates.get("long"),
                "name": title,
                "url": url,
            }
        )
        return "location", content, None
    if atype in ("fallback", "share") and (title or url):
        return "text", compact({"text": title or url, "url": url}), None
    if atype == "template":
        return (
            "template",
            {"name": opt_text(payload, "template_type") or "template", "payload": dict(payload)},
            None,
        )
    return "unsupported", {"original_type": atype, "attachment": dict(attachment)}, None
