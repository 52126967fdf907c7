"""Counts and times every HTTP request by its route TEMPLATE, and the open WebSockets.

Pure ASGI and outermost, so the webhook fast path (inbound/fast.py) is measured too. The
route is the template the router matched (`/api/v1/conversations/{conversation_id}`),
never the raw path: the label set stays the size of the API. Per request: two clock reads
and one dict lookup of the (method, route, status) children, made once per combination.

It also follows the ASGI lifespan: once the application has started (its pool is open) it
drops the live gauges of processes killed earlier and starts the OMNISTREAM_METRICS_PORT
listener; at shutdown it stops the listener and takes this process's live gauges out of
the multiprocess total.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnistream.config import Settings
from omnistream.metrics.listener import MetricsListener
from omnistream.metrics.registry import (
    HTTP_DURATION,
    HTTP_REQUESTS,
    WEBSOCKETS,
    forget_dead_processes,
    process_exiting,
)

UNMATCHED = "(unmatched)"  # no route: a 404 for a path the API does not have
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_FAST_PATH = {"/webhooks/meta"}  # answered before routing (inbound/fast.py): its own template


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._socket(scope, receive, send)
            return
        if kind != "http":
            if kind == "lifespan":
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            key = (method, _template(scope), status or 500)
            children = self._children.get(key)
            if children is None:
                children = (HTTP_REQUESTS.labels(*key), HTTP_DURATION.labels(*key))
                self._children[key] = children
            children[0].inc()
            children[1].observe(elapsed)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        accepted = False

        async def sending(message: Message) -> None:
            nonlocal accepted
            await send(message)
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                WEBSOCKETS.inc()

        try:
            await self.app(scope, receive, sending)
        finally:
            if accepted:
                WEBSOCKETS.dec()

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        multiproc = self.settings.metrics_multiproc_dir
        listener: MetricsListener | None = None

        async def sending(message: Message) -> None:
            nonlocal listener
            if message["type"] == "lifespan.startup.complete":
                if multiproc is not None:
                    forget_dead_processes(multiproc)
                ctx = getattr(scope["app"].state, "ctx", None)
                listener = MetricsListener(self.settings, getattr(ctx, "pool", None))
                await listener.start()
            elif message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                process_exiting(multiproc)
            await send(message)

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and listener is not None:
                await listener.stop()  # before the pool closes under its scrapes
            return message

        await self.app(scope, receiving, sending)


def _template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope["path"] in _FAST_PATH:
        return str(scope["path"])
    return UNMATCHED
