"""A flood of unsigned or badly signed calls to /webhooks/meta costs bounded storage: each
is counted per source address and minute (webhook_rejections), only a sample keeps its body
in webhook_audit (per source, and overall per minute), addresses past the per-minute limit
share one counter, housekeeping prunes old counters, and signed calls are all stored."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from omnistream.auth.worker import housekeeping_tick
from omnistream.inbound.rejections import SOURCES_PER_MINUTE
from omnistream.inbound.signature import signature
from tests.conftest import problem
from tests.inbound.test_inbound_support import (
    WEBHOOK,
    _fresh_secrets,  # noqa: F401 - autouse
    deliver,
    drain,
    payload,
    rows,
    value,
    whatsapp,
)

PEER = "127.0.0.1"  # the `client` fixture's address
LOGGER = "omnistream.inbound.rejections"


@pytest.fixture
async def same_minute(ctx: Any) -> None:
    """Counters are per minute of the database clock: start with time left in this one, so
    a test's calls share a minute and its counts are exact."""
    second = await value(ctx, "SELECT extract(second FROM now())")
    if second > 40:
        await asyncio.sleep(61 - float(second))


@asynccontextmanager
async def client_from(app: FastAPI, host: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose connection's peer address is `host` (scope["client"])."""
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def junk(n: int) -> bytes:
    return orjson.dumps({"object": "whatsapp_business_account", "junk": n, "pad": "x" * 5000})


async def refused(client: httpx.AsyncClient, n: int) -> None:
    """A call refused for its signature (a wrong one, or every fifth none at all), claiming
    another X-Forwarded-For each time: it must not choose the address it is counted under."""
    headers = {"X-Forwarded-For": f"198.51.100.{n % 250}"}
    if n % 5:
        headers["X-Hub-Signature-256"] = signature("not-our-secret", junk(n))
    problem(await client.post(WEBHOOK, content=junk(n), headers=headers), 401)


def text_payload(wamid: str) -> dict[str, Any]:
    body = payload("wa_text")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = wamid
    return body


async def in_waves(calls: list[Callable[[], Awaitable[None]]], width: int = 16) -> None:
    """Concurrent calls, `width` at a time (concurrent upserts of the same counters)."""
    for start in range(0, len(calls), width):
        await asyncio.gather(*(call() for call in calls[start : start + width]))


async def counters(ctx: Any) -> dict[str, tuple[int, int]]:
    found = await rows(ctx, "SELECT source, rejected, sampled FROM webhook_rejections")
    return {r["source"]: (r["rejected"], r["sampled"]) for r in found}


async def samples(ctx: Any) -> list[Any]:
    return await rows(ctx, "SELECT * FROM webhook_audit WHERE status = 'rejected' ORDER BY id")


async def test_a_flood_from_one_address_keeps_a_sample_and_counts_every_call(
    ctx, app, client, settings, same_minute, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    await whatsapp(ctx)
    keep = settings.webhook_rejected_samples
    calls: list[Callable[[], Awaitable[None]]] = []
    for n in range(200):
        calls.append(lambda n=n: refused(client, n))
        if n % 10 == 0:  # Meta's signed calls keep arriving during the flood
            calls.append(lambda n=n: deliver(client, text_payload(f"wamid.FLOOD{n}")))
    await in_waves(calls)

    assert await counters(ctx) == {PEER: (200, keep)}
    kept = await samples(ctx)
    assert len(kept) == keep
    assert {(a["source"], a["signature_valid"], a["channel"]) for a in kept} == {
        (PEER, False, "meta")
    }
    assert all(len(a["body"]) == 4096 for a in kept)  # the head, as before
    assert sum("passed 5" in r.getMessage() and PEER in r.getMessage() for r in caplog.records) == 1

    # Another address has a sample of its own.
    async with client_from(app, "203.0.113.9") as other:
        await in_waves([lambda n=n: refused(other, n) for n in range(30)])
    assert (await counters(ctx))["203.0.113.9"] == (30, keep)
    assert len(await samples(ctx)) == 2 * keep

    # Every signed call was stored in full and is processed.
    signed = await rows(ctx, "SELECT body FROM webhook_audit WHERE signature_valid")
    assert len(signed) == 20
    assert await drain(ctx) == 20
    assert await value(ctx, "SELECT count(*) FROM messages") == 20


async def test_the_overall_sample_per_minute_holds_across_addresses(
    ctx, app, settings, same_minute, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    overall = settings.webhook_rejected_samples_per_minute
    hosts = [f"10.0.{n // 200}.{n % 200 + 1}" for n in range(overall + 10)]
    for host in hosts:
        async with client_from(app, host) as c:
            await in_waves([lambda c=c, n=n: refused(c, n) for n in range(3)])

    found = await counters(ctx)
    assert {source: rejected for source, (rejected, _) in found.items()} == dict.fromkeys(hosts, 3)
    assert sum(sampled for _, sampled in found.values()) == overall
    assert len(await samples(ctx)) == overall
    minute = await rows(ctx, "SELECT sources, sampled, capped FROM webhook_rejection_minutes")
    assert [tuple(m) for m in minute] == [(len(hosts), overall, 3 * len(hosts) - overall)]
    said = [r.getMessage() for r in caplog.records if "over all sources" in r.getMessage()]
    assert len(said) == 1


async def test_addresses_past_the_limit_a_minute_share_one_counter(
    ctx, app, settings, same_minute, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    extra = 7
    hosts = [f"2001:db8::{n:x}" for n in range(1, SOURCES_PER_MINUTE + extra + 1)]
    for host in hosts:
        async with client_from(app, host) as c:
            await refused(c, 1)
    async with client_from(app, hosts[-1]) as c:  # an address seen past the limit again
        await refused(c, 2)

    found = await counters(ctx)
    assert len(found) == SOURCES_PER_MINUTE + 1
    assert found["*"][0] == extra + 1
    assert set(found) - {"*"} == set(hosts[:SOURCES_PER_MINUTE])
    assert await value(ctx, "SELECT sources FROM webhook_rejection_minutes") == SOURCES_PER_MINUTE
    assert len(await samples(ctx)) == settings.webhook_rejected_samples_per_minute
    assert sum("more than 100 addresses" in r.getMessage() for r in caplog.records) == 1


async def test_housekeeping_prunes_counters_past_the_retention(ctx, app, client, settings) -> None:
    for n in range(3):
        await refused(client, n)
    days = settings.webhook_audit_retention_days
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE webhook_rejections SET minute = minute - make_interval(days => $1 + 1)", days
        )
        await conn.execute(
            "UPDATE webhook_rejection_minutes SET minute = minute - make_interval(days => $1 + 1)",
            days,
        )
    async with client_from(app, "192.0.2.1") as other:
        await refused(other, 9)

    removed = await housekeeping_tick(ctx.pool, settings)
    assert removed is not None and removed["webhook_rejections"] == 1
    assert await counters(ctx) == {"192.0.2.1": (1, 1)}
    assert await value(ctx, "SELECT count(*) FROM webhook_rejection_minutes") == 1
