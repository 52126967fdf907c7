"""Email attachments and inline images stored as media (issue 16), for inbound.py.

The files are written under settings.media_dir/email before the batch's transaction (outside
it: no disk I/O while rows are locked) and get their media rows in it, next to their message;
the files of a mail that turns out to be stored already, or of a batch that fails, are
removed again. `cid:` images in the (sanitised) HTML then point at their media URLs.
"""

from __future__ import annotations

import hashlib
import mimetypes
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from omnistream.channels.email import inbound_queries as q
from omnistream.channels.email.parse import ParsedMail
from omnistream.channels.email.sanitize import sanitize_html
from omnistream.db.pool import Conn
from omnistream.messages.media import safe_filename

FOLDER = "email"  # under settings.media_dir
NOT_STORED = "attachment data is not stored (no media directory)"


@dataclass(frozen=True)
class WrittenFile:
    index: int  # of the attachment in ParsedMail.attachments
    storage_path: str  # relative to the media directory
    sha256: str
    size: int


def media_url(media_id: UUID) -> str:
    return f"/api/v1/media/{media_id}"


def write_files(media_dir: Path, mails: list[ParsedMail]) -> list[list[WrittenFile]]:
    """Writes each mail's attachments that kept their data (blocking: run in a thread)."""
    written: list[list[WrittenFile]] = []
    try:
        for mail in mails:
            files = []
            for index, attachment in enumerate(mail.attachments):
                if attachment.data is None:
                    continue
                token = secrets.token_hex(16)
                relative = f"{FOLDER}/{token[:2]}/{token}"
                path = media_dir / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(attachment.data)
                digest = hashlib.sha256(attachment.data).hexdigest()
                files.append(WrittenFile(index, relative, digest, len(attachment.data)))
            written.append(files)
    except BaseException:
        remove_files(media_dir, [f for files in written for f in files])
        raise
    return written


def remove_files(media_dir: Path, files: list[WrittenFile]) -> None:
    for file in files:
        (media_dir / file.storage_path).unlink(missing_ok=True)


def _filename(name: str | None, content_type: str, index: int) -> str:
    if name:
        return safe_filename(name)
    extension = mimetypes.guess_extension(content_type) or ""
    return f"{content_type.split('/', 1)[0]}-{index + 1}{extension}"


def attachments_content(
    mail: ParsedMail, media_ids: dict[int, UUID], stored: bool
) -> list[dict[str, Any]]:
    """content.attachments: each part's description, and its media id and URL when stored."""
    described = []
    for index, a in enumerate(mail.attachments):
        entry: dict[str, Any] = {
            "filename": a.filename,
            "content_type": a.content_type,
            "content_id": a.content_id,
            "inline": a.inline,
            "size": a.size,
            "skipped_reason": a.skipped_reason or (None if stored else NOT_STORED),
        }
        if index in media_ids:
            entry["media_id"] = str(media_ids[index])
            entry["url"] = media_url(media_ids[index])
        described.append(entry)
    return described


async def insert_media(
    conn: Conn, conversation_id: UUID, mail: ParsedMail, files: list[WrittenFile]
) -> dict[int, UUID]:
    """The media rows of a mail's written files; attachment index -> media id."""
    ids: dict[int, UUID] = {}
    for file in files:
        attachment = mail.attachments[file.index]
        ids[file.index] = await q.insert_media(
            conn,
            conversation_id=conversation_id,
            filename=_filename(attachment.filename, attachment.content_type, file.index),
            mime_type=attachment.content_type,
            size_bytes=file.size,
            sha256=file.sha256,
            storage_path=file.storage_path,
        )
    return ids


def html_with_media(mail: ParsedMail, media_ids: dict[int, UUID]) -> str | None:
    """The sanitised HTML with its `cid:` images pointing at their media (those not stored
    lose their source, as sanitising does for unknown ones)."""
    if mail.html is None:
        return None
    by_cid = {
        a.content_id: media_url(media_ids[i])
        for i, a in enumerate(mail.attachments)
        if a.content_id and i in media_ids
    }
    if not any(a.content_id for a in mail.attachments):
        return mail.html
    return sanitize_html(mail.html, cid_url=by_cid.get)
