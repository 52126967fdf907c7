"""Read-your-writes across API processes (docs/read-replica.md): after a successful write
under /api the response sets `omnistream_wrote=<unix ms>`; the caller's lag-tolerant reads
go to the replica only once it has replayed past that moment. The cookie proves nothing
about who the caller is (a forged one only sends its own reads to the primary), and lasts
as long as the lag bound: after that a replica within the bound has replayed past it."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

WROTE_COOKIE = "omnistream_wrote"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def wrote_at_of(cookie: str | None) -> datetime | None:
    """The time of the caller's last write from the cookie (unix milliseconds); a malformed
    value counts as "just now", so the caller reads the primary."""
    if not cookie:
        return None
    try:
        return datetime.fromtimestamp(int(cookie) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return datetime.now(UTC)


class WroteCookieMiddleware:
    """Sets the cookie on every successful (status < 400) non-GET response under /api/.
    The time is taken when the response starts, after the request's transaction committed."""

    def __init__(self, app: ASGIApp, max_age_seconds: float) -> None:
        self.app = app
        self.attributes = (
            f"Max-Age={math.ceil(max_age_seconds) + 1}; Path=/api; HttpOnly; SameSite=Strict"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                value = f"{WROTE_COOKIE}={int(time.time() * 1000)}; {self.attributes}"
                message["headers"] = [
                    *message.get("headers", []),
                    (b"set-cookie", value.encode("latin-1")),
                ]
            await send(message)

        await self.app(scope, receive, send_with_cookie)
