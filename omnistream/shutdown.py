"""Graceful shutdown of `omnistream serve` (docs/operations.md#graceful-shutdown).

On SIGTERM (or SIGINT) uvicorn stops listening, asks every connection to finish, waits
for the requests in flight and then runs the application's shutdown. Left alone it closes
each WebSocket with 1012; OmniStream's protocol says 1001 "going away" (docs/events.md), so
before uvicorn reaches the connections the hub tells every live socket to close itself with
1001 and waits for their close frames. The whole wait, sockets and requests, is bounded by
OMNISTREAM_SHUTDOWN_GRACE_SECONDS: after it uvicorn cancels what is still running.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from omnistream.first_start import AnnouncingServer

log = logging.getLogger(__name__)
SOCKETS_SHARE = 0.5  # at most this share of the grace goes to closing WebSockets


class GracefulServer(AnnouncingServer):
    def __init__(
        self, config: uvicorn.Config, on_listening: Callable[[], None], app: FastAPI, grace: float
    ) -> None:
        super().__init__(config, on_listening)
        self._app = app
        self._grace = grace

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        started = time.monotonic()
        for server in self.servers:  # stop accepting first (uvicorn closes them again: a no-op)
            server.close()
        ctx = getattr(self._app.state, "ctx", None)
        hub = ctx.hub if ctx is not None else None
        if hub is not None and hub.subscriptions:
            left = await hub.go_away(self._grace * SOCKETS_SHARE)
            log.info(
                "live sockets told to go away",
                extra={"still_open": left, "seconds": round(time.monotonic() - started, 2)},
            )
        # uvicorn's own wait for the requests in flight gets what is left of the grace.
        remaining = max(0.0, self._grace - (time.monotonic() - started))
        self.config.timeout_graceful_shutdown = math.ceil(remaining)
        await super().shutdown(sockets)
