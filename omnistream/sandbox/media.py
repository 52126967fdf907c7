"""WhatsApp media: upload, lookup, signed download URLs, delete; and a tiny public CDN for
the attachment URLs of Messenger/Instagram customer messages."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from omnistream.sandbox import ids
from omnistream.sandbox.access import (
    authorize,
    base_url,
    check_version,
    guard,
    note,
    owner_hint,
    state_of,
    token_of,
)
from omnistream.sandbox.errors import GraphError, bad_token, invalid, no_object
from omnistream.sandbox.samples import avatar
from omnistream.sandbox.state import Media, SandboxState

router = APIRouter()

# Meta's accepted types and their size limits.
LIMITS: dict[str, int] = {
    **dict.fromkeys(("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"), 16 << 20),
    **dict.fromkeys(("image/jpeg", "image/png"), 5 << 20),
    "image/webp": 500 << 10,
    **dict.fromkeys(("video/mp4", "video/3gpp"), 16 << 20),
    **dict.fromkeys(
        (
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        100 << 20,
    ),
}


def store(
    state: SandboxState, owner: str, data: bytes, mime_type: str, filename: str | None
) -> Media:
    media = Media(
        id=ids.numeric_id(16),
        owner=owner,
        data=data,
        mime_type=mime_type,
        sha256=hashlib.sha256(data).hexdigest(),
        filename=filename,
    )
    state.media[media.id] = media
    return media


def _sign(state: SandboxState, *parts: str) -> str:
    return hmac.new(state.url_key, ":".join(parts).encode(), hashlib.sha256).hexdigest()[:32]


def download_url(request: Request, media: Media) -> str:
    state = state_of(request)
    expires = str(int(time.time()) + state.settings.media_url_ttl_s)
    signed = _sign(state, media.id, expires)
    return (
        f"{base_url(request)}/whatsapp_business/attachments/"
        f"?mid={media.id}&ext={expires}&hash={signed}"
    )


def cdn_url(base: str, state: SandboxState, media: Media) -> str:
    expires = format(int(time.time()) + 7 * 86400, "x")
    return f"{base}/cdn/{media.id}?oe={expires}&oh={_sign(state, media.id, expires)}"


def media_info(request: Request, media: Media) -> dict[str, Any]:
    return {
        "url": download_url(request, media),
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "file_size": str(len(media.data)),
        "id": media.id,
        "messaging_product": "whatsapp",
    }


@router.post("/{version}/{node}/media")
async def upload(version: str, node: str, request: Request) -> dict[str, str]:
    check_version(version)
    state = state_of(request)
    hint = owner_hint(state, node, token_of(request))
    note(request, account=hint.external_id if hint else None)
    await guard(request, hint)
    target = authorize(request, node)
    if target.kind != "account" or target.account.channel != "whatsapp":
        raise no_object(node, "post")
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise invalid("The request must be multipart/form-data with file, type, messaging_product.")
    form = await request.form()
    file = form.get("file")
    summary: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    if isinstance(file, UploadFile):
        summary["file"] = {"filename": file.filename, "content_type": file.content_type}
    note(request, body=summary)
    if form.get("messaging_product") != "whatsapp":
        raise invalid("The parameter messaging_product is required and must be 'whatsapp'.")
    if not isinstance(file, UploadFile):
        raise invalid("The parameter file is required.")
    kind = form.get("type") or file.content_type or ""
    mime = str(kind).split(";")[0].strip().lower()
    if mime not in LIMITS:
        raise GraphError(
            131053,
            f"Param file must be a file with one of the following types: "
            f"{', '.join(sorted(LIMITS))}. Received file of type '{mime}'.",
        )
    data = await file.read()
    summary["file"]["size"] = len(data)
    limit = min(LIMITS[mime], state.settings.media_max_bytes)
    if not data:
        raise invalid("The parameter file must not be empty.")
    if len(data) > limit:
        raise GraphError(131053, f"{mime} files may be at most {limit} bytes; got {len(data)}.")
    media = store(state, target.account.external_id, data, mime, file.filename)
    note(request, media_id=media.id)
    return {"id": media.id}


def _fresh(state: SandboxState, media_id: str, expires: str, signed: str, hexa: bool) -> Media:
    media = state.media.get(media_id)
    try:
        deadline = int(expires, 16 if hexa else 10)
    except ValueError:
        deadline = 0
    good = hmac.compare_digest(_sign(state, media_id, expires), signed)
    if media is None or not good or deadline < time.time():
        raise GraphError(100, "URL signature expired or the media was deleted.", http_status=404)
    return media


@router.get("/whatsapp_business/attachments/")
@router.get("/whatsapp_business/attachments")
async def download(request: Request) -> Response:
    """The `url` of GET /{media-id}: needs the owning account's bearer token, like Meta's."""
    state = state_of(request)
    q = request.query_params
    media = _fresh(state, q.get("mid", ""), q.get("ext", ""), q.get("hash", ""), hexa=False)
    note(request, account=media.owner)
    owner = state.account(media.owner)
    if owner is None or token_of(request) != owner.access_token:
        raise bad_token()
    return Response(media.data, media_type=media.mime_type)


@router.get("/cdn/{media_id}")
async def cdn(media_id: str, request: Request) -> Response:
    state = state_of(request)
    q = request.query_params
    media = _fresh(state, media_id, q.get("oe", ""), q.get("oh", ""), hexa=True)
    headers = {}
    if media.filename:
        headers["Content-Disposition"] = f'inline; filename="{media.filename}"'
    return Response(media.data, media_type=media.mime_type, headers=headers)


@router.get("/cdn/profile/{name}")
async def profile_picture(name: str) -> Response:
    return Response(avatar(name.removesuffix(".png")), media_type="image/png")
