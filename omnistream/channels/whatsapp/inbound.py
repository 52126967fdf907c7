"""WhatsApp Cloud API webhooks -> inbound items (shared/docs/meta-channels.md section 1).

Pure translation: no SQL, no I/O. One body may carry several entries, changes, messages and
statuses; each becomes an item routed on `metadata.phone_number_id` (template status updates,
field `message_template_status_update`: on the WABA, `entry[].id`). Unknown fields are
ignored; unknown message types are kept as 'unsupported' with their error; what is skipped
(other webhook fields, unknown statuses, system errors) is reported in Parsed.notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from omnistream.inbound.model import (
    InboundMessage,
    MediaRef,
    Parsed,
    PayloadError,
    StatusUpdate,
    TemplateStatusUpdate,
)
from omnistream.inbound.reading import (
    compact,
    epoch,
    field_obj,
    ident,
    items,
    obj,
    opt_obj,
    opt_text,
)

OBJECT = "whatsapp_business_account"
TEMPLATE_FIELD = "message_template_status_update"
CHANNEL = "whatsapp"
STATUSES = frozenset({"sent", "delivered", "read", "failed"})
# Media message types and the MIME type assumed when the payload names none.
MEDIA = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/ogg",
    "document": "application/octet-stream",
    "sticker": "image/webp",
}
IGNORED_TYPES = frozenset({"request_welcome"})  # carries no content to show


def parse(payload: Mapping[str, Any]) -> Parsed:
    out = Parsed(CHANNEL)
    for where, raw_entry in items(payload, "entry", "payload"):
        entry = obj(raw_entry, where)
        for cwhere, raw_change in items(entry, "changes", where):
            change = obj(raw_change, cwhere)
            name = change.get("field")
            if name == TEMPLATE_FIELD:
                waba_id = ident(entry, "id", where)  # templates belong to the WABA
                value = field_obj(change, "value", cwhere)
                found = _template_status(value, cwhere, waba_id, entry, where)
                if isinstance(found, str):
                    out.notes.append(found)
                else:
                    out.items.append(found)
                continue
            if name != "messages":
                out.notes.append(f"{cwhere}: field {name!r} ignored")
                continue
            _value(field_obj(change, "value", cwhere), f"{cwhere}.value", out)
    return out


def _value(value: Mapping[str, Any], where: str, out: Parsed) -> None:
    metadata = field_obj(value, "metadata", where)
    accounts = (ident(metadata, "phone_number_id", f"{where}.metadata"),)
    names: dict[str, str] = {}
    for cwhere, raw in items(value, "contacts", where):
        contact = obj(raw, cwhere)
        wa_id = opt_text(contact, "wa_id")
        if wa_id:
            names[wa_id] = opt_text(opt_obj(contact, "profile", cwhere), "name") or ""
    for mwhere, raw in items(value, "messages", where):
        message = _message(obj(raw, mwhere), mwhere, accounts, names)
        if isinstance(message, str):
            out.notes.append(message)
        else:
            out.items.append(message)
    for swhere, raw in items(value, "statuses", where):
        status = _status(obj(raw, swhere), swhere, accounts)
        if isinstance(status, str):
            out.notes.append(status)
        else:
            out.items.append(status)
    for ewhere, raw in items(value, "errors", where):
        error = obj(raw, ewhere)
        out.notes.append(f"{ewhere}: WhatsApp reported error {_error_text(error)}")


def _error_parts(error: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(code, "title: details") of a WhatsApp error object."""
    title = opt_text(error, "title") or opt_text(error, "message")
    details = opt_text(error, "details") or opt_text(
        opt_obj(error, "error_data", "error"), "details"
    )
    return opt_text(error, "code"), ": ".join(t for t in (title, details) if t) or None


def _error_text(error: Mapping[str, Any]) -> str:
    code, text = _error_parts(error)
    return f"{code}: {text or 'unknown error'}" if code else text or "unknown error"


def _message(
    m: Mapping[str, Any], where: str, accounts: tuple[str, ...], names: dict[str, str]
) -> InboundMessage | str:
    sender = ident(m, "from", where)
    message_id = ident(m, "id", where)
    occurred_at = epoch(m, "timestamp", where, millis=False)
    original = opt_text(m, "type") or "unknown"
    if original in IGNORED_TYPES:
        return f"{where}: message type {original!r} ignored"
    kind, content, media = _content(original, m, where)
    context = opt_obj(m, "context", where)
    reply_to = opt_text(context, "id")
    if context.get("forwarded") or context.get("frequently_forwarded"):
        content["forwarded"] = True
    if isinstance(m.get("referral"), Mapping):
        content["referral"] = dict(m["referral"])
    if kind == "reaction":
        reply_to = content["target_message_id"]
    # contacts[] names the sender by wa_id; a lone contact is the sender even when the ids
    # are written differently (some countries' numbers).
    profile = names.get(sender) or (next(iter(names.values())) if len(names) == 1 else "")
    return InboundMessage(
        channel=CHANNEL,
        accounts=accounts,
        contact=sender,
        profile_name=profile,
        channel_message_id=message_id,
        type=kind,
        content=content,
        occurred_at=occurred_at,
        reply_to=reply_to,
        media=media,
    )


def _content(
    kind: str, m: Mapping[str, Any], where: str
) -> tuple[str, dict[str, Any], MediaRef | None]:
    """(messages.type, content, media) of one message."""
    if kind == "text":
        body = opt_text(field_obj(m, "text", where), "body")
        if body is None:
            raise PayloadError(f"{where}.text.body is missing")
        return "text", {"text": body}, None
    if kind in MEDIA:
        sub = field_obj(m, kind, where)
        media_id = ident(sub, "id", f"{where}.{kind}")
        mime = (opt_text(sub, "mime_type") or MEDIA[kind]).split(";", 1)[0].strip().lower()
        filename = opt_text(sub, "filename") or ""
        content = compact(
            {
                "caption": opt_text(sub, "caption"),
                "filename": filename or None,
                "mime_type": mime,
                "animated": bool(sub["animated"]) if "animated" in sub else None,
                "voice": bool(sub["voice"]) if "voice" in sub else None,
            }
        )
        media = MediaRef(
            mime_type=mime,
            channel_media_id=media_id,
            url=opt_text(sub, "url"),
            sha256=opt_text(sub, "sha256"),
            filename=filename,
        )
        return kind, content, media
    if kind == "location":
        sub = field_obj(m, "location", where)
        keys = ("latitude", "longitude", "name", "address", "url")
        return "location", compact({k: sub.get(k) for k in keys}), None
    if kind == "contacts":
        cards = [obj(c, w) for w, c in items(m, "contacts", where)]
        return "contacts", {"contacts": [dict(c) for c in cards]}, None
    if kind == "interactive":
        return "interactive", _interactive(field_obj(m, "interactive", where), where), None
    if kind == "button":
        sub = field_obj(m, "button", where)
        return (
            "button",
            compact({"text": opt_text(sub, "text"), "payload": opt_text(sub, "payload")}),
            None,
        )
    if kind == "reaction":
        sub = field_obj(m, "reaction", where)
        target = ident(sub, "message_id", f"{where}.reaction")
        # An empty or missing emoji removes the contact's reaction.
        return (
            "reaction",
            {"emoji": opt_text(sub, "emoji") or "", "target_message_id": target},
            None,
        )
    if kind == "system":
        sub = opt_obj(m, "system", where)
        content = compact(
            {
                "text": opt_text(sub, "body"),
                "system_type": opt_text(sub, "type"),
                "new_wa_id": opt_text(sub, "new_wa_id") or opt_text(sub, "wa_id"),
            }
        )
        return "system", content, None
    return "unsupported", _unsupported(kind, m, where), None


def _interactive(sub: Mapping[str, Any], where: str) -> dict[str, Any]:
    itype = opt_text(sub, "type") or "unknown"
    reply = opt_obj(sub, itype, f"{where}.interactive")
    if itype in ("button_reply", "list_reply"):
        return compact(
            {
                "type": itype,
                "id": opt_text(reply, "id"),
                "title": opt_text(reply, "title"),
                "description": opt_text(reply, "description"),
            }
        )
    if itype == "nfm_reply":  # a WhatsApp Flow's answer: response_json is JSON in a string
        raw = opt_text(reply, "response_json")
        response: Any = raw
        if raw is not None:
            try:
                response = orjson.loads(raw)
            except orjson.JSONDecodeError:
                response = raw
        token = response.get("flow_token") if isinstance(response, dict) else None
        return compact(
            {
                "type": itype,
                "name": opt_text(reply, "name"),
                "body": opt_text(reply, "body"),
                "response": response,
                "flow_token": token,
            }
        )
    return {"type": itype, itype: dict(reply)}


def _unsupported(kind: str, m: Mapping[str, Any], where: str) -> dict[str, Any]:
    errors = [dict(obj(e, w)) for w, e in items(m, "errors", where)]
    content: dict[str, Any] = {"original_type": kind}
    if errors:
        content["errors"] = errors
        content["error"] = _error_text(errors[0])
    if isinstance(m.get(kind), Mapping):
        content[kind] = dict(m[kind])
    return content


def _status(s: Mapping[str, Any], where: str, accounts: tuple[str, ...]) -> StatusUpdate | str:
    message_id = ident(s, "id", where)
    status = opt_text(s, "status")
    occurred_at = epoch(s, "timestamp", where, millis=False)
    if status not in STATUSES:
        return f"{where}: status {status!r} of {message_id} ignored"
    code = reason = None
    if status == "failed":
        errors = [obj(e, w) for w, e in items(s, "errors", where)]
        if errors:
            code, reason = _error_parts(errors[0])
    return StatusUpdate(
        channel=CHANNEL,
        accounts=accounts,
        channel_message_id=message_id,
        status=status,
        occurred_at=occurred_at,
        error_code=code,
        error_reason=reason,
        callback_data=opt_text(s, "biz_opaque_callback_data"),
    )


def _template_status(
    value: Mapping[str, Any],
    where: str,
    waba_id: str,
    entry: Mapping[str, Any],
    entry_where: str,
) -> TemplateStatusUpdate | str:
    """A template's status change; Meta's reason and notes (other_info, rejection_info,
    disable_info) are joined into one readable reason."""
    event = opt_text(value, "event")
    template_id = opt_text(value, "message_template_id")
    name = opt_text(value, "message_template_name")
    if not event:
        return f"{where}: template update without an event ignored"
    if not template_id and not name:
        return f"{where}: template {event} names no template: ignored"
    parts = [opt_text(value, "reason")]
    for key, fields in (
        ("other_info", ("title", "description")),
        ("rejection_info", ("reason", "recommendation")),
    ):
        info = opt_obj(value, key, f"{where}.value")
        parts.extend(opt_text(info, f) for f in fields)
    disabled = opt_text(opt_obj(value, "disable_info", f"{where}.value"), "disable_date")
    if disabled:
        parts.append(f"disabled at {disabled}")
    reason = "; ".join(dict.fromkeys(p for p in parts if p and p.upper() != "NONE")) or None
    occurred_at = epoch(entry, "time", entry_where, millis=False) if "time" in entry else None
    return TemplateStatusUpdate(
        channel=CHANNEL,
        waba_id=waba_id,
        event=event.upper(),
        template_id=template_id,
        name=name,
        language=opt_text(value, "message_template_language"),
        reason=reason,
        occurred_at=occurred_at,
    )
