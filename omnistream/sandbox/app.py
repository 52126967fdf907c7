"""create_sandbox(): the Meta Graph API simulator as one FastAPI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from omnistream.sandbox import control, graph, media, page_media
from omnistream.sandbox.access import note, state_of
from omnistream.sandbox.config import SandboxConfig
from omnistream.sandbox.errors import GraphError
from omnistream.sandbox.recording import Recorder
from omnistream.sandbox.state import SandboxState

log = logging.getLogger("omnistream.sandbox")


def _graph_error(request: Request, exc: GraphError) -> JSONResponse:
    record = request.scope.get("state", {}).get("record") or {}
    account = state_of(request).account(record.get("account") or "")
    if account is not None and account.channel != "whatsapp":
        exc.whatsapp = False
    note(request, error_code=exc.code)
    return JSONResponse(exc.body(), status_code=exc.http_status)


def create_sandbox(config: SandboxConfig | None = None) -> FastAPI:
    state = SandboxState(config or SandboxConfig())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await state.aclose()

    app = FastAPI(
        title="OmniStream Meta Graph API sandbox",
        description="A local stand-in for graph.facebook.com; control API under /_sandbox.",
        lifespan=lifespan,
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = state
    # Order matters: fixed paths before the catch-all /{version}/{node} routes.
    app.include_router(control.router)
    app.include_router(media.router)
    app.include_router(page_media.router)
    app.include_router(graph.router)
    app.add_middleware(Recorder, state=state)

    async def graph_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GraphError)
        return _graph_error(request, exc)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if request.url.path.startswith("/_sandbox"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        if exc.status_code == 405:
            error = GraphError(
                100,
                "",
                message=f"Unsupported request - method type: {request.method.lower()}",
                http_status=400,
            )
        else:
            error = GraphError(2500, "", message=f"Unknown path components: {request.url.path}")
        return _graph_error(request, error)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("sandbox bug", exc_info=exc)
        return _graph_error(request, GraphError(1, "", http_status=500))

    app.add_exception_handler(GraphError, graph_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    return app
