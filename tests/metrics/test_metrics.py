"""GET /metrics: off without a token, refused without the right one, and values that move
as work is done (requests by route template, WebSockets, the inbound backlog, the loops'
batches, the dispatch lag). The API runs under uvicorn on loopback with its lifespan, so
its separate metrics listener (OMNISTREAM_METRICS_PORT) runs too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
import websockets

from omnistream.app import create_app
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.worker import LOOPS, run_loops
from tests.inbound.test_inbound_support import (
    _fresh_secrets,  # noqa: F401 - autouse
    deliver,
    payload,
    whatsapp,
)
from tests.metrics.support import label_values, sample
from tests.processes import free_port

TOKEN = "metrics-token-" + "m" * 20
CONVERSATION = "/api/v1/conversations/{conversation_id}"


@dataclass
class Server:
    url: str
    listener: str  # the OMNISTREAM_METRICS_PORT listener's /metrics
    http: httpx.AsyncClient  # one for the module: a client costs its TLS context to make

    async def scrape(self) -> str:
        r = await self.http.get(f"{self.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        return r.text


@pytest.fixture(scope="module")
async def server(settings: Settings, test_dsn: str, app: Any) -> AsyncIterator[Server]:
    """A second API process's app (with the token and the listener) on the test database;
    `app` first: it migrates the database."""
    port = free_port()
    tuned = settings.model_copy(
        update={"metrics_token": TOKEN, "metrics_port": port, "db_pool_min": 1, "db_pool_max": 3}
    )
    application = create_app(tuned, test_dsn, track_presence=False)
    config = uvicorn.Config(
        application, host="127.0.0.1", port=0, lifespan="on", log_config=None, access_log=False
    )
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    bound = srv.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient(trust_env=False) as http:
        yield Server(f"http://127.0.0.1:{bound}", f"http://127.0.0.1:{port}/metrics", http)
    srv.should_exit = True
    await asyncio.wait_for(task, 15)


async def test_off_without_a_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/metrics")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 404


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token-xxxxxxxxxxxx", f"Basic {TOKEN}", "Bearer"]
)
async def test_refused_without_the_right_token(server: Server, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    r = await server.http.get(f"{server.url}/metrics", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "omnistream_http_requests_total" not in r.text


async def test_requests_counted_by_route_template_and_status(server: Server) -> None:
    before = await server.scrape()
    ids = [str(uuid.uuid4()) for _ in range(2)]
    for cid in ids:
        r = await server.http.get(f"{server.url}/api/v1/conversations/{cid}")
        assert r.status_code == 401
    assert (await server.http.get(f"{server.url}/healthz")).status_code == 200
    after = await server.scrape()
    key = {"method": "GET", "route": CONVERSATION, "status": "401"}
    name = "omnistream_http_requests_total"
    assert sample(after, name, **key) - sample(before, name, **key) == 2
    hist = "omnistream_http_request_duration_seconds_count"
    assert sample(after, hist, **key) - sample(before, hist, **key) == 2
    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    assert sample(after, name, **healthz) - sample(before, name, **healthz) == 1
    routes = label_values(after, name, "route")
    assert not any(cid in r for r in routes for cid in ids)  # templates, never raw paths


async def test_websocket_connections_gauge(server: Server) -> None:
    name = "omnistream_websocket_connections"
    base = sample(await server.scrape(), name)
    ws_url = server.url.replace("http://", "ws://") + "/api/v1/ws"
    async with websockets.connect(ws_url), websockets.connect(ws_url):
        await asyncio.sleep(0.05)  # accepted: the socket waits for its auth frame
        assert sample(await server.scrape(), name) == base + 2
    for _ in range(100):  # the server notices the close
        if sample(await server.scrape(), name) == base:
            break
        await asyncio.sleep(0.02)
    assert sample(await server.scrape(), name) == base


async def test_the_separate_listener_serves_the_same_metrics(server: Server) -> None:
    refused = await server.http.get(server.listener)  # the token is set: asked here too
    r = await server.http.get(server.listener, headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 401
    assert r.status_code == 200
    assert sample(r.text, "omnistream_backlog_items", queue="inbound") == 0
    assert "omnistream_http_requests_total" in r.text


def _text_payload(wamid: str) -> dict[str, Any]:
    body = payload("wa_text")
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = "106540352242922"
    value["messages"][0].update({"id": wamid, "from": "16505551234"})
    return body


async def test_inbound_backlog_drains_as_the_loop_works(
    ctx: AppContext, client: httpx.AsyncClient, server: Server
) -> None:
    await whatsapp(ctx)
    for n in range(3):
        await deliver(client, _text_payload(f"wamid.METRICS{n}"))
    before = await server.scrape()
    assert sample(before, "omnistream_backlog_items", queue="inbound") == 3
    assert sample(before, "omnistream_backlog_oldest_age_seconds", queue="inbound") >= 0
    batches = "omnistream_worker_batch_seconds_count"
    lag = "omnistream_event_dispatch_lag_seconds_count"

    # The real loops, as `omnistream worker` runs them: only the inbound loop and the
    # dispatcher (publishing the message events the batch wrote).
    only = ctx.settings.model_copy(
        update={"worker_loops_off": ",".join(n for n in LOOPS if n not in ("inbound", "events"))}
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_loops(ctx.pool, only, stop))
    try:
        for _ in range(200):
            after = await server.scrape()
            if (
                sample(after, "omnistream_backlog_items", queue="inbound") == 0
                and sample(after, lag) >= sample(before, lag) + 3
            ):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert sample(after, "omnistream_backlog_items", queue="inbound") == 0
    assert sample(after, "omnistream_backlog_oldest_age_seconds", queue="inbound") == 0
    assert sample(after, batches, loop="inbound") > sample(before, batches, loop="inbound")
    assert sample(after, batches, loop="events") > sample(before, batches, loop="events")
    assert sample(after, lag) >= sample(before, lag) + 3  # one per message.created at least
    assert sample(after, "omnistream_worker_errors_total", loop="inbound") == sample(
        before, "omnistream_worker_errors_total", loop="inbound"
    )
