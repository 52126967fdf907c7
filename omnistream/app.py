"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.staticfiles import StaticFiles

from omnistream import __version__
from omnistream.activity.routes import router as activity_router
from omnistream.agents.routes import router as agents_router
from omnistream.assignment.routes import router as assignment_router
from omnistream.auth.guard import auth_statuses, route_permissions
from omnistream.auth.passwords import Passwords
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import PrincipalCache
from omnistream.auth.routes import router as auth_router
from omnistream.auth.tokens import AccessTokenReader
from omnistream.bulk.routes import router as bulk_router
from omnistream.campaigns.opt_outs import router as opt_outs_router
from omnistream.campaigns.routes import router as campaigns_router
from omnistream.config import Settings
from omnistream.contacts.attribute_routes import router as contact_attributes_router
from omnistream.contacts.routes import router as contacts_router
from omnistream.contacts.screen_routes import router as contacts_screen_router
from omnistream.context import AppContext
from omnistream.conversations.routes import router as conversations_router
from omnistream.csat.page import router as csat_page_router
from omnistream.csat.routes import router as csat_router
from omnistream.db.migrate import migrate
from omnistream.db.pool import Pool, create_pool
from omnistream.db.replica import ReadRouter
from omnistream.directory.routes import router as directory_router
from omnistream.divisions.routes import router as divisions_router
from omnistream.events.hub import Hub
from omnistream.events.routes import router as events_router
from omnistream.inbound.fast import WebhookFastPath
from omnistream.inbound.routes import router as inbound_router
from omnistream.integrations.credentials import box_from
from omnistream.integrations.routes import router as integrations_router
from omnistream.kit.http import RequestContextMiddleware, install_error_handlers
from omnistream.kit.openapi import document_errors
from omnistream.kit.wrote_cookie import WroteCookieMiddleware
from omnistream.labels.routes import router as labels_router
from omnistream.messages.routes import router as messages_router
from omnistream.metrics.middleware import MetricsMiddleware
from omnistream.metrics.routes import router as metrics_router
from omnistream.notes.routes import router as notes_router
from omnistream.notifications.routes import router as notifications_router
from omnistream.ops.routes import DOCS_ASSETS, DOCS_ASSETS_DIR
from omnistream.ops.routes import router as ops_router
from omnistream.presence.routes import router as presence_router
from omnistream.presence.tracker import PresenceTracker
from omnistream.quick_replies.routes import router as quick_replies_router
from omnistream.reports.routes import router as reports_router
from omnistream.scheduled.routes import router as scheduled_router
from omnistream.search.routes import router as search_router
from omnistream.sla.routes import router as sla_router
from omnistream.snooze.routes import router as snooze_router
from omnistream.system.heartbeat import Heartbeat
from omnistream.system.routes import router as system_router
from omnistream.templates.routes import router as templates_router
from omnistream.web.routes import router as web_router
from omnistream.webhooks.routes import router as webhooks_router
from omnistream.worker import pool_size, run_loops

log = logging.getLogger(__name__)
ROUTERS = (
    inbound_router,  # first: the webhook is the hottest route, matched in order
    ops_router,
    metrics_router,
    auth_router,
    agents_router,
    divisions_router,
    activity_router,
    contacts_screen_router,  # before contacts_router: /contacts/export.csv is no contact id
    contacts_router,
    contact_attributes_router,
    bulk_router,  # before conversations: /bulk is not a conversation id
    conversations_router,
    messages_router,
    events_router,
    notes_router,
    notifications_router,
    labels_router,
    snooze_router,
    assignment_router,
    presence_router,
    integrations_router,
    quick_replies_router,
    scheduled_router,
    templates_router,
    directory_router,
    webhooks_router,
    campaigns_router,
    opt_outs_router,
    sla_router,
    csat_router,
    reports_router,
    search_router,
    system_router,
    csat_page_router,  # the public survey pages at /csat/{token}
    web_router,  # the agent web app at / (static files, public)
)


def create_app(
    settings: Settings,
    dsn: str,
    *,
    with_worker: bool = False,
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    track_presence: bool = True,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        size = pool_size(settings) if with_worker else settings.db_pool_max
        pool = await create_pool(dsn, settings.db_pool_min, size)
        async with pool.acquire() as conn:
            await migrate(conn)
        principals = PrincipalCache(pool, dsn)
        await principals.start()
        reads = await _start_reads(pool, settings)
        hub = Hub(pool, dsn)
        await hub.start()
        # Live connections keep agents online (docs/inbox.md#availability); off only in the
        # test suite's shared app (tests/conftest.py says why).
        presence: PresenceTracker | None = None
        if track_presence:
            presence = PresenceTracker(pool, settings.presence_offline_seconds)
            await presence.start()
        app.state.ctx = AppContext(
            settings=settings,
            dsn=dsn,
            pool=pool,
            principals=principals,
            hub=hub,
            presence=presence,
            reads=reads,
            tokens=AccessTokenReader(settings.signing_key),
            box=box_from(settings),
            passwords=Passwords(
                settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
            ),
        )
        # Start-up objects live for the whole process: move them out of the collector's way,
        # and collect less often (a full pass walked ~80k objects every few requests).
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)
        stop = asyncio.Event()
        # This process's heartbeat (Settings › System), with its loops' state when it runs them.
        app.state.heartbeat = heartbeat = Heartbeat.started(
            pool, "api+worker" if with_worker else "api", settings.heartbeat_seconds
        )
        loops = (
            asyncio.create_task(run_loops(pool, settings, stop, dsn, heartbeat))
            if with_worker
            else None
        )
        extras = [asyncio.create_task(job()) for job in background]  # e.g. the demo's customers
        try:
            yield
        finally:
            stop.set()
            for extra in extras:
                extra.cancel()
            if loops is not None:
                await loops
            await heartbeat.stop()
            await hub.stop()
            if presence is not None:
                await presence.stop()
            await asyncio.gather(principals.stop(), reads.stop())
            try:  # a connection still held by a stuck task must not hang the shutdown
                await asyncio.wait_for(pool.close(), 10)
            except TimeoutError:
                log.warning("database pool did not close in 10 s; terminating it")
                pool.terminate()

    app = FastAPI(
        title="OmniStream API",
        version=__version__,
        description="Omnichannel customer service: one inbox for WhatsApp, Instagram and "
        "Messenger (email on the roadmap). Errors are RFC 9457 problem+json; lists use "
        "keyset cursors.",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    for router in ROUTERS:
        # Added flat (not include_router) so app.routes lists every APIRoute for the RBAC
        # check and the docs on every FastAPI version; prefixes are already in the paths.
        app.router.routes.extend(router.routes)
    _document_permissions(app)
    app.mount(DOCS_ASSETS, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
    _add_wrote_cookie(app, settings)
    app.add_middleware(RequestContextMiddleware, access_log=settings.access_log)
    # Outermost: accepted webhooks are answered before the framework's layers (see fast.py).
    app.add_middleware(WebhookFastPath, access_log=settings.access_log)
    # Outermost of all: times every request (the fast path's webhooks too); runs the
    # OMNISTREAM_METRICS_PORT listener from the lifespan's start to its end.
    app.add_middleware(MetricsMiddleware, settings=settings)
    return app


async def _start_reads(pool: Pool, settings: Settings) -> ReadRouter:
    """The lag-tolerant reads' router; with a read replica configured, a small pool of its
    own on it (docs/read-replica.md)."""
    reads = ReadRouter(
        pool,
        settings.read_database_url,
        settings.read_max_lag_seconds,
        pool_max=max(2, settings.db_pool_max // 2),
    )
    await reads.start()
    return reads


def _add_wrote_cookie(app: FastAPI, settings: Settings) -> None:
    """Read-your-writes on the replica across processes (kit/wrote_cookie.py)."""
    if settings.read_database_url:
        app.add_middleware(WroteCookieMiddleware, max_age_seconds=settings.read_max_lag_seconds)


def _document_permissions(app: FastAPI) -> None:
    """Expose each route's permission in OpenAPI (x-permission) with the bearer scheme."""
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        perms = route_permissions(route)
        extra: dict[str, object] = {"x-permission": [str(p) for p in perms]}
        if perms and perms[0] is not Perm.PUBLIC:
            extra["security"] = [{"bearer": []}]
        route.openapi_extra = {**(route.openapi_extra or {}), **extra}

    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schema = original()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
            routes = [r for r in app.routes if isinstance(r, APIRoute)]
            document_errors(schema, routes, auth_statuses)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
