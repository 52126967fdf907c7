"""Chaos on the topology (issue 18): mixed load through HAProxy while a random API or
worker process is SIGKILLed and restarted every few seconds, then a check that nothing was
lost or done twice (harness/chaos_check.py). Shared by tests/topology/test_chaos.py (a
short run) and bench/chaos.py (2 minutes by default, JSON out).

The load, all through the topology's front (HAProxy):
- inbound: customers write in on a WhatsApp number of the Graph API sandbox, which POSTs
  Meta's signed webhooks to /webhooks/meta (retrying a failed POST with doubling delays);
- replies: an agent answers in the conversations the customers opened;
- a campaign (an approved template to CSV recipients, at the number's rate share);
- scheduled messages, due at random moments of the run;
- an outgoing webhook (message.created) to a local receiver (bench/webhooks_receiver.py);
- live-event clients (harness/live.py) that reconnect and resume after every kill.

Workers take a dead worker's claims over after OMNISTREAM_WORKER_TAKEOVER_GRACE_SECONDS
(short here, see TOPOLOGY_SETTINGS); the sandbox's `sent` statuses record a send the dead
worker had made but not written down before that.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from harness.core import ROOT, BenchError
from harness.live import LiveClient, top_seq
from harness.processes import Process, free_port, running, sandbox, wait_http
from harness.topology import Topology
from omnistream.sandbox.client import SandboxAccount, SandboxClient

TEMPLATE = "welcome_offer"  # a default sandbox template: Hi {{name}}, enjoy {{discount}} off
VARIABLES = {"name": {"column": "name"}, "discount": {"value": "20%"}}
GRACE_SECONDS = 3.0
# What the topology's processes need for a chaos run: a short takeover grace (a killed
# worker's claims are taken over this long after its death).
TOPOLOGY_SETTINGS = {"WORKER_TAKEOVER_GRACE_SECONDS": f"{GRACE_SECONDS:g}"}
# The sandbox: `sent` statuses at once (what records a send a killed worker made), and
# webhook POSTs retried long enough to outlast a kill (0.1 s doubling: 12.7 s in all).
SANDBOX_CONFIG = {
    "timing": {"sent_ms": 0, "delivered_ms": None, "read_ms": None},
    "webhook_retries": 7,
    "webhook_retry_ms": 100,
    "record_limit": 100_000,
}


@dataclass
class ChaosConfig:
    seconds: float = 120.0
    kill_every: tuple[float, float] = (5.0, 15.0)
    inbound_per_second: float = 8.0
    replies_per_second: float = 3.0
    customers: int = 30
    send_rate: int = 10  # the number's sends per second (the campaign takes 80 % of it)
    scheduled: int = 20
    live_clients: int = 2
    seed: int | None = None

    @property
    def campaign_recipients(self) -> int:
        """About 60 % of the run at the campaign's share of the rate."""
        return max(20, int(self.send_rate * 0.8 * self.seconds * 0.6))


@dataclass
class Run:
    """What the load made, for the check."""

    topo: Topology
    sandbox: SandboxClient
    account: SandboxAccount
    receiver: str
    headers: dict[str, str]
    admin_id: str
    campaign_id: str
    webhook_id: str
    scheduled_ids: list[str]
    started_seq: int
    clients: list[LiveClient]
    inbound: dict[str, bool] = field(default_factory=dict)  # wamid -> delivered by the sandbox
    replies: Counter[str] = field(default_factory=Counter)  # answer -> count
    kills: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def peers(workdir: Path) -> Iterator[tuple[Process, str]]:
    """The Graph API sandbox (a process) and the outgoing webhooks' receiver (a process):
    (the sandbox, the receiver's base URL)."""
    port, hang = free_port(), free_port()
    command = [sys.executable, str(ROOT / "bench" / "webhooks_receiver.py"), "--port", str(port),
               "--hang-port", str(hang), "--out", str(workdir / "arrivals.tsv")]  # fmt: skip
    with (
        sandbox(workdir, SANDBOX_CONFIG, instant=False) as graph,
        running(command, {}, workdir / "receiver.log", "receiver") as receiver,
    ):
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/_count", receiver, timeout=20)
        yield graph, url


async def _call(http: httpx.AsyncClient, method: str, path: str, expect: int, **kw: Any) -> Any:
    r = await http.request(method, path, **kw)
    if r.status_code != expect:
        raise BenchError(f"{method} {path}: {r.status_code} {r.text[:500]}")
    return r.json() if r.content else None


async def prepare(topo: Topology, sandbox_url: str, receiver: str, config: ChaosConfig) -> Run:
    """Over the API (through the front): a WhatsApp integration on the sandbox with its
    templates synced, the outgoing webhook, the scheduled messages' conversations, and a
    started campaign."""
    graph = SandboxClient(sandbox_url)
    async with httpx.AsyncClient(base_url=topo.url, timeout=60, trust_env=False) as http:
        login = {"email": topo.admin_email, "password": topo.admin_password}
        token = (await _call(http, "POST", "/api/v1/auth/login", 200, json=login))["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        me = await _call(http, "GET", "/api/v1/auth/me", 200)
        account = await graph.register_account(webhook_url=topo.url + "/webhooks/meta")
        credentials = {"access_token": account.access_token, "app_secret": account.app_secret,
                       "verify_token": "chaos", "waba_id": account.waba_id,
                       "base_url": sandbox_url}  # fmt: skip
        body = {"channel": "whatsapp", "name": "Chaos", "credentials": credentials}
        integration = (await _call(http, "POST", "/api/v1/integrations", 201, json=body))["id"]
        ours = await _call(
            http, "POST", f"/api/v1/integrations/{integration}/accounts", 201,
            json={"external_id": account.external_id, "send_rate_per_second": config.send_rate},
        )  # fmt: skip
        await _call(http, "POST", f"/api/v1/integrations/{integration}/templates/sync", 200)
        templates = await _call(http, "GET", "/api/v1/templates", 200, params={"q": TEMPLATE})
        template = next(t for t in templates["items"] if t["name"] == TEMPLATE)
        hook = {"url": receiver + "/healthy", "events": ["message.created"]}
        webhook = await _call(http, "POST", "/api/v1/webhooks", 201, json=hook)
        headers = {"Authorization": f"Bearer {token}"}
        run = Run(topo, graph, account, receiver, headers, str(me["id"]), "",
                  str(webhook["id"]), [], await top_seq(topo.primary_dsn), [])  # fmt: skip
        conversations = await _open_conversations(run, 5)
        run.scheduled_ids = await _schedule(http, conversations, config)
        try:
            await _connect_clients(run, config)  # before the campaign: HAProxy spreads them
            run.campaign_id = await _campaign(http, ours["id"], template["id"], config)
        except BaseException:
            for client in run.clients:
                await client.stop()
            raise
    return run


async def _campaign(
    http: httpx.AsyncClient, account_id: str, template_id: str, config: ChaosConfig
) -> str:
    """A campaign to config.campaign_recipients numbers, started; its id."""
    campaign = {"name": "Chaos", "integration_account_id": account_id,
                "template_id": template_id, "variables": VARIABLES}  # fmt: skip
    made = await _call(http, "POST", "/api/v1/campaigns", 201, json=campaign)
    rows = "".join(f"+1650555{n:04d},Customer {n}\n" for n in range(config.campaign_recipients))
    files = {"file": ("audience.csv", ("phone,name\n" + rows).encode(), "text/csv")}
    path = f"/api/v1/campaigns/{made['id']}"
    await _call(http, "PUT", f"{path}/audience/csv", 200, files=files)
    await _call(http, "POST", f"{path}/schedule", 200, json={})
    return str(made["id"])


async def _open_conversations(run: Run, count: int) -> list[str]:
    """`count` customers write in; their conversations' ids (once applied)."""
    for n in range(count):
        sent = await run.sandbox.send_customer(run.account, f"62811000{n:04d}", text="Halo")
        run.inbound[sent["message_id"]] = bool(sent["delivered"])
    deadline = time.monotonic() + 30
    while True:
        found = await conversations_of(run)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise BenchError(f"{len(found)} of {count} conversations opened within 30 s")
        await asyncio.sleep(0.1)


async def conversations_of(run: Run) -> list[str]:
    """The conversations customers wrote in (their window is open: replies may go out)."""
    conn = await asyncpg.connect(run.topo.primary_dsn)
    try:
        rows = await conn.fetch(
            "SELECT id::text FROM conversations WHERE last_inbound_at IS NOT NULL ORDER BY id"
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


async def _connect_clients(run: Run, config: ChaosConfig) -> None:
    """The live clients, connected through the front while nothing else is (so HAProxy's
    round robin puts them on every API process in turn)."""
    token = run.headers["Authorization"].split()[1]
    ws = run.topo.url.replace("http://", "ws://") + "/api/v1/ws"
    for n in range(config.live_clients):
        client = LiveClient(ws, token, run.started_seq, name=f"live{n}")
        client.start()
        run.clients.append(client)
    deadline = time.monotonic() + 30
    while not all(client.connections for client in run.clients):
        if time.monotonic() > deadline:
            raise BenchError(f"live clients not connected: {[c.report() for c in run.clients]}")
        await asyncio.sleep(0.05)


async def _schedule(
    http: httpx.AsyncClient, conversations: list[str], config: ChaosConfig
) -> list[str]:
    rng = random.Random(config.seed)
    made = []
    for n in range(config.scheduled):
        at = datetime.now(UTC) + timedelta(seconds=rng.uniform(3, max(4, config.seconds - 3)))
        body = {"type": "text", "text": f"Scheduled {n}", "scheduled_at": at.isoformat()}
        conversation = conversations[n % len(conversations)]
        path = f"/api/v1/conversations/{conversation}/scheduled-messages"
        made.append(str((await _call(http, "POST", path, 201, json=body))["id"]))
    return made


# The run -------------------------------------------------------------------------------


async def run_chaos(run: Run, config: ChaosConfig) -> None:
    """Load for config.seconds with kills every config.kill_every seconds; returns when
    the load stopped (the live clients keep running for the check)."""
    rng = random.Random(config.seed)
    until = time.monotonic() + config.seconds
    await asyncio.gather(
        _inbound(run, config, until, random.Random(rng.random())),
        _replies(run, config, until, random.Random(rng.random())),
        _kills(run, config, until, random.Random(rng.random())),
    )


async def _inbound(run: Run, config: ChaosConfig, until: float, rng: random.Random) -> None:
    """Customers write in at config.inbound_per_second (each send waits for its webhook's
    delivery, retries included, so several are in flight)."""
    tasks: set[asyncio.Task[None]] = set()

    async def one(n: int) -> None:
        phone = f"62812000{rng.randrange(config.customers):04d}"
        try:
            sent = await run.sandbox.send_customer(run.account, phone, text=f"Chaos {n}")
        except Exception as exc:  # a sandbox failure is the harness's, not OmniStream's
            run.errors.append(f"sandbox send_customer: {exc}")
            return
        run.inbound[sent["message_id"]] = bool(sent["delivered"])

    n = 0
    while time.monotonic() < until:
        task = asyncio.create_task(one(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
        await asyncio.sleep(rng.expovariate(config.inbound_per_second))
    if tasks:
        await asyncio.gather(*tasks)


async def _replies(run: Run, config: ChaosConfig, until: float, rng: random.Random) -> None:
    """An agent replies in the open conversations; a POST cut by a kill is counted by its
    answer (HAProxy's 502/503, or a transport error), never retried."""
    async with httpx.AsyncClient(
        base_url=run.topo.url, headers=run.headers, timeout=30, trust_env=False
    ) as http:
        n, conversations = 0, await conversations_of(run)
        while time.monotonic() < until:
            await asyncio.sleep(rng.expovariate(config.replies_per_second))
            if n % 20 == 0:  # the customers who wrote in since
                conversations = await conversations_of(run)
            path = f"/api/v1/conversations/{rng.choice(conversations)}/messages"
            try:
                r = await http.post(path, json={"type": "text", "text": f"Reply {n}"})
                answer = str(r.status_code)
                if r.status_code >= 500 and "json" in r.headers.get("content-type", ""):
                    run.errors.append(f"reply: {r.status_code} {r.text[:300]}")
            except httpx.TransportError as exc:
                answer = type(exc).__name__
            run.replies[answer] += 1
            n += 1


async def _kills(run: Run, config: ChaosConfig, until: float, rng: random.Random) -> None:
    """Every kill_every seconds: SIGKILL a random API or worker process that is up (the first
    two kills: one of each kind; never the last API up) and start it again in the
    background (a restart takes seconds on a busy machine: the next kill does not wait)."""
    topo = run.topo
    first = rng.sample(["api", "worker"], 2)
    restarting: dict[str, asyncio.Task[None]] = {}

    async def restart(name: str, kind: str, i: int) -> None:
        killed, at = time.monotonic(), time.time()
        await asyncio.to_thread(topo.start_api if kind == "api" else topo.start_worker, i)
        back = round(time.monotonic() - killed, 2)
        run.kills.append({"at": at, "process": name, "back_in_s": back})

    while True:
        await asyncio.sleep(rng.uniform(*config.kill_every))
        if time.monotonic() >= until:
            break
        up = [
            (kind, i)
            for kind, count in (("api", len(topo.apis)), ("worker", len(topo.workers)))
            for i in range(count)
            if f"{kind}{i}" not in restarting or restarting[f"{kind}{i}"].done()
        ]
        if sum(kind == "api" for kind, _ in up) < 2:  # HAProxy keeps one API to send to
            up = [(kind, i) for kind, i in up if kind == "worker"]
        if not up:
            continue
        wanted = first.pop() if first else rng.choice(["api", "worker"])
        kind, i = rng.choice([p for p in up if p[0] == wanted] or up)
        await asyncio.to_thread(topo.kill_api if kind == "api" else topo.kill_worker, i)
        name = f"{kind}{i}"
        restarting[name] = asyncio.create_task(restart(name, kind, i))
    await asyncio.gather(*restarting.values())
