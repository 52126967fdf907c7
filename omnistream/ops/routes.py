"""Health and readiness probes; the OpenAPI document and offline interactive docs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from omnistream import __version__
from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.context import Ctx
from omnistream.db.migrate import at_head
from omnistream.kit.errors import PROBLEM_JSON, problem

log = logging.getLogger("omnistream.ops")
router = APIRouter(tags=["ops"])
Public = Annotated[None, requires(Perm.PUBLIC)]
DOCS_ASSETS = "/api/v1/docs/assets"
# Swagger UI 5 (it reads OpenAPI 3.1, which FastAPI writes), as the fastapi-offline wheel
# ships it: served from here, so the docs need no CDN.
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


@router.get("/healthz", summary="The process is up")
async def healthz(_: Public) -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz", summary="The database is reachable and migrated to head")
async def readyz(ctx: Ctx, _: Public) -> Any:
    try:
        async with ctx.pool.acquire(timeout=2) as conn:
            ready = await at_head(conn)
    except Exception as exc:  # any failure to reach the database means not ready
        # The reason goes to the log only: this probe is public, the error names hosts.
        log.warning("not ready: database unreachable: %s", exc)
        return JSONResponse(
            problem(503, "not-ready", "Not ready", "database unreachable"),
            status_code=503,
            media_type=PROBLEM_JSON,
        )
    if not ready:
        return JSONResponse(
            problem(503, "not-ready", "Not ready", "migrations are not at head"),
            status_code=503,
            media_type=PROBLEM_JSON,
        )
    return {"status": "ready"}


@router.get("/api/v1/openapi.json", include_in_schema=False)
async def openapi(request: Request, _: Public) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/api/v1/docs", include_in_schema=False)
async def docs(_: Public) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/api/v1/openapi.json",
        title="OmniStream API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        # No badge from validator.swagger.io: the docs never call out to the internet.
        swagger_ui_parameters={"validatorUrl": None},
    )
