"""GET /metrics on the API port: the Prometheus text format behind a bearer token.

Public to the RBAC layer (no agent token: a scraper is no agent) but guarded by
OMNISTREAM_METRICS_TOKEN; without that setting the endpoint is off (404). Left out of the
OpenAPI document: it is no part of the API contract (docs/metrics.md describes it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.context import Ctx
from omnistream.kit.errors import PROBLEM_JSON, problem
from omnistream.metrics.scrape import authorized, scrape

router = APIRouter(tags=["ops"])
Public = Annotated[None, requires(Perm.PUBLIC)]


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, ctx: Ctx, _: Public) -> Response:
    settings = ctx.settings
    if settings.metrics_token is None:
        return JSONResponse(
            problem(404, "not-found", "Not found", "metrics are off on this port", "/metrics"),
            status_code=404,
            media_type=PROBLEM_JSON,
        )
    if not authorized(settings, request.headers.get("authorization")):
        return JSONResponse(
            problem(
                401,
                "unauthorized",
                "Authentication required",
                "Authorization: Bearer <OMNISTREAM_METRICS_TOKEN> is required",
                "/metrics",
            ),
            status_code=401,
            media_type=PROBLEM_JSON,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    # The backlogs from the primary: the System page and alerts want them exact, not lagging.
    return Response(await scrape(ctx.pool, settings), media_type=CONTENT_TYPE_LATEST)
