"""Meta's webhook endpoint (WhatsApp, Messenger, Instagram): public, authenticated by the
X-Hub-Signature-256 of the raw body.

POST is the hot path: read the body under a cap, check the signature, insert the raw call
into webhook_audit with the integrations whose app secret signed it (signed_by), answer
200. No JSON parsing, no validation model: the inbound loop
parses and applies the payload later (omnistream/inbound/worker.py). A refused call is
counted per source address and minute, and only a sample keeps its body (rejections.py).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.routing import APIRoute

from omnistream.auth.guard import requires, route_permissions
from omnistream.auth.permissions import Perm
from omnistream.context import AppContext
from omnistream.inbound.ack import ack_writer_of
from omnistream.inbound.rejections import REJECTED_BODY_BYTES, record_rejection
from omnistream.inbound.signature import HEADER, META_CHANNELS, app_secrets_of, digest_of
from omnistream.integrations.accounts import verify_tokens
from omnistream.kit.errors import Forbidden, PayloadTooLarge, Unauthorized

router = APIRouter(tags=["webhooks"])
META = "/webhooks/meta"
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "user-agent",
    HEADER,
    "x-forwarded-for",
    "x-request-id",
)
_KEPT = frozenset(name.encode() for name in KEPT_HEADERS)
_ERRORS = {
    401: {"description": "No X-Hub-Signature-256 header, or it matches no active app secret"},
    413: {"description": "The body is larger than OMNISTREAM_WEBHOOK_MAX_BYTES"},
}
RECEIVED = b"EVENT_RECEIVED"


class _TooLarge(Exception):
    def __init__(self, head: bytes) -> None:
        self.head = head


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body is larger than the webhook limit of {limit} bytes", extra={"max_bytes": limit}
    )


def kept_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The kept headers (ASGI names are lower-case), straight from the scope."""
    return {
        name.decode("latin-1"): value[:500].decode("latin-1")
        for name, value in raw
        if name in _KEPT
    }


async def _body(request: Request, limit: int) -> bytes:
    """The raw body, read as it arrives; stops reading past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(b"".join(chunks)[:REJECTED_BODY_BYTES])
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


MAX_HUB_PARAM = 1000  # characters of hub.verify_token / hub.challenge


@router.get(
    META,
    response_class=PlainTextResponse,
    summary="Meta webhook verification: echoes hub.challenge when hub.verify_token matches",
    responses={
        403: {
            "description": "A hub.* parameter missing or too long, not a subscribe request, "
            "or an unknown verify token"
        }
    },
)
async def verify_subscription(
    request: Request,
    _: Annotated[None, requires(Perm.PUBLIC)],
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    # Meta's contract is the bare challenge on a match and 403 otherwise: missing or
    # over-long parameters are a 403 too, never a validation 422.
    if not challenge or len(challenge) > MAX_HUB_PARAM:
        raise Forbidden.field("hub.challenge", f"is required, at most {MAX_HUB_PARAM} characters")
    ctx: AppContext = request.app.state.ctx
    if mode == "subscribe" and token and len(token) <= MAX_HUB_PARAM:
        async with ctx.pool.acquire() as conn:
            tokens = await verify_tokens(conn, ctx.box, META_CHANNELS)
        found = False
        for known in tokens:
            found |= hmac.compare_digest(token.encode(), known.encode())
        if found:
            return PlainTextResponse(challenge)
    if mode != "subscribe":
        raise Forbidden.field("hub.mode", "must be 'subscribe'")
    raise Forbidden.field(
        "hub.verify_token",
        "must be the verify token of an active WhatsApp, Messenger or Instagram integration",
    )


class DirectRoute(APIRoute):
    """An APIRoute whose handler calls the endpoint with the bare Request.

    FastAPI's per-request dependency solving costs about 80 µs, a quarter of the webhook's
    CPU. The endpoint's one dependency is the PUBLIC permission, which checks nothing
    (auth.guard.Authorizer returns at once for it), so skipping it changes no behaviour;
    the RBAC test and docs still read the declared permission from the route.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if route_permissions(self) != [Perm.PUBLIC] or len(self.dependant.dependencies) != 1:
            raise RuntimeError(f"{self.path}: a direct route may only declare Perm.PUBLIC")
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            response: Response = await endpoint(request, None)
            return response

        return handler


async def receive(request: Request, _: Annotated[None, requires(Perm.PUBLIC)]) -> Response:
    ctx: AppContext = request.app.state.ctx
    limit = ctx.settings.webhook_max_bytes
    headers = kept_headers(request.scope["headers"])
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        await record_rejection(
            ctx, request.scope, headers, b"", f"body of {declared} bytes refused (limit {limit})"
        )
        raise _too_large(limit)
    try:
        body = await _body(request, limit)
    except _TooLarge as exc:
        await record_rejection(
            ctx, request.scope, headers, exc.head, f"body over the limit of {limit} bytes refused"
        )
        raise _too_large(limit) from None
    header = headers.get(HEADER)
    if not header:
        await record_rejection(ctx, request.scope, headers, body, "no X-Hub-Signature-256 header")
        raise Unauthorized(
            "the X-Hub-Signature-256 header is required",
            headers={"WWW-Authenticate": 'HMAC-SHA256 header="X-Hub-Signature-256"'},
        )
    digest = digest_of(header)
    signers = None
    if digest is not None:
        signers = await app_secrets_of(request.app).verify(ctx.pool, ctx.box, body, digest)
    if signers is None:
        await record_rejection(
            ctx, request.scope, headers, body, "signature does not match any active app secret"
        )
        raise Unauthorized(
            "X-Hub-Signature-256 does not match the body signed with the app secret of an "
            "active WhatsApp, Messenger or Instagram integration",
            headers={"WWW-Authenticate": 'HMAC-SHA256 header="X-Hub-Signature-256"'},
        )
    await ack_writer_of(request.app, ctx.pool).write(headers, body, signers.literal)
    return Response(RECEIVED, media_type="text/plain")


router.add_api_route(
    META,
    receive,
    methods=["POST"],
    route_class_override=DirectRoute,
    response_class=PlainTextResponse,
    summary="Meta webhook (WhatsApp, Messenger, Instagram): verified, stored, acknowledged",
    responses=_ERRORS,  # type: ignore[arg-type]
)
