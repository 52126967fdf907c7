"""HTTP plumbing: request ids and access logs (pure ASGI), problem+json error handlers."""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
import uuid
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnistream.kit.errors import PROBLEM_JSON, AppError, problem
from omnistream.kit.field_messages import human_error
from omnistream.kit.logging import request_id

log = logging.getLogger("omnistream.http")
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class RequestContextMiddleware:
    """Gives every request an id (X-Request-ID in and out) and writes one access log line."""

    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode(
            "latin-1"
        )
        rid = incoming if SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            if scope["type"] == "http" and scope["path"].startswith("/api/"):
                try:
                    refused, receive = await _refuse_nul(scope, receive)
                except _BodyTooLarge:
                    await _send_problem(send_with_id, scope["path"], [], too_large=True)
                    return
                if refused is not None:
                    await _send_problem(send_with_id, scope["path"], refused)
                    return
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log and scope["type"] == "http":
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status or 500,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id.reset(token)


# NUL characters ------------------------------------------------------------------------
# PostgreSQL cannot store U+0000 in text. Refused here, before any route code, with the
# field named (so a multi-row write never starts): JSON bodies by the JSON path of each
# offending string, query parameters by name. Webhooks (/webhooks/, outside /api/) are not
# checked: Meta's payloads must be acknowledged. Uploads (multipart) are not buffered here.

_NUL_MESSAGE = "Must not contain NUL characters (\\u0000)"
# No API request body but an upload (multipart, capped by the upload limit) comes near this:
# a larger one is refused before it is held in memory whole.
API_BODY_MAX_BYTES = 2 * 1024 * 1024


class _BodyTooLarge(Exception):
    pass


def _nul_error(field: str, where: str) -> dict[str, Any]:
    return {"field": field, "in": where, "message": _NUL_MESSAGE, "type": "string_nul"}


def _nul_paths(value: Any, path: str) -> list[str]:
    """Dotted paths (as validation errors name fields: "identities.0.external_id") of the
    strings (values or keys) holding a NUL."""
    if isinstance(value, str):
        return [path or "body"] if "\x00" in value else []
    found: list[str] = []
    if isinstance(value, dict | list):
        items: Any = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            name = str(key).replace("\x00", "\\u0000")
            sub = f"{path}.{name}" if path else name
            if isinstance(key, str) and "\x00" in key:
                found.append(sub)
            found += _nul_paths(item, sub)
    return found


def _query_nul_errors(query: bytes) -> list[dict[str, Any]]:
    if b"%00" not in query and b"\x00" not in query:  # the hot path: one scan of the bytes
        return []
    pairs = urllib.parse.parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    names = [n for n, v in pairs if "\x00" in n or "\x00" in v]
    return [_nul_error(n.replace("\x00", "\\u0000"), "query") for n in dict.fromkeys(names)]


async def _refuse_nul(
    scope: Scope, receive: Receive
) -> tuple[list[dict[str, Any]] | None, Receive]:
    """The NUL errors of a request (None: none), and the receive the app must now use (the
    JSON body, when it had to be read, is replayed from memory)."""
    errors = _query_nul_errors(scope.get("query_string", b""))
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    media = content_type.split(b";", 1)[0].strip().lower()
    if scope["method"] in ("GET", "HEAD", "OPTIONS") or media.startswith(b"multipart/"):
        return errors or None, receive
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"0")
    if declared.isdigit() and int(declared) > API_BODY_MAX_BYTES:
        raise _BodyTooLarge
    messages: list[Message] = []
    body = bytearray()
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if len(body) > API_BODY_MAX_BYTES:  # chunked, or more than it declared
            raise _BodyTooLarge
        if not message.get("more_body", False):
            break
    is_json = media == b"application/json" or media.endswith(b"+json")
    if is_json and b"\\u0000" in body:  # JSON can only carry a NUL escaped (raw NULs are not JSON)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None  # malformed: the framework's 400 says so
        errors += [_nul_error(path, "body") for path in _nul_paths(parsed, "")]

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return errors or None, replay


async def _send_problem(
    send: Send, path: str, errors: list[dict[str, Any]], too_large: bool = False
) -> None:
    names = ", ".join(dict.fromkeys(e["field"] for e in errors))
    if too_large:
        limit = f"{API_BODY_MAX_BYTES // (1024 * 1024)} MiB"
        status = 413
        body = problem(
            413, "payload-too-large", "Payload too large", f"the body exceeds {limit}", path
        )
    else:
        status = 422
        body = problem(422, "validation", "Invalid input", f"invalid fields: {names}", path, errors)
    rid = request_id.get()
    if rid:
        body["request_id"] = rid
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _response(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    body.setdefault("instance", request.url.path)
    rid = request_id.get()
    if rid:
        body["request_id"] = rid
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> tuple[str, str]:
    where = str(loc[0]) if loc else "body"
    rest = (
        [str(p) for p in loc[1:]]
        if where in ("body", "query", "path", "header", "cookie")
        else [str(p) for p in loc]
    )
    return ".".join(rest) or where, where


def _methods_of(app: Any, path: str) -> list[str]:
    """Every method some route serves at this path (for a 405's Allow header)."""
    methods: set[str] = set()
    for route in app.router.routes:
        regex, served = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and served and regex.match(path):
            methods |= set(served)
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    async def app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        return _response(request, exc.status, exc.body(), exc.headers)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                return _response(
                    request,
                    400,
                    problem(
                        400,
                        "malformed-json",
                        "Malformed JSON",
                        "the request body is not valid JSON",
                    ),
                )
            field, where = _field(err.get("loc", ()))
            # A human phrase, and the stable type and limits a client words in its language.
            entry: dict[str, Any] = {"field": field, "in": where}
            entry.update(
                human_error(err.get("type", "invalid"), err.get("msg", ""), err.get("ctx"))
            )
            errors.append(entry)
        names = ", ".join(sorted({e["field"] for e in errors}))
        return _response(
            request,
            422,
            problem(422, "validation", "Invalid input", f"invalid fields: {names}", errors=errors),
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        detail = "no such route" if exc.status_code == 404 else str(exc.detail)
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            # Starlette names only the methods of the first route matching the path; the
            # path may be served by several (GET and POST /api/v1/divisions).
            allow = _methods_of(request.app, request.url.path)
            headers = {**(headers or {}), "Allow": ", ".join(allow)}
            detail = f"{request.method} is not allowed here; allowed: {', '.join(allow)}"
        return _response(
            request,
            exc.status_code,
            problem(exc.status_code, slug, str(exc.detail), detail),
            headers,
        )

    async def bad_text(request: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL refuses NUL characters in text; that is bad input. The middleware names
        # the field of any NUL in a JSON body or a query; this is the last resort.
        return _response(
            request,
            422,
            problem(
                422,
                "validation",
                "Invalid input",
                "a value contains a character that cannot be stored (such as NUL)",
            ),
        )

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return _response(
            request,
            500,
            problem(
                500,
                "internal",
                "Internal error",
                "an unexpected error occurred; it has been logged",
            ),
        )

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(asyncpg.CharacterNotInRepertoireError, bad_text)
    app.add_exception_handler(asyncpg.UntranslatableCharacterError, bad_text)
    app.add_exception_handler(Exception, unexpected)
