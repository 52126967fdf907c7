"""The separate metrics listener (OMNISTREAM_METRICS_PORT): GET /metrics on its own port,
loopback by default, in `serve` and in `worker` (which has no HTTP server of its own).

aiohttp's server, run inside the process's event loop: it installs no signal handlers (a
second uvicorn would take over the process's SIGTERM). No token unless
OMNISTREAM_METRICS_TOKEN is set, in which case it asks for it as the API port does."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from omnistream.config import Settings
from omnistream.db.pool import Pool
from omnistream.kit.errors import PROBLEM_JSON, problem
from omnistream.metrics.registry import forget_dead_processes, process_exiting
from omnistream.metrics.scrape import authorized, scrape

log = logging.getLogger(__name__)


class MetricsListener:
    def __init__(self, settings: Settings, pool: Pool | None) -> None:
        self.settings = settings
        self.pool = pool
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        port = self.settings.metrics_port
        if port is None:
            return
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.settings.metrics_host, port).start()
        log.info(
            "metrics listener started", extra={"host": self.settings.metrics_host, "port": port}
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.settings.metrics_token is not None and not authorized(
            self.settings, request.headers.get("Authorization")
        ):
            return web.json_response(
                problem(
                    401,
                    "unauthorized",
                    "Authentication required",
                    "Authorization: Bearer <OMNISTREAM_METRICS_TOKEN> is required",
                    "/metrics",
                ),
                status=401,
                content_type=PROBLEM_JSON,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        body = await scrape(self.pool, self.settings)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@contextlib.asynccontextmanager
async def process_metrics(settings: Settings, pool: Pool) -> AsyncIterator[None]:
    """A worker process's metrics around its loops (an API process's: middleware.py): stale
    live gauges dropped at start, the OMNISTREAM_METRICS_PORT listener while it runs, its own
    live gauges out of the multiprocess total at the end."""
    if settings.metrics_multiproc_dir is not None:
        forget_dead_processes(settings.metrics_multiproc_dir)
    listener = MetricsListener(settings, pool)
    await listener.start()
    try:
        yield
    finally:
        await listener.stop()
        process_exiting(settings.metrics_multiproc_dir)
