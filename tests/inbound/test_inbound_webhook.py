"""The Meta webhook endpoint: verification handshake, signature, size cap, the audit row
that acknowledges a call, and the NOTIFY that wakes the inbound loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest

from omnistream.inbound import ack, fast
from omnistream.inbound import signature as signature_module
from omnistream.inbound.queries import INBOUND_WAKE_CHANNEL
from omnistream.inbound.signature import signature
from omnistream.inbound.wake import InboundWaker
from tests.conftest import problem
from tests.inbound.test_inbound_support import (
    PAGE_SECRET,
    WA_SECRET,
    WEBHOOK,
    _fresh_secrets,  # noqa: F401 - autouse
    audits,
    deliver,
    drain,
    fixture,
    integration,
    messenger,
    post,
    value,
    whatsapp,
)


def handshake(token: str, mode: str = "subscribe") -> dict[str, str]:
    return {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": "1158201444"}


# Verification handshake -------------------------------------------------------------------


async def test_handshake_echoes_the_bare_challenge(ctx, client) -> None:
    await integration(ctx, "whatsapp", ["1"], app_secret="s1", verify_token="wa-token")
    await integration(ctx, "messenger", ["2"], app_secret="s2", verify_token="page-token")
    for token in ("wa-token", "page-token"):
        r = await client.get(WEBHOOK, params=handshake(token))
        assert r.status_code == 200, r.text
        assert r.text == "1158201444"
        assert r.headers["content-type"].startswith("text/plain")


async def test_handshake_refuses_a_wrong_token_or_mode(ctx, client) -> None:
    await integration(ctx, "whatsapp", ["1"], app_secret="s1", verify_token="wa-token")
    await integration(
        ctx, "instagram", ["2"], app_secret="s2", verify_token="inactive-token", active=False
    )
    for params in (
        handshake("wrong"),
        handshake("wa-token", mode="unsubscribe"),
        handshake("inactive-token"),
        handshake("wa-token"[:-1]),
    ):
        body = problem(await client.get(WEBHOOK, params=params), 403)
        assert "1158201444" not in str(body)

    # Meta's contract is the bare challenge or 403: missing or over-long parameters too.
    refused = {
        "hub.challenge": [
            {"hub.mode": "subscribe"},
            {"hub.mode": "subscribe", "hub.verify_token": "wa-token"},
            {**handshake("wa-token"), "hub.challenge": ""},
            {**handshake("wa-token"), "hub.challenge": "9" * 1001},
        ],
        "hub.mode": [
            {"hub.verify_token": "wa-token", "hub.challenge": "1"},
            {"hub.challenge": "1"},
        ],
        "hub.verify_token": [
            {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
            handshake("wa-token" + "x" * 1000),
        ],
    }
    for field, cases in refused.items():
        for params in cases:
            body = problem(await client.get(WEBHOOK, params=params), 403)
            assert [e["field"] for e in body["errors"]] == [field], params
            assert "1158201444" not in str(body)
    assert (await client.get(WEBHOOK, params=handshake("wa-token"))).text == "1158201444"


# Signed calls -----------------------------------------------------------------------------


async def test_a_signed_call_is_stored_raw_and_acknowledged(ctx, client) -> None:
    await whatsapp(ctx)
    raw = fixture("wa_text")
    r = await post(client, raw)
    assert r.status_code == 200 and r.text == "EVENT_RECEIVED"
    (audit,) = await audits(ctx)
    assert audit["body"] == raw  # byte for byte: never re-serialised
    assert (audit["status"], audit["signature_valid"], audit["channel"]) == (
        "pending",
        True,
        "meta",
    )
    assert audit["headers"]["x-hub-signature-256"] == signature(WA_SECRET, raw)
    assert audit["headers"]["content-type"] == "application/json"
    # The acknowledgement applies nothing; the worker does.
    assert await value(ctx, "SELECT count(*) FROM messages") == 0
    assert await drain(ctx) == 1
    assert await value(ctx, "SELECT count(*) FROM messages") == 1


async def test_any_active_secret_is_accepted_and_its_holders_recorded(ctx, client) -> None:
    """The edge accepts a call signed with any active Meta integration's app secret and
    records every integration holding it (one Meta app may serve several numbers or pages);
    the inbound loop then applies an item only to an account of one of them."""
    wa = await whatsapp(ctx)
    page = await messenger(ctx)
    shared = [
        *await integration(ctx, "whatsapp", ["31"], app_secret="one-meta-app"),
        *await integration(ctx, "instagram", ["32"], app_secret="one-meta-app"),
    ]
    await integration(ctx, "instagram", ["3"], app_secret="retired-secret", active=False)
    assert (await post(client, fixture("messenger_messages"), PAGE_SECRET)).status_code == 200
    assert (await post(client, fixture("wa_text"), WA_SECRET)).status_code == 200
    assert (await post(client, fixture("wa_text"), "one-meta-app")).status_code == 200
    problem(await post(client, fixture("wa_text"), "retired-secret"), 401)
    found = await audits(ctx)
    assert [a["status"] for a in found] == ["pending", "pending", "pending", "rejected"]
    assert found[0]["signed_by"] == [page.integration_id]
    assert found[1]["signed_by"] == [wa[0].integration_id]
    assert sorted(found[2]["signed_by"]) == sorted(a.integration_id for a in shared)
    assert found[3]["signed_by"] is None


async def test_the_route_records_the_signers_when_the_fast_path_declines(
    ctx, client, monkeypatch
) -> None:
    (account, _) = await whatsapp(ctx)

    def declined(*_: object) -> None:
        raise RuntimeError("fast path unavailable")

    monkeypatch.setattr(fast, "ack_writer_of", declined)  # the route takes the call
    assert (await post(client, fixture("wa_text"))).status_code == 200
    (audit,) = await audits(ctx)
    assert (audit["status"], audit["signed_by"]) == ("pending", [account.integration_id])
    assert await drain(ctx) == 1
    assert await value(ctx, "SELECT count(*) FROM messages") == 1


async def test_a_wrong_signature_is_refused_and_recorded_but_never_processed(ctx, client) -> None:
    await whatsapp(ctx)
    raw = fixture("wa_text")
    for header in (
        signature("not-the-secret", raw),
        signature(WA_SECRET, raw + b" "),  # a signature of other bytes
        "sha256=zz",
        "sha1=" + "0" * 40,
        signature(WA_SECRET, raw).upper().replace("SHA256=", "sha256=")[:-2],
    ):
        r = await client.post(WEBHOOK, content=raw, headers={"X-Hub-Signature-256": header})
        body = problem(r, 401)
        assert "X-Hub-Signature-256" in body["detail"]
    found = await audits(ctx)
    assert len(found) == 5
    assert {(a["status"], a["signature_valid"]) for a in found} == {("rejected", False)}
    assert all(a["error"] == "signature does not match any active app secret" for a in found)
    assert found[0]["body"] == raw
    assert await drain(ctx) == 0
    assert await value(ctx, "SELECT count(*) FROM messages") == 0
    assert await value(ctx, "SELECT count(*) FROM contacts") == 0


async def test_a_missing_signature_is_refused(ctx, client) -> None:
    await whatsapp(ctx)
    r = await client.post(WEBHOOK, content=fixture("wa_text"))
    assert "X-Hub-Signature-256" in problem(r, 401)["detail"]
    (audit,) = await audits(ctx)
    assert (audit["status"], audit["error"]) == ("rejected", "no X-Hub-Signature-256 header")
    assert await drain(ctx) == 0


async def test_a_refused_call_keeps_only_the_head_of_its_body(ctx, client) -> None:
    raw = orjson.dumps({"object": "page", "padding": "x" * 50_000})
    problem(await post(client, raw, "unknown-secret"), 401)
    (audit,) = await audits(ctx)
    assert audit["body"] == raw[:4096]


async def test_an_oversize_body_is_refused_before_it_is_read(ctx, client, settings) -> None:
    await whatsapp(ctx)
    limit = settings.webhook_max_bytes
    raw = b'{"object": "page", "x": "' + b"y" * limit + b'"}'
    body = problem(await post(client, raw), 413)
    assert body["max_bytes"] == limit

    produced = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        nonlocal produced
        for _ in range(limit // 65536 + 20):
            produced += 1
            yield b"z" * 65536

    r = await client.post(
        WEBHOOK, content=chunks(), headers={"X-Hub-Signature-256": signature(WA_SECRET, b"")}
    )
    problem(r, 413)
    assert produced <= limit // 65536 + 2  # stopped reading once over the limit
    found = await audits(ctx)
    assert [(a["status"], a["signature_valid"]) for a in found] == [("rejected", False)] * 2
    assert "limit" in found[0]["error"] and found[0]["body"] == b""
    assert len(found[1]["body"]) == 4096
    assert await drain(ctx) == 0


async def test_a_new_secret_is_accepted_on_its_first_call(ctx, client, monkeypatch) -> None:
    await whatsapp(ctx)
    assert (await post(client, fixture("wa_text"))).status_code == 200  # secrets now cached
    await integration(ctx, "messenger", ["9"], app_secret="brand-new")
    monkeypatch.setattr(signature_module, "MIN_RELOAD_SECONDS", 3600.0)
    problem(await post(client, fixture("wa_text"), "brand-new"), 401)  # reload rate-limited
    monkeypatch.setattr(signature_module, "MIN_RELOAD_SECONDS", 0.0)
    assert (await post(client, fixture("wa_text"), "brand-new")).status_code == 200


async def test_the_acknowledgement_wakes_the_inbound_loop(ctx, client) -> None:
    await whatsapp(ctx)
    woken = asyncio.Event()
    conn = await asyncpg.connect(ctx.dsn)  # its own connection: no listener left in the pool
    try:
        await conn.add_listener(INBOUND_WAKE_CHANNEL, lambda *_: woken.set())
        await deliver(client, fixture("wa_text"))
        await asyncio.wait_for(woken.wait(), 5)
        woken.clear()
        problem(await post(client, fixture("wa_text"), "bad"), 401)
        await asyncio.sleep(0.2)
        assert not woken.is_set()  # refusals wake nobody
    finally:
        await conn.close()


@pytest.mark.parametrize("path", [WEBHOOK])
async def test_webhook_routes_need_a_signature_not_a_token(client, path) -> None:
    r = await client.post(path, content=b"{}")
    assert r.status_code == 401 and "X-Hub-Signature-256" in r.json()["detail"]


# Group commit ---------------------------------------------------------------------------


async def test_concurrent_calls_are_all_stored_before_their_200(ctx, client) -> None:
    await whatsapp(ctx)
    bodies = [fixture("wa_text").replace(b"TEXT1", f"C{n:03d}".encode()) for n in range(60)]
    answers = await asyncio.gather(*(post(client, raw) for raw in bodies))
    assert [r.status_code for r in answers] == [200] * 60
    stored = await audits(ctx)
    assert sorted(a["body"] for a in stored) == sorted(bodies)
    assert await drain(ctx) == 60
    assert await value(ctx, "SELECT count(DISTINCT channel_message_id) FROM messages") == 60


async def test_a_failed_commit_fails_every_call_of_its_batch(ctx, app, monkeypatch) -> None:
    async def broken(*_: object) -> None:
        raise OSError("connection lost")

    monkeypatch.setattr(ack.queries, "acknowledge", broken)
    writer = ack.AckWriter(app, ctx.pool)
    results = await asyncio.gather(
        *(writer.write({}, b"{}", "{}") for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results)
    assert await audits(ctx) == []
    monkeypatch.undo()
    await writer.write({"x": "1"}, b"{}", "{}")  # the writer recovers
    assert [(a["headers"], a["signed_by"]) for a in await audits(ctx)] == [({"x": "1"}, [])]


async def test_bursts_share_notifies(ctx) -> None:
    conn = await asyncpg.connect(ctx.dsn)
    seen: list[float] = []
    try:
        await conn.add_listener(INBOUND_WAKE_CHANNEL, lambda *_: seen.append(time.monotonic()))
        waker = InboundWaker(ctx.pool, interval=0.05)
        for _ in range(200):
            waker.poke()
            await asyncio.sleep(0)
        await asyncio.sleep(0.3)
    finally:
        await conn.close()
    assert 1 <= len(seen) <= 3  # one at once, then one trailing for the rest of the burst


# The fast path (inbound/fast.py) and its hand-over to the route --------------------------


async def raw_call(app, body_chunks: list[bytes], headers: list[tuple[bytes, bytes]]):
    """One POST /webhooks/meta straight through the ASGI app, the body in several chunks
    (as a server hands over a large or slow upload); the response's messages."""
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(body_chunks) - 1}
        for i, chunk in enumerate(body_chunks)
    ]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": WEBHOOK,
        "raw_path": WEBHOOK.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


async def test_a_body_in_chunks_is_verified_whole_and_keeps_the_request_id(app, ctx) -> None:
    await whatsapp(ctx)
    raw = fixture("wa_text")
    headers = [
        (b"content-type", b"application/json"),
        (b"x-hub-signature-256", signature(WA_SECRET, raw).encode()),
        (b"x-request-id", b"meta-call-7"),
    ]
    status, out, body = await raw_call(app, [raw[:10], raw[10:500], raw[500:]], headers)
    assert (status, body) == (200, b"EVENT_RECEIVED")
    assert out[b"x-request-id"] == b"meta-call-7"
    (audit,) = await audits(ctx)
    assert audit["body"] == raw and audit["signature_valid"]


async def test_calls_the_fast_path_declines_reach_the_route_with_their_body(app, ctx) -> None:
    await whatsapp(ctx)
    raw = fixture("wa_text")
    wrong = [(b"x-hub-signature-256", signature("not-the-secret", raw).encode())]
    status, out, body = await raw_call(app, [raw[:100], raw[100:]], wrong)
    assert status == 401 and out[b"content-type"] == b"application/problem+json"
    assert out[b"x-request-id"]  # the route's middleware gave it one
    (audit,) = await audits(ctx)
    assert not audit["signature_valid"] and audit["body"] == raw  # replayed whole
    limit = ctx.settings.webhook_max_bytes
    chunk = b"x" * (limit // 2 + 1)
    signed = [(b"x-hub-signature-256", signature(WA_SECRET, chunk * 3).encode())]
    status, _, body = await raw_call(app, [chunk, chunk, chunk], signed)
    assert status == 413 and b"webhook limit" in body
    assert len(await audits(ctx)) == 2 and await value(ctx, "SELECT count(*) FROM messages") == 0
