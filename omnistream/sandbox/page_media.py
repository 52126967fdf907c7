"""Messenger / Instagram attachments and reactions: the Attachment Upload API
(POST /{page_id}/message_attachments, multipart `message` + `filedata`), the checks a send
by `attachment_id` must pass, and the checks of the react / unreact sender actions."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from omnistream.sandbox.access import (
    authorize,
    check_version,
    guard,
    note,
    owner_hint,
    state_of,
    token_of,
)
from omnistream.sandbox.config import AccountConfig
from omnistream.sandbox.errors import GraphError, invalid, no_object
from omnistream.sandbox.media import store
from omnistream.sandbox.state import SandboxState

router = APIRouter()

# Attachment type -> the MIME prefix its file must have ("" : any) and its size limit.
PAGE_MEDIA: dict[str, tuple[str, int]] = {
    "image": ("image/", 8 << 20),
    "video": ("video/", 25 << 20),
    "audio": ("audio/", 25 << 20),
    "file": ("", 25 << 20),
}


def _refuse(details: str) -> GraphError:
    return invalid(details, whatsapp=False)


def _spec(raw: object) -> tuple[str, dict[str, Any]]:
    """(type, payload) of the `message` field: {"attachment": {"type", "payload"}}."""
    try:
        message = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        message = None
    attachment = message.get("attachment") if isinstance(message, dict) else None
    if not isinstance(attachment, dict):
        raise _refuse("param message must be a JSON object with an attachment.")
    kind = attachment.get("type")
    if kind not in PAGE_MEDIA:
        raise _refuse("param message[attachment][type] must be image, audio, video or file.")
    payload = attachment.get("payload", {})
    if not isinstance(payload, dict):
        raise _refuse("param message[attachment][payload] must be an object.")
    if "url" in payload:
        raise _refuse("the sandbox takes uploads from a file only (filedata), not from a url.")
    return str(kind), payload


@router.post("/{version}/{node}/message_attachments")
async def upload(version: str, node: str, request: Request) -> dict[str, str]:
    check_version(version)
    state = state_of(request)
    hint = owner_hint(state, node, token_of(request))
    note(request, account=hint.external_id if hint else None)
    await guard(request, hint)
    target = authorize(request, node)
    account = target.account
    if target.kind != "account" or account.channel == "whatsapp":
        raise no_object(node, "post")
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise _refuse("The request must be multipart/form-data with message and filedata.")
    form = await request.form()
    file = form.get("filedata")
    summary: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    if isinstance(summary.get("message"), str):
        # Recorded as the object it encodes, so tests compare structures.
        with contextlib.suppress(ValueError):
            summary["message"] = json.loads(summary["message"])
    if isinstance(file, UploadFile):
        summary["filedata"] = {"filename": file.filename, "content_type": file.content_type}
    note(request, body=summary)
    kind, _ = _spec(form.get("message"))
    platform = form.get("platform")
    if account.channel == "instagram" and platform != "instagram":
        raise _refuse("param platform must be 'instagram' for an Instagram account.")
    if account.channel == "messenger" and platform not in (None, "messenger"):
        raise _refuse("param platform must be 'messenger' or left out for a Page.")
    if not isinstance(file, UploadFile):
        raise _refuse("The parameter filedata is required.")
    mime = (file.content_type or "").split(";")[0].strip().lower()
    prefix, limit = PAGE_MEDIA[kind]
    if not mime or not mime.startswith(prefix):
        raise _refuse(f"A {mime or 'untyped'} file cannot be uploaded as {kind}.")
    data = await file.read()
    summary["filedata"]["size"] = len(data)
    limit = min(limit, state.settings.media_max_bytes)
    if not data:
        raise _refuse("The parameter filedata must not be empty.")
    if len(data) > limit:
        raise _refuse(f"{kind} attachments may be at most {limit} bytes; got {len(data)}.")
    media = store(state, account.external_id, data, mime, file.filename)
    note(request, attachment_id=media.id)
    return {"attachment_id": media.id}


def check_attachment(
    state: SandboxState, account: AccountConfig, kind: str, payload: dict[str, Any]
) -> None:
    """A send by attachment_id names an upload of this page whose file fits the type."""
    attachment_id = payload.get("attachment_id")
    if attachment_id is None:
        return
    media = state.media.get(attachment_id)
    if media is None or media.owner != account.external_id:
        raise GraphError(
            100,
            f"Attachment {attachment_id} does not exist or cannot be used by this account.",
            whatsapp=False,
        )
    if not media.mime_type.startswith(PAGE_MEDIA[kind][0]):
        raise _refuse(f"Attachment {attachment_id} is a {media.mime_type} file, not {kind}.")


def check_sender_action(account: AccountConfig, body: dict[str, Any]) -> None:
    """Instagram reacts with "love" only (validate.check_page checked the shape)."""
    if body["sender_action"] != "react" or account.channel != "instagram":
        return
    if body["payload"]["reaction"] != "love":
        raise _refuse("param payload[reaction] must be 'love' on Instagram.")
