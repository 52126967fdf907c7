"""Files attached to an email reply (`attachment_ids`): checked against the conversation's
uploads and described in content.attachments with the shape of a received mail's
attachments (channels/email/inbound_media.py), so that the timeline shows both alike."""

from __future__ import annotations

from typing import Any

import asyncpg

from omnistream.db.pool import Conn
from omnistream.kit.enums import Channel
from omnistream.kit.errors import Unprocessable
from omnistream.messages import queries
from omnistream.messages.enums import MessageType
from omnistream.messages.schemas import ATTACHMENTS_MAX_BYTES, MessageCreate

FIELD = "attachment_ids"


def media_url(media_id: Any) -> str:
    return f"/api/v1/media/{media_id}"


async def attachments_content(
    conn: Conn, conversation: asyncpg.Record, body: MessageCreate, kind: MessageType
) -> list[dict[str, Any]]:
    """content.attachments of the reply (empty without attachment_ids); 422 naming
    attachment_ids when one is not a ready upload of this conversation, on another channel
    or message type, or when they are too large together."""
    ids = list(dict.fromkeys(body.attachment_ids or []))
    if not ids:
        return []
    if conversation["channel"] != Channel.EMAIL:
        raise Unprocessable.field(FIELD, "is only for email conversations")
    if kind is not MessageType.TEXT:
        raise Unprocessable.field(FIELD, "goes with a text message (type text)")
    rows = {
        r["id"]: r for r in await queries.media_many_in_conversation(conn, conversation["id"], ids)
    }
    described: list[dict[str, Any]] = []
    total = 0
    for media_id in ids:
        row = rows.get(media_id)
        if row is None:
            raise Unprocessable.field(FIELD, f"no upload with id {media_id} in this conversation")
        if row["status"] != "ready" or not row["storage_path"]:
            raise Unprocessable.field(FIELD, f"the file {media_id} is not ready ({row['status']})")
        size = int(row["size_bytes"] or 0)
        total += size
        described.append(
            {
                "filename": row["filename"] or "file",
                "content_type": row["mime_type"],
                "size": size,
                "media_id": str(media_id),
                "url": media_url(media_id),
                "inline": False,
            }
        )
    if total > ATTACHMENTS_MAX_BYTES:
        raise Unprocessable.field(
            FIELD,
            f"the files come to {total} bytes together, more than a mail may carry "
            f"({ATTACHMENTS_MAX_BYTES} bytes)",
        )
    return described
