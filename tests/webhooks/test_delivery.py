"""What is sent and how each kind of answer is handled: the envelope as on the WebSocket,
Standard Webhooks signatures, the retry schedule (with an injected clock), Retry-After,
errors, size and time limits, redirects."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from omnistream import __version__
from omnistream.events.envelope import from_row
from omnistream.events.outbox import emit
from omnistream.events.queries import published_after
from omnistream.events.types import EventType
from omnistream.webhooks.schedule import JITTER, MAX_ATTEMPTS, RETRY_DELAYS, next_attempt_at
from tests.processes import free_port
from tests.webhooks.test_endpoints import create


async def note_event(ctx, n: int = 1) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        for i in range(n):
            await emit(conn, EventType.NOTE_CREATED, {"i": i, "text": "héllo"}, actor=None)


async def delivery_rows(ctx) -> list:
    async with ctx.pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM webhook_deliveries ORDER BY created_at, event_seq")


async def test_the_payload_is_the_websocket_envelope_signed_by_the_standard(
    wclient, admin, receiver, pump, ctx
) -> None:
    made = await create(wclient, admin, receiver.url(), events=["note.created"])
    await note_event(ctx, 3)
    async with ctx.pool.acquire() as conn, conn.transaction():  # not subscribed: not sent
        await emit(conn, EventType.CONTACT_CREATED, {"x": 1}, actor=None)
    await pump()
    got = receiver.at("/hook")
    assert len(got) == 3
    async with ctx.pool.acquire() as conn:
        rows = {str(r["id"]): from_row(r) for r in await published_after(conn, 0, 100)}
    for request in got:
        payload = Webhook(made["secret"]).verify(request.body, request.headers)
        event = rows[request.headers["webhook-id"]]
        # Byte for byte the event of the WebSocket frame {"type":"event","event":…}.
        assert event.frame == '{"type":"event","event":' + request.body.decode() + "}"
        assert payload["id"] == request.headers["webhook-id"] and payload["seq"] == event.seq
        assert request.headers["User-Agent"] == f"OmniStream-Webhooks/{__version__}"
        assert request.headers["Content-Type"] == "application/json"
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "B" * 43 + "=").verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(made["secret"]).verify(request.body + b" ", request.headers)
    assert sorted(r["event_seq"] for r in await delivery_rows(ctx)) == sorted(
        e.seq for e in rows.values() if e.envelope.type == "note.created"
    )
    assert {r["status"] for r in await delivery_rows(ctx)} == {"success"}


def test_the_schedule_and_its_jitter() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(7)
    assert [d.total_seconds() for d in RETRY_DELAYS] == [5, 300, 1800, 7200, 18000, 36000, 36000]
    seen = set()
    for failed in range(1, MAX_ATTEMPTS):
        base = RETRY_DELAYS[failed - 1]
        for _ in range(200):
            at = next_attempt_at(failed, now, None, rng)
            assert at is not None
            assert base * (1 - JITTER) <= at - now <= base * (1 + JITTER)
            seen.add(at)
    assert len(seen) > 1000  # jittered, not fixed
    assert next_attempt_at(MAX_ATTEMPTS, now, None, rng) is None
    # Retry-After is honoured when longer than the schedule's delay, never shorter.
    assert next_attempt_at(1, now, timedelta(minutes=2), rng) == now + timedelta(minutes=2)
    assert next_attempt_at(2, now, timedelta(seconds=1), rng) - now >= timedelta(minutes=4.5)


async def test_failures_are_retried_on_schedule_then_failed(
    wclient, admin, receiver, pump, deliverer, ctx
) -> None:
    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=500, text="boom " * 1000)

    receiver.routes["/down"] = broken
    await create(wclient, admin, receiver.url("/down"), events=["note.created"])
    await note_event(ctx)
    clock = [datetime.now(UTC) + timedelta(seconds=1)]  # the deliveries are due by then
    deliverer.clock = lambda: clock[0]
    deliverer.rng = random.Random(1)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await pump() == 1, attempt
        assert await pump() == 0  # not due again yet
        (row,) = await delivery_rows(ctx)
        assert row["attempts"] == attempt and row["last_status"] == 500
        assert row["last_error"] == "HTTP 500"
        if attempt < MAX_ATTEMPTS:
            assert row["status"] == "pending"
            delay = row["next_retry_at"] - clock[0]
            base = RETRY_DELAYS[attempt - 1]
            assert base * (1 - JITTER) <= delay <= base * (1 + JITTER), (attempt, delay)
            clock[0] = row["next_retry_at"]
        else:
            assert row["status"] == "failed" and row["next_retry_at"] is None
    assert len(receiver.at("/down")) == MAX_ATTEMPTS
    assert len({r.headers["webhook-id"] for r in receiver.at("/down")}) == 1  # same id
    async with ctx.pool.acquire() as conn:
        attempts = await conn.fetch("SELECT * FROM webhook_attempts ORDER BY id")
    assert len(attempts) == MAX_ATTEMPTS
    assert all(a["status_code"] == 500 and len(a["response_body"]) == 2048 for a in attempts)


async def test_retry_after_is_honoured_when_longer(
    wclient, admin, receiver, pump, deliverer, ctx
) -> None:
    async def busy(_: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "120"})

    receiver.routes["/busy"] = busy
    await create(wclient, admin, receiver.url("/busy"), events=["note.created"])
    await note_event(ctx)
    now = datetime.now(UTC) + timedelta(seconds=1)
    deliverer.clock = lambda: now
    await pump()
    (row,) = await delivery_rows(ctx)
    assert row["next_retry_at"] - now == timedelta(seconds=120)
    assert row["last_status"] == 429 and row["status"] == "pending"


async def test_errors_are_recorded_and_retried(
    wclient, admin, receiver, pump, deliverer, ctx
) -> None:
    async def moved(_: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": receiver.url("/elsewhere")})

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        for _ in range(10_000):  # 640 MB if read to the end
            await response.write(b"x" * 65536)
        return response

    receiver.routes.update({"/moved": moved, "/slow": slow, "/huge": huge})
    closed = free_port()
    for path in ("/moved", "/slow", "/huge"):
        await create(wclient, admin, receiver.url(path), events=["note.created"])
    await create(wclient, admin, f"http://127.0.0.1:{closed}/x", events=["note.created"])
    deliverer.total_timeout = 1.0
    await note_event(ctx)
    started = asyncio.get_running_loop().time()
    await pump()
    assert asyncio.get_running_loop().time() - started < 4  # a slow endpoint costs its timeout
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT w.url, d.status, d.last_status, d.last_error, a.response_body, a.duration_ms "
            "FROM webhook_deliveries d JOIN outgoing_webhooks w ON w.id = d.webhook_id "
            "JOIN webhook_attempts a ON a.delivery_id = d.id"
        )
    by = {r["url"].rsplit("/", 1)[-1] or r["url"]: r for r in rows}
    assert by["moved"]["status"] == "pending" and by["moved"]["last_status"] == 302
    assert "redirect not followed" in by["moved"]["last_error"]
    assert receiver.at("/elsewhere") == []
    assert by["slow"]["status"] == "pending" and by["slow"]["last_status"] is None
    assert "timed out" in by["slow"]["last_error"]
    assert by["huge"]["status"] == "success" and len(by["huge"]["response_body"]) == 2048
    assert by["x"]["status"] == "pending" and "cannot connect" in by["x"]["last_error"]


async def test_private_addresses_are_refused_at_delivery_time(
    wclient, admin, receiver, ctx, settings
) -> None:
    """An endpoint made while private URLs were allowed, delivered by a worker that may not
    call them: refused, nothing reaches the receiver, the reason is logged."""
    from omnistream.webhooks.worker import Deliverer

    for url in (receiver.url("/a"), f"http://localhost:{receiver.port}/b"):
        await create(wclient, admin, url, events=["note.created"])
    await note_event(ctx)
    from omnistream.events.dispatcher import publish_pending
    from omnistream.webhooks.fanout import fan_out

    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)
    await fan_out(ctx.pool)
    guarded = Deliverer(ctx.pool, settings)  # OMNISTREAM_ALLOW_PRIVATE_URLS off
    try:
        assert await guarded.run_once() == 2
    finally:
        await guarded.close()
    assert receiver.received == []
    for row in await delivery_rows(ctx):
        assert row["status"] == "pending" and row["last_error"].startswith("refused address"), row
        assert "127.0.0.1" in row["last_error"] or "::1" in row["last_error"]


async def test_a_binary_answer_is_recorded(wclient, admin, receiver, pump, ctx) -> None:
    """NUL bytes and invalid UTF-8 in the answer: kept (replaced), never a stuck record."""

    async def binary(_: web.Request) -> web.Response:
        return web.Response(body=b"\x00\xff\xfe PNG \x00" * 10, content_type="image/png")

    receiver.routes["/bin"] = binary
    await create(wclient, admin, receiver.url("/bin"), events=["note.created"])
    await note_event(ctx)
    await pump()
    async with ctx.pool.acquire() as conn:
        body = await conn.fetchval("SELECT response_body FROM webhook_attempts")
    (row,) = await delivery_rows(ctx)
    assert row["status"] == "success" and "PNG" in body and "\x00" not in body
