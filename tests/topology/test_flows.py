"""The inbox's main flows on the several-process topology (issue 18 items 1 and 3): HAProxy
in front of 2 `omnistream serve`, 2 `omnistream worker`, a PostgreSQL primary and its
streaming replica (tests/topology/conftest.py), the Graph API sandbox and a webhook receiver
on loopback. Everything goes through HAProxy unless a test needs one API process:

- a customer's message (signed webhook to HAProxy) opens a conversation; an agent's reply
  is sent once by a worker and reaches the sandbox; a transfer is seen at once through the
  other API process (read-your-writes);
- an action through API process 0 reaches a WebSocket client of API process 1;
- deactivating an agent through process 0 ends its session on process 1 at once (401 and
  its WebSocket closed with 4401);
- failed sign-ins are counted across both processes (the lockout holds on either);
- a campaign sent with both workers reaches every recipient exactly once;
- an outgoing webhook is delivered once to a local receiver.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web
from harness.topology import Topology

from omnistream.sandbox.client import SandboxAccount, SandboxClient
from tests.events.test_websocket import closed_with, connect
from tests.sandbox_fixture import running_sandbox
from tests.webhooks.conftest import Received, Receiver

PASSWORD = "correct horse battery"
TEMPLATE = "welcome_offer"  # a default sandbox template: Hi {{name}}, enjoy {{discount}} off
# An event made through one API process reaches a socket of the other through the
# worker's dispatcher and NOTIFY; a few ms on a quiet machine (docs/events.md), generous
# here for a loaded 2-core box.
LIVE_BOUND_S = 5.0


@dataclass
class Setup:
    topo: Topology
    sandbox: SandboxClient
    account: SandboxAccount
    account_id: str  # our integration account
    admin: dict[str, str]  # the admin's Authorization header

    def api(self, base: str | None = None, headers: dict[str, str] | None = None) -> Any:
        return httpx.AsyncClient(
            base_url=base or self.topo.url,
            headers=self.admin if headers is None else headers,
            timeout=30,
            trust_env=False,
        )


async def _ok(response: Awaitable[httpx.Response], status: int = 200) -> Any:
    r = await response
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json() if r.content else None


async def until(check: Callable[[], Awaitable[Any]], what: str, within: float = 30) -> Any:
    """Polls `check` until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {within:g} s"
        await asyncio.sleep(0.1)


async def login(base: str, email: str, password: str = PASSWORD) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        return await http.post(
            f"{base}/api/v1/auth/login", json={"email": email, "password": password}
        )


@pytest.fixture(scope="module")
async def setup(topology: Topology) -> AsyncIterator[Setup]:
    """A sandbox of the module's own (its webhooks go to HAProxy), the admin signed in, a
    WhatsApp integration on the sandbox with its account and templates synced."""
    with running_sandbox() as url:
        sandbox = SandboxClient(url)
        r = await login(topology.url, topology.admin_email, topology.admin_password)
        assert r.status_code == 200, r.text
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        account = await sandbox.register_account(webhook_url=topology.url + "/webhooks/meta")
        credentials = {"access_token": account.access_token, "app_secret": account.app_secret,
                       "verify_token": "topology", "waba_id": account.waba_id, "base_url": url}  # fmt: skip
        async with httpx.AsyncClient(base_url=topology.url, headers=admin, timeout=30) as http:
            body = {"channel": "whatsapp", "name": "Topology", "credentials": credentials}
            integration = (await _ok(http.post("/api/v1/integrations", json=body), 201))["id"]
            accounts = f"/api/v1/integrations/{integration}/accounts"
            body = {"external_id": account.external_id}
            ours = await _ok(http.post(accounts, json=body), 201)
            await _ok(http.post(f"/api/v1/integrations/{integration}/templates/sync"))
        try:
            yield Setup(topology, sandbox, account, str(ours["id"]), admin)
        finally:
            await sandbox.aclose()


async def make_agent(s: Setup, role: str = "agent") -> tuple[str, str]:
    """A new agent made through HAProxy: (id, email)."""
    email = f"{role}-{secrets.token_hex(4)}@example.com"
    async with s.api() as http:
        body = {"email": email, "name": f"{role.title()} {email[:10]}", "role": role,
                "password": PASSWORD}  # fmt: skip
        made = await _ok(http.post("/api/v1/agents", json=body), 201)
    return str(made["id"]), email


async def customer_writes(s: Setup, text: str) -> tuple[str, dict[str, Any]]:
    """A new customer's message through HAProxy; (their phone, the conversation once the
    inbound loop of a worker applied it)."""
    phone = "628" + "".join(secrets.choice("0123456789") for _ in range(9))
    sent = await s.sandbox.send_customer(s.account, phone, text=text)
    assert sent["delivered"], sent  # HAProxy answered the signed webhook 200

    async def opened() -> dict[str, Any] | None:
        async with s.api() as http:
            page = await _ok(http.get("/api/v1/conversations", params={"limit": 100}))
        mine = [c for c in page["items"] if (c["contact"]["phone"] or "").endswith(phone[-9:])]
        return mine[0] if mine else None

    return phone, await until(opened, "the conversation of the inbound message")


async def test_inbound_reply_and_transfer(setup: Setup) -> None:
    s = setup
    phone, conversation = await customer_writes(s, "Halo, paket saya belum sampai")
    assert conversation["last_message_preview"].startswith("Halo")
    path = f"/api/v1/conversations/{conversation['id']}"
    async with s.api() as http:
        await _ok(http.post(f"{path}/messages", json={"type": "text", "text": "Kami cek ya"}), 201)

    async def sent() -> list[dict[str, Any]]:
        got = await s.sandbox.messages(account=s.account.external_id, to=phone)
        return [m for m in got if "Kami cek ya" in str(m)]

    assert len(await until(sent, "the reply at the sandbox")) == 1
    sends = await s.sandbox.sends(account=s.account.external_id, duplicates=True)
    assert sends == [], sends  # not sent twice by the two workers

    agent_id, _ = await make_agent(s)
    async with s.api(s.topo.api_urls[0]) as first:
        moved = await _ok(
            first.post(f"{path}/transfer", json={"agent_id": agent_id, "reason": "billing"})
        )
    assert moved["conversation"]["assigned_agent_id"] == agent_id
    async with s.api(s.topo.api_urls[1]) as second:  # the other process, at once
        seen = await _ok(second.get(path))
        history = await _ok(second.get(f"{path}/transfers"))
    assert seen["assigned_agent_id"] == agent_id
    assert [(t["to_agent_id"], t["reason"]) for t in history] == [(agent_id, "billing")]


async def test_live_event_crosses_api_processes(setup: Setup) -> None:
    """A socket on API process 1 and one through HAProxy (the upgrade passes the front)
    both get the event of a change made through API process 0."""
    s = setup
    token = s.admin["Authorization"].split()[1]
    sockets = [
        await connect(base.replace("http", "ws", 1) + "/api/v1/ws", token, open_timeout=10)
        for base in (s.topo.api_urls[1], s.topo.url)
    ]
    try:
        name = f"Live {secrets.token_hex(3)}"
        async with s.api(s.topo.api_urls[0]) as first:
            made = await _ok(first.post("/api/v1/contacts", json={"name": name}), 201)
        for live in sockets:
            deadline = time.monotonic() + LIVE_BOUND_S
            while True:
                event = await live.event(within=max(0.01, deadline - time.monotonic()))
                if event["type"] == "contact.created" and event["data"]["id"] == made["id"]:
                    break
    finally:
        for live in sockets:
            await live.close()


async def test_deactivation_ends_the_session_on_the_other_process(setup: Setup) -> None:
    s = setup
    agent_id, email = await make_agent(s)
    r = await login(s.topo.api_urls[1], email)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    ws_url = s.topo.api_urls[1].replace("http", "ws", 1) + "/api/v1/ws"
    live = await connect(ws_url, token, open_timeout=10)
    bearer = {"Authorization": f"Bearer {token}"}
    async with s.api(s.topo.api_urls[1], bearer) as second:
        await _ok(second.get("/api/v1/auth/me"))  # its principal is cached on process 1
        async with s.api(s.topo.api_urls[0]) as first:
            off = {"is_active": False}
            await _ok(first.patch(f"/api/v1/agents/{agent_id}", json=off))
        r = await second.get("/api/v1/auth/me")
    assert r.status_code == 401, r.text
    code, _reason = await closed_with(live.ws, within=LIVE_BOUND_S)
    assert code == 4401


async def test_login_lockout_counts_across_processes(setup: Setup) -> None:
    s = setup
    _, email = await make_agent(s)
    answers = [
        (await login(s.topo.api_urls[n % 2], email, "wrong password")).status_code
        for n in range(5)  # OMNISTREAM_LOGIN_MAX_FAILURES, alternating the processes
    ]
    assert answers == [401] * 5
    for base in s.topo.api_urls:  # locked on both, even with the right password
        r = await login(base, email)
        assert r.status_code == 429, r.text


async def test_campaign_with_two_workers_reaches_each_recipient_once(setup: Setup) -> None:
    s = setup
    async with s.api() as http:
        templates = await _ok(http.get("/api/v1/templates", params={"q": TEMPLATE}))
        template = next(t for t in templates["items"] if t["name"] == TEMPLATE)
        body = {"name": "Topology", "integration_account_id": s.account_id,
                "template_id": template["id"],
                "variables": {"name": {"column": "name"}, "discount": {"value": "20%"}}}  # fmt: skip
        campaign = await _ok(http.post("/api/v1/campaigns", json=body), 201)
        phones = [f"+1650777{n:04d}" for n in range(30)]
        rows = "".join(f"{p},Customer {n}\n" for n, p in enumerate(phones))
        files = {"file": ("audience.csv", ("phone,name\n" + rows).encode(), "text/csv")}
        path = f"/api/v1/campaigns/{campaign['id']}"
        await _ok(http.put(f"{path}/audience/csv", files=files))
        await _ok(http.post(f"{path}/schedule", json={}))

        async def completed() -> bool:
            status: str = (await _ok(http.get(path)))["status"]
            return status == "completed"

        await until(completed, "the campaign's completion", within=60)
    messages = await s.sandbox.messages(account=s.account.external_id)
    sent = [m for m in messages if m["type"] == "template"]
    recipients = Counter("+" + str(m["to"]).lstrip("+") for m in sent)
    assert {p: recipients[p] for p in phones} == {p: 1 for p in phones}
    assert await s.sandbox.sends(account=s.account.external_id, duplicates=True) == []


async def test_outgoing_webhook_delivered_once(setup: Setup) -> None:
    s = setup
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with s.api() as http:
            hook = {"url": receiver.url(), "events": ["contact.created"]}
            await _ok(http.post("/api/v1/webhooks", json=hook), 201)
            made = await _ok(http.post("/api/v1/contacts", json={"name": "Hooked"}), 201)

        async def ours() -> list[Received]:
            return [r for r in receiver.at("/hook") if made["id"] in r.body.decode()]

        await until(ours, "the webhook's delivery")
        await asyncio.sleep(1.0)  # room for a second delivery, were one to come
        ids = Counter(r.headers.get("webhook-id") for r in await ours())
        assert len(ids) == 1 and set(ids.values()) == {1}, ids
    finally:
        await runner.cleanup()


async def test_lag_tolerant_reads_use_the_streaming_replica(setup: Setup) -> None:
    s = setup
    assert s.topo.replica_streaming()
    for base in s.topo.api_urls:
        async with s.api(base) as http:
            await _ok(http.get("/api/v1/activity"))  # a lag-tolerant read (read routing)
    assert s.topo.replica_sessions() > 0  # the APIs' read pools are on the replica
