"""Serves the agent web app: `/` is index.html, `/app/…` its CSS and ES modules.

Plain public routes rather than a static mount, so the RBAC check sees one declared
permission on every route. The files are small (JS + CSS under 300 KB): they are answered
from memory, re-read when a file changes on disk, with an ETag made from the content (the
same on every API process behind a load balancer). Browsers revalidate on every load and
get 304 when nothing changed, so a new release shows up at once without hashed names.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.kit.errors import NotFound

WEB_ROOT = Path(__file__).parent.resolve()
ASSETS = "/app"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The app loads nothing from elsewhere; images may come from blob: (authenticated media),
# data: (icons) and https: (contact profile pictures hosted by Meta).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data: https:; "
    "media-src 'self' blob:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["web"])
Public = Annotated[None, requires(Perm.PUBLIC)]


@dataclass(frozen=True)
class _File:
    stamp: tuple[int, int]  # (mtime_ns, size) it was read at
    body: bytes
    etag: str


_files: dict[Path, _File] = {}


def _load(path: Path) -> _File | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    stamp = (info.st_mtime_ns, info.st_size)
    cached = _files.get(path)
    if cached is None or cached.stamp != stamp:
        body = path.read_bytes()
        cached = _File(stamp, body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        _files[path] = cached
    return cached


def _serve(request: Request, path: Path, extra: dict[str, str] | None = None) -> Response:
    found = _load(path)
    if found is None:
        raise NotFound("no such file")
    headers = {**HEADERS, **(extra or {}), "ETag": found.etag}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=TYPES[path.suffix], headers=headers)


@router.get("/", include_in_schema=False)
async def index(request: Request, _: Public) -> Response:
    return _serve(request, WEB_ROOT / "index.html", {"Content-Security-Policy": CSP})


@router.get(ASSETS + "/{path:path}", include_in_schema=False)
async def asset(path: str, request: Request, _: Public) -> Response:
    # Only the app's own front-end files: never the Python beside them, nothing outside.
    target = (WEB_ROOT / path).resolve()
    if target.suffix not in TYPES or not target.is_relative_to(WEB_ROOT):
        raise NotFound("no such file")
    return _serve(request, target)
