"""The accepted Meta webhook, answered without the framework: pure ASGI, outermost.

A signed `POST /webhooks/meta` within the size limit is read, verified, stored (the same
group-committed insert) and answered 200 here, with its X-Request-ID and access log line as
every response has. Everything else, and any webhook this path does not accept at once
(no or wrong signature, too large, a storage error), goes on to the application with the
body replayed, and the route in routes.py answers it exactly as before (problem+json, the
refusal's count and, within the sample, its audit row: rejections.py). At a few thousand
webhooks a second the framework's layers (request object, routing, dependency scopes,
response object, four middlewares) were a quarter of the API's CPU per call.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnistream.inbound.ack import ack_writer_of
from omnistream.inbound.routes import META, RECEIVED, kept_headers
from omnistream.inbound.signature import HEADER, app_secrets_of, digest_of
from omnistream.kit.http import SAFE_REQUEST_ID
from omnistream.kit.logging import request_id

log = logging.getLogger("omnistream.http")
_HEADER = HEADER.encode()


class WebhookFastPath:
    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != META or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        application = scope["app"]
        ctx = application.state.ctx
        limit: int = ctx.settings.webhook_max_bytes
        chunks: list[Message] = []
        body = await _read(receive, chunks, limit)
        raw = scope["headers"]
        signature = next((v for k, v in raw if k == _HEADER), b"").decode("latin-1")
        digest = digest_of(signature) if body is not None else None
        accepted = False
        if body is not None and digest is not None:
            try:
                secrets = app_secrets_of(application)
                signers = await secrets.verify(ctx.pool, ctx.box, body, digest)
                if signers is not None:
                    writer = ack_writer_of(application, ctx.pool)
                    await writer.write(kept_headers(raw), body, signers.literal)
                    accepted = True
            except Exception:  # the route answers (and logs) it the usual way
                log.debug("webhook fast path declined", exc_info=True)
        if not accepted:
            await self.app(scope, _replay(chunks, receive), send)
            return
        rid = _request_id(raw)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(RECEIVED)).encode()),
                    (b"x-request-id", rid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": RECEIVED})
        if self.access_log:
            token = request_id.set(rid)
            try:
                log.info(
                    "request",
                    extra={
                        "method": "POST",
                        "path": META,
                        "status": 200,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            finally:
                request_id.reset(token)


async def _read(receive: Receive, chunks: list[Message], limit: int) -> bytes | None:
    """The whole body, or None once it passes `limit` (what was read stays in `chunks`)."""
    size = 0
    while True:
        message = await receive()
        chunks.append(message)
        if message["type"] != "http.request":
            return None  # the client went away: let the app see it
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            break
    parts = [m.get("body", b"") for m in chunks]
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _replay(chunks: list[Message], receive: Receive) -> Receive:
    """A receive that gives the messages already read, then the rest of the stream."""
    pending = list(chunks)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _request_id(raw: Any) -> str:
    incoming = next((v for k, v in raw if k == b"x-request-id"), b"").decode("latin-1")
    return incoming if SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
