"""Recording every Graph request (the last `record_limit`), and counting each in the
running per-second counts (counters.py), which keep every second."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnistream.sandbox.state import SandboxState

HEADERS = (
    "authorization",
    "content-type",
    "content-length",
    "user-agent",
    "x-request-id",
    "idempotency-key",
)
MAX_BODY = 64 * 1024


def _body(content_type: str, raw: bytes) -> Any:
    if not raw:
        return None
    if len(raw) > MAX_BODY:
        return {"_truncated": True, "size": len(raw)}
    if "json" in content_type:
        try:
            return json.loads(raw)
        except ValueError:
            return {"_invalid_json": raw.decode("utf-8", "replace")}
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(raw.decode("utf-8", "replace")))
    return {"_size": len(raw)}  # multipart: the media route notes a summary


class Recorder:
    """Pure ASGI: records each request outside /_sandbox (method, path, query, headers,
    body) with its answer's status; routes add fields (account, message_id, error_code)."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        started = time.time()
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        record = self.state.add_request(
            {
                "at": started,
                "method": scope["method"],
                "path": scope["path"],
                "query": dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
                "headers": {k: headers[k] for k in HEADERS if k in headers},
                "body": _body(headers.get("content-type", ""), raw),
                "account": None,
                "status": None,
            }
        )
        scope.setdefault("state", {})["record"] = record
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
                record["duration_ms"] = round((time.time() - started) * 1000, 2)
                if record["account"]:  # set by the route once it knows the account
                    self.state.counters.request(
                        record["account"],
                        started,
                        send=scope["method"] == "POST" and scope["path"].endswith("/messages"),
                        throttled=message["status"] == 429,
                    )
            await send(message)

        await self.app(scope, replay, capture)


def select(
    records: Iterable[dict[str, Any]],
    since: int = 0,
    path: str | None = None,
    method: str | None = None,
    account: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    out = []
    for r in records:
        if r["index"] < since:
            continue
        if path and path not in r["path"]:
            continue
        if method and r["method"] != method.upper():
            continue
        if account and r.get("account") != account:
            continue
        out.append(r)
        if len(out) >= limit:
            break
    return out
