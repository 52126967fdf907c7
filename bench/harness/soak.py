"""The soak on the topology (issue 18, bench/soak.py): mixed load through HAProxy for a
number of minutes, measured per minute (harness/soak_stats.py).

The set-up is the chaos run's (harness/chaos.py `prepare`: a WhatsApp integration on the
Graph API sandbox, an outgoing webhook for message.created to the local receiver, a few
scheduled messages, a started campaign), with the number's send rate set so that the
campaign (80 % of it) goes at the wanted rate and the campaign long enough to last the run.
Then, with no kills:
- inbound: customers write in through the sandbox (signed Meta webhooks to the front) at a
  fixed rate, open loop (message n is due at t0 + n / rate); latency: the sandbox call's
  start to the message.created event's publication (event_outbox.published_at);
- replies: an agent's POST .../messages at a fixed rate; latency: the POST's round trip;
- WebSocket clients in a process of their own (harness/soak_live.py); latency: arrival -
  the event's occurred_at;
- webhook deliveries: the receiver's arrival - the event's occurred_at (first arrival);
- resident memory of every process every 10 s (mean per minute): each API and worker, the
  PostgreSQL primary's and the replica's processes in all (postmaster and backends, PSS so
  shared buffers count once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from harness.chaos import ChaosConfig, Run, conversations_of, prepare
from harness.core import console, progress
from harness.soak_live import ClientProcess
from harness.soak_stats import Minutes, per_minute, quantile, verdicts
from harness.topology import Topology
from omnistream.sandbox.client import SandboxClient

IN_FLIGHT = 64  # requests of one kind (inbound sends, replies) at once


@dataclass
class SoakConfig(ChaosConfig):
    """ChaosConfig's set-up knobs plus the soak's rates; `seconds` is the load's length."""

    campaign_per_second: float = 200.0
    ws_clients: int = 200
    window_minutes: int = 5
    drain_within: float = 120.0

    @property
    def campaign_recipients(self) -> int:
        """Enough for the campaign's share of the number (80 %) to last the run; what is
        left at the end is cancelled."""
        return max(20, int(self.send_rate * 0.8 * self.seconds * 1.1))


@dataclass
class Soak:
    run: Run
    config: SoakConfig
    t0: float
    stats: Minutes
    sent: dict[str, float] = field(default_factory=dict)  # wamid -> when its send started
    rss: dict[str, dict[int, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    done: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    @property
    def topo(self) -> Topology:
        return self.run.topo


async def inbound(soak: Soak, until: float) -> None:
    """Customers write in at config.inbound_per_second; each send waits for its webhook's
    delivery (the sandbox retries), so several are in flight."""
    run, config, stats = soak.run, soak.config, soak.stats
    tasks: set[asyncio.Task[None]] = set()
    # At most IN_FLIGHT sends at once, waiting here rather than in httpx's pool (whose
    # queue costs O(waiting x connections) a request: a backlog there starves the loop).
    gate = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    http = httpx.AsyncClient(base_url=run.sandbox.url, timeout=30, trust_env=False, limits=limits)
    sandbox = SandboxClient(run.sandbox.url, http=http)

    async def one(n: int) -> None:
        phone = f"62813{n % config.customers:08d}"
        async with gate:
            started = time.time()
            try:
                sent = await sandbox.send_customer(run.account, phone, text=f"Soak {n}")
            except Exception as exc:
                stats.error("inbound", f"send_customer: {exc!r}"[:200], started)
                return
        soak.done["inbound_sent"][stats.minute(started)] += 1
        if sent["delivered"]:
            soak.sent[sent["message_id"]] = started
        else:
            stats.error("inbound", f"webhook never answered 2xx: {sent}"[:200], started)

    try:
        await _paced(config.inbound_per_second, until, one, tasks)
    finally:
        await http.aclose()


async def replies(soak: Soak, until: float) -> None:
    """An agent replies at config.replies_per_second in the conversations customers opened
    (concurrently when a POST is slow: the rate holds)."""
    run, stats = soak.run, soak.stats
    conversations = await conversations_of(run)
    tasks: set[asyncio.Task[None]] = set()
    gate = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(
        base_url=run.topo.url, headers=run.headers, timeout=30, trust_env=False, limits=limits
    ) as http:

        async def one(n: int) -> None:
            nonlocal conversations
            if n % 200 == 199:
                conversations = await conversations_of(run)
            path = f"/api/v1/conversations/{conversations[n % len(conversations)]}/messages"
            async with gate:
                started, clock = time.time(), time.monotonic()
                try:
                    r = await http.post(path, json={"type": "text", "text": f"Soak reply {n}"})
                except httpx.TransportError as exc:
                    stats.error("reply", f"{type(exc).__name__}: {exc}"[:200], started)
                    return
            stats.add("reply_api", started, time.monotonic() - clock)
            if r.status_code != 201:
                stats.error("reply", f"{r.status_code} {r.text[:200]}", started)
            else:
                soak.done["replies"][stats.minute(started)] += 1

        await _paced(soak.config.replies_per_second, until, one, tasks)


async def _paced(rate: float, until: float, one: Any, tasks: set[asyncio.Task[None]]) -> None:
    """one(n) started at start + n / rate (at once when behind) until `until`."""
    start, n = time.monotonic(), 0
    while (now := time.monotonic()) < until:
        due = start + n / rate
        if due > now:
            await asyncio.sleep(due - now)
        task = asyncio.create_task(one(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    if tasks:
        await asyncio.gather(*tasks)


def _tree_memory(pid: int | None, pss: bool) -> float | None:
    """MiB of a process and its descendants (RSS, or PSS for PostgreSQL's shared memory)."""
    if pid is None:
        return None
    try:
        root = psutil.Process(pid)
        total = 0
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_full_info().pss if pss else p.memory_info().rss
    except psutil.Error:
        return None
    return total / 2**20


def sample_memory(soak: Soak, extra: dict[str, int | None]) -> None:
    topo = soak.topo
    minute = soak.stats.minute(time.time())
    pids = {f"api{i}": (p.pid if p else None) for i, p in enumerate(topo.apis)}
    pids |= {f"worker{i}": (p.pid if p else None) for i, p in enumerate(topo.workers)}
    pids |= extra
    for name, pid in pids.items():
        value = _tree_memory(pid, False)
        if value is not None:
            soak.rss[name][minute].append(value)
    for name, server in (("postgres_primary", topo.primary), ("postgres_replica", topo.replica)):
        value = _tree_memory(server.pid, True)
        if value is not None:
            soak.rss[name][minute].append(value)


async def watch(soak: Soak, until: float, extra: dict[str, int | None], every: float) -> None:
    """Memory every `every` s, a progress bar and a line per minute, until `until`."""
    minute, total = 0, soak.config.seconds
    with progress() as bar:
        task = bar.add_task("soak", total=total)
        while time.monotonic() < until:
            await asyncio.to_thread(sample_memory, soak, extra)
            now = soak.stats.minute(time.time())
            if now != minute:
                console.log(_line(soak, minute))
                minute = now
            bar.update(task, completed=min(total, total - (until - time.monotonic())))
            await asyncio.sleep(min(every, max(0.0, until - time.monotonic())))
        bar.update(task, completed=total)


def _line(soak: Soak, minute: int) -> str:
    stats = soak.stats
    errors = sum(by.get(minute, 0) for by in stats.errors.values())
    hist = stats.hist["reply_api"].get(minute, Counter())
    return (
        f"minute {minute}: inbound sent {soak.done['inbound_sent'].get(minute, 0)}, "
        f"replies {soak.done['replies'].get(minute, 0)} (p99 {quantile(hist, 0.99)} ms), "
        f"errors {errors}"
    )


async def finish(soak: Soak, receiver_out: Path, within: float) -> dict[str, Any]:
    """After the load: cancel the campaign, wait (up to `within` s) until the inbound,
    outgoing webhook and event backlogs are empty, then read what the database and the
    receiver hold: inbound and webhook latencies, failed sends, work done per minute."""
    run, stats = soak.run, soak.stats
    async with httpx.AsyncClient(base_url=run.topo.url, headers=run.headers,
                                 timeout=30, trust_env=False) as http:  # fmt: skip
        r = await http.post(f"/api/v1/campaigns/{run.campaign_id}/cancel")
        if r.status_code not in (200, 409):  # 409: it completed already
            stats.error("harness", f"campaign cancel: {r.status_code} {r.text[:200]}")
    conn = await asyncpg.connect(run.topo.primary_dsn)
    try:
        backlog = await _drain(conn, within)
        rows = await conn.fetch(
            "SELECT m.channel_message_id AS wamid, extract(epoch FROM e.published_at) AS at "
            "FROM messages m JOIN event_outbox e ON e.type = 'message.created' "
            "AND e.data -> 'message' ->> 'id' = m.id::text "
            "WHERE m.direction = 'inbound' AND e.published_at IS NOT NULL"
        )
        published = {r["wamid"]: float(r["at"]) for r in rows}
        for wamid, started in soak.sent.items():
            if wamid in published:
                stats.add("inbound_e2e", started, published[wamid] - started)
            else:
                stats.error("inbound", f"{wamid} not applied", started)
        await _webhooks(conn, soak, receiver_out)
        await _failures(conn, soak)
    finally:
        await conn.close()
    return backlog


DRAIN = """
SELECT (SELECT count(*) FROM webhook_audit WHERE status = 'pending') AS inbound,
       (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS deliveries,
       (SELECT count(*) FROM event_outbox WHERE seq IS NULL OR published_at IS NULL)
         AS unpublished,
       (SELECT count(*) FROM messages WHERE direction = 'outbound' AND status = 'pending')
         AS outbound
"""


async def _drain(conn: asyncpg.Connection, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        state = dict(await conn.fetchrow(DRAIN) or {})
        if not any(state.values()) or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.5)


async def _webhooks(conn: asyncpg.Connection, soak: Soak, out: Path) -> None:
    async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
        (await http.get(soak.run.receiver + "/_dump")).raise_for_status()
    first: dict[str, float] = {}
    for line in (await asyncio.to_thread(out.read_text)).splitlines():
        at, path, webhook_id = line.split("\t")
        if path == "/healthy" and webhook_id not in first:
            first[webhook_id] = float(at)
    rows = await conn.fetch(
        "SELECT id::text, extract(epoch FROM occurred_at) AS at FROM event_outbox "
        "WHERE type = 'message.created' AND occurred_at >= to_timestamp($1)",
        soak.t0,
    )
    for row in rows:
        occurred = float(row["at"])
        if row["id"] in first:
            soak.stats.add("webhook_delivery", occurred, first[row["id"]] - occurred)
        else:
            soak.stats.error("webhook", f"event {row['id']} never delivered", occurred)


async def _failures(conn: asyncpg.Connection, soak: Soak) -> None:
    """Failed sends and deliveries as errors of their minute; work done per minute."""
    failed = await conn.fetch(
        """
        SELECT 'outbound' AS kind, extract(epoch FROM created_at) AS at FROM messages
         WHERE direction = 'outbound' AND status = 'failed'
        UNION ALL
        SELECT 'campaign', extract(epoch FROM coalesce(sent_at, now())) FROM campaign_recipients
         WHERE status = 'failed'
        UNION ALL
        SELECT 'webhook', extract(epoch FROM created_at) FROM webhook_deliveries
         WHERE status = 'failed'
        """
    )
    for row in failed:
        soak.stats.error(f"failed_{row['kind']}", f"a failed {row['kind']} send", float(row["at"]))
    done = await conn.fetch(
        """
        SELECT 'campaign_sent' AS kind, floor((extract(epoch FROM sent_at) - $1) / 60)::int AS m,
               count(*)::int AS n
          FROM campaign_recipients WHERE sent_at IS NOT NULL GROUP BY 1, 2
        UNION ALL
        SELECT 'inbound_applied', floor((extract(epoch FROM created_at) - $1) / 60)::int,
               count(*)::int FROM messages WHERE direction = 'inbound' GROUP BY 1, 2
        """,
        soak.t0,
    )
    for row in done:
        if row["m"] >= 0:
            soak.done[row["kind"]][row["m"]] += row["n"]


async def soak_run(
    topo: Topology, sandbox_url: str, receiver: str, arrivals: Path, config: SoakConfig,
    *, extra_pids: dict[str, int | None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Prepare, connect the WebSocket clients, load for config.seconds, finish; the report."""
    run = await prepare(topo, sandbox_url, receiver, config)
    token = run.headers["Authorization"].split()[1]
    ws_url = topo.url.replace("http://", "ws://") + "/api/v1/ws"
    clients = ClientProcess(ws_url, token, config.ws_clients, run.started_seq)
    clients.start()
    try:
        connected = await clients.wait_connected(max(60, config.ws_clients * 0.5))
        console.log(f"{connected} of {config.ws_clients} WebSocket clients connected")
        t0 = time.time()
        soak = Soak(run, config, t0, Minutes(t0))
        clients.begin(t0)
        until = time.monotonic() + config.seconds
        # Measured for the record, not judged: the load's own processes.
        extra = {"ws_clients": clients.pid, **(extra_pids or {})}
        await asyncio.gather(
            inbound(soak, until), replies(soak, until), watch(soak, until, extra, 10.0)
        )
        console.log("load done; draining")
        backlog = await finish(soak, arrivals, config.drain_within)
    finally:
        live = await clients.stop()
        await run.sandbox.aclose()
    soak.stats.merge(live["minutes"])
    minutes = max(1, round(config.seconds / 60))
    rss = {
        name: {m: round(sum(v) / len(v), 1) for m, v in by.items() if v}
        for name, by in soak.rss.items()
    }
    judged = {k: v for k, v in rss.items() if k not in extra}
    return {
        "ws_clients": {"connected": connected, "servers": live["servers"]},
        "backlog_after_drain": backlog,
        "per_minute": per_minute(soak.stats, minutes, rss, soak.done),
        "verdicts": verdicts(soak.stats, minutes, config.window_minutes, judged),
    }
