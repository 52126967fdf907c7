"""How messages read: the inbox preview line and the API / event shape of a message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from omnistream.messages import queries
from omnistream.messages.enums import MessageType

PREVIEW_MAX = 200
# Icon and word for media without a caption ("📷 Photo"); with one: "📷 <caption>".
_MEDIA_LABELS = {
    MessageType.IMAGE: ("📷", "Photo"),
    MessageType.VIDEO: ("🎥", "Video"),
    MessageType.AUDIO: ("🎵", "Audio"),
    MessageType.STICKER: ("💟", "Sticker"),
}


def preview(kind: str, content: Mapping[str, Any]) -> str:
    """The one-line summary shown in the inbox list: text, or a label for other types."""
    text = " ".join(_summary(kind, content).split())
    return text if len(text) <= PREVIEW_MAX else text[: PREVIEW_MAX - 1] + "…"


def _summary(kind: str, content: Mapping[str, Any]) -> str:
    def get(*keys: str) -> str:
        return next((str(content[k]) for k in keys if content.get(k)), "")

    if kind in (MessageType.TEXT, MessageType.BUTTON):
        return get("text", "body") or _files(content)
    if kind in _MEDIA_LABELS:
        icon, word = _MEDIA_LABELS[MessageType(kind)]
        return f"{icon} {get('caption') or word}"
    if kind == MessageType.DOCUMENT:
        return "📄 " + (get("caption", "filename") or "Document")
    if kind == MessageType.LOCATION:
        return "📍 " + (get("name", "address") or "Location")
    if kind == MessageType.CONTACTS:
        return "👤 Contact"
    if kind == MessageType.INTERACTIVE:
        return get("title", "text", "body") or "Interactive message"
    if kind == MessageType.TEMPLATE:
        return get("text", "name") or "Template"
    if kind == MessageType.REACTION:
        emoji = get("emoji")
        return f"Reacted {emoji}" if emoji else "Removed a reaction"
    if kind == MessageType.SYSTEM:
        return get("text", "body") or "System message"
    return "Unsupported message"


def message_payload(row: asyncpg.Record) -> dict[str, Any]:
    """A message as the API returns it and events carry it (the fields of MessageOut)."""
    out = {k: row[k] for k in queries.COLUMN_NAMES}
    media_id = row["media_id"]
    out["media"] = (
        None
        if media_id is None or row["media_mime_type"] is None
        else {
            "id": media_id,
            "mime_type": row["media_mime_type"],
            "filename": row["media_filename"],
            "size_bytes": row["media_size_bytes"],
            "status": row["media_status"],
            "url": f"/api/v1/media/{media_id}",
        }
    )
    return out


def _files(content: Mapping[str, Any]) -> str:
    """An email sent with files and no text: its files' names."""
    found = content.get("attachments")
    items = found if isinstance(found, list) else []
    names = [str(a.get("filename") or "") for a in items if isinstance(a, Mapping)]
    return "📎 " + ", ".join(n for n in names if n) if any(names) else ""
