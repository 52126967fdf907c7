"""Benchmark: realtime fan-out (issue 3) — WebSocket clients of one API process while events
are committed at a steady rate.

Creates a scratch database on a PostgreSQL server (default: the local one on
127.0.0.1:5432), starts ONE `omnistream serve` process (the hub; no worker loops in it) and
ONE `omnistream worker` process (the dispatcher) on it, creates an admin, supervisors and
agents spread over a few divisions over HTTP, signs each in and opens one WebSocket per
account (by default in a separate client process, see --client-procs). Then commits events
at a fixed rate from a paced generator, each in its own transaction through
omnistream.events.outbox.emit with an audience, and records the wall-clock time right after
each COMMIT returned. Every client records when each frame arrived (same machine, same
clock). At the end every socket's events are checked against the set it should receive
under the visibility rule (computed here independently): none lost, none twice, none
unexpected, seq strictly increasing. Prints one JSON object on stdout; progress goes to
stderr. The processes are stopped and the scratch database dropped at the end, also on
failure.

    .venv/bin/python bench/realtime.py [--clients 200] [--rate 500] [--duration 40]

Target (issue 3): commit-to-client p99 <= 150 ms over the measured events (after the
warm-up) and no event lost.

Latency is split with the database's own published_at (statement time of the dispatcher's
numbering statement, same machine clock): commit -> published (dispatcher) and
published -> client (hub read, fan-out, socket write, loopback, client parse).
Password hashing is made cheap on the bench server (argon2 settings) so that signing in
200 accounts takes seconds; the realtime path does not hash passwords.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import queue
import random
import re
import signal
import sys
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import harness
import httpx
import orjson
import uvloop
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.version import version as WEBSOCKETS_VERSION

from omnistream.conversations.visibility import state
from omnistream.db.pool import create_pool
from omnistream.events.outbox import emit
from omnistream.events.types import EventType

TARGET_P99_MS = 150.0
PASSWORD = "realtime-bench-" + "x" * 8
BenchError = harness.BenchError
console = harness.console
# Signing in 200 accounts must not take minutes; nothing on the realtime path hashes.
SERVER_SETTINGS = {
    "access_log": "false",
    "argon2_time_cost": "1",
    "argon2_memory_kib": "8192",
    "argon2_parallelism": "1",
}

# The event mix: kind -> share of events. "inbox" resembles a contact centre: most events
# concern a conversation assigned to one agent (seen by admins, the division's supervisors
# and that agent), some the division's unassigned queue (the whole division), a few move a
# conversation between divisions (both sides), a few have no division (everyone) and a few
# concern a contact only (admins and supervisors). "broadcast": every event to everyone.
MIXES: dict[str, dict[str, float]] = {
    "inbox": {"assigned": 0.70, "queue": 0.20, "transfer": 0.05, "lobby": 0.04, "contact": 0.01},
    "broadcast": {"lobby": 1.0},
}
KIND_TYPE = {
    "assigned": EventType.MESSAGE_CREATED,
    "queue": EventType.CONVERSATION_CREATED,
    "transfer": EventType.CONVERSATION_TRANSFERRED,
    "lobby": EventType.CONVERSATION_UPDATED,
    "contact": EventType.CONTACT_UPDATED,
}


def cpu_report(before: harness.CpuSnapshot, after: harness.CpuSnapshot) -> dict[str, float]:
    """% of one core over the window, per process group; `other`: the rest of the machine."""
    used = harness.cpu_used(before, after)
    out = {f"{name}_pct": harness.pct_of_core(used[name], used["wall"]) for name in after.procs}
    for key, name in (
        ("db_backends_pct", "db_backends"),
        ("interrupts_pct", "interrupts"),
        ("machine_busy_pct", "machine_busy"),
        ("other_pct", "other"),
    ):
        out[key] = harness.pct_of_core(used[name], used["wall"])
    return out


# --------------------------------------------------------------------------- accounts


@dataclass
class Account:
    index: int  # the socket number
    role: str
    email: str
    divisions: frozenset[str] = frozenset()
    agent_id: str = ""
    token: str = ""


def plan_accounts(clients: int, divisions: list[str]) -> list[Account]:
    """One admin, two supervisors per division (the last one in two divisions), then agents:
    agent j in division j % D, every 5th also in the next one, every 10th in none."""
    count = len(divisions)
    supervisors = min(2 * count, max(0, clients - 2))
    accounts = [Account(0, "admin", "")]
    divs: set[str]
    for s in range(supervisors):
        divs = {divisions[s % count]}
        if s == supervisors - 1 and count > 1:
            divs.add(divisions[(s + 1) % count])
        accounts.append(Account(len(accounts), "supervisor", "", frozenset(divs)))
    j = 0
    while len(accounts) < clients:
        if j % 10 == 9:
            divs = set()
        else:
            divs = {divisions[j % count]}
            if j % 5 == 4 and count > 1:
                divs.add(divisions[(j + 1) % count])
        accounts.append(Account(len(accounts), "agent", "", frozenset(divs)))
        j += 1
    for acct in accounts[1:]:
        acct.email = f"rt-{acct.role}-{acct.index:03d}@example.com"
    return accounts


def _ok(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise BenchError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


async def create_accounts(
    base: str, admin_email: str, admin_password: str, accounts: list[Account], division_count: int
) -> list[str]:
    """Divisions, accounts and memberships over HTTP as the admin; then every account signs
    in (POST /auth/login). Returns the division ids (accounts get theirs filled in)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        login = _ok(
            await client.post(
                "/api/v1/auth/login", json={"email": admin_email, "password": admin_password}
            ),
            "admin login",
        )
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        accounts[0].email, accounts[0].token = admin_email, login["access_token"]
        division_ids = []
        for d in range(division_count):
            body = _ok(
                await client.post(
                    "/api/v1/divisions", json={"name": f"Division {d + 1}"}, headers=headers
                ),
                "create division",
            )
            division_ids.append(body["id"])
        by_label = {f"d{d}": division_ids[d] for d in range(division_count)}
        for acct in accounts:
            acct.divisions = frozenset(by_label[d] for d in acct.divisions)
        gate = asyncio.Semaphore(8)

        async def one(acct: Account) -> None:
            async with gate:
                body = _ok(
                    await client.post(
                        "/api/v1/agents",
                        json={
                            "email": acct.email,
                            "name": f"Bench {acct.role} {acct.index}",
                            "role": acct.role,
                            "password": PASSWORD,
                        },
                        headers=headers,
                    ),
                    "create agent",
                )
                acct.agent_id = body["id"]
                for division_id in sorted(acct.divisions):
                    _ok(
                        await client.put(
                            f"/api/v1/divisions/{division_id}/members/{acct.agent_id}",
                            headers=headers,
                        ),
                        "add member",
                    )
                tokens = _ok(
                    await client.post(
                        "/api/v1/auth/login", json={"email": acct.email, "password": PASSWORD}
                    ),
                    "agent login",
                )
                acct.token = tokens["access_token"]

        await asyncio.gather(*(one(a) for a in accounts[1:]))
        me = _ok(await client.get("/api/v1/auth/me", headers=headers), "GET /auth/me")
        accounts[0].agent_id = me["id"]
    return division_ids


# --------------------------------------------------------------------------- visibility


def can_see(acct: Account, audience: tuple[tuple[str | None, str | None], ...]) -> bool:
    """docs/events.md "Who receives what", written out independently of the server's code."""
    if acct.role == "admin":
        return True
    if not audience:
        return acct.role == "supervisor"
    for division_id, assigned in audience:
        in_scope = division_id is None or division_id in acct.divisions
        if acct.role == "supervisor" and in_scope:
            return True
        if acct.role == "agent" and (assigned == acct.agent_id or (assigned is None and in_scope)):
            return True
    return False


# --------------------------------------------------------------------------- the schedule


@dataclass
class Planned:
    kind: str
    audience: tuple[tuple[str | None, str | None], ...]
    conversation_id: uuid.UUID
    data: dict[str, Any]


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000000+00:00"


def _conversation(conv_id: uuid.UUID, division: str | None, agent: str | None) -> dict[str, Any]:
    now = _iso(time.time())
    return {
        "id": str(conv_id),
        "contact_id": str(uuid.uuid4()),
        "assigned_agent_id": agent,
        "division_id": division,
        "channel": "whatsapp",
        "integration_account_id": "a4c6e8f0-2b4d-4f6a-8c0e-1d3f5a7b9c55",
        "status": "open",
        "last_message_at": now,
        "last_message_preview": "Halo, pesanan saya belum sampai, bisa dicek?",
        "last_inbound_at": now,
        "unread_count": 1,
        "created_at": now,
        "updated_at": now,
        "resolved_at": None,
    }


def _message(conv_id: uuid.UUID) -> dict[str, Any]:
    now = _iso(time.time())
    return {
        "id": str(uuid.uuid4()),
        "conversation_id": str(conv_id),
        "channel": "whatsapp",
        "channel_message_id": "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABIYIDNBQ0E=",
        "direction": "inbound",
        "type": "text",
        "content": {"text": "Halo, pesanan saya belum sampai, bisa dicek? Nomor pesanan 88123."},
        "reply_to_id": None,
        "media_id": None,
        "media": None,
        "status": "received",
        "sender_agent_id": None,
        "error_code": None,
        "error_reason": None,
        "attempts": 0,
        "next_attempt_at": None,
        "created_at": now,
        "sent_at": None,
        "delivered_at": None,
        "read_at": None,
        "failed_at": None,
    }


def plan_events(
    count: int, mix: dict[str, float], accounts: list[Account], divisions: list[str], seed: int
) -> list[Planned]:
    """The events to commit, with their audiences (realistic message/conversation payloads,
    about 1-2 KB of JSON each)."""
    rng = random.Random(seed)
    members: dict[str, list[str]] = {
        d: [a.agent_id for a in accounts if a.role == "agent" and d in a.divisions]
        for d in divisions
    }
    kinds, weights = list(mix), list(mix.values())
    planned = []
    for _ in range(count):
        kind = rng.choices(kinds, weights)[0]
        conv_id = uuid.uuid4()
        division = rng.choice(divisions)
        data: dict[str, Any]
        if kind == "assigned":
            agent = rng.choice(members[division]) if members[division] else None
            audience: tuple[tuple[str | None, str | None], ...] = ((division, agent),)
            data = {
                "message": _message(conv_id),
                "conversation": _conversation(conv_id, *audience[0]),
            }
        elif kind == "queue":
            audience = ((division, None),)
            data = {"conversation": _conversation(conv_id, division, None)}
        elif kind == "transfer":
            target = rng.choice([d for d in divisions if d != division] or divisions)
            agent = rng.choice(members[division]) if members[division] else None
            audience = ((division, agent), (target, None))
            conversation = _conversation(conv_id, target, None)
            data = {
                "conversation": conversation,
                "transfer": {
                    "id": str(uuid.uuid4()),
                    "conversation_id": str(conv_id),
                    "from_agent_id": agent,
                    "to_agent_id": None,
                    "from_division_id": division,
                    "to_division_id": target,
                    "transferred_by": agent,
                    "reason": "Billing question",
                    "transferred_at": conversation["updated_at"],
                },
            }
        elif kind == "lobby":
            audience = ((None, None),)
            data = {"conversation": _conversation(conv_id, None, None)}
        else:  # contact: no conversation state, admins and supervisors only
            audience = ()
            data = {"id": str(uuid.uuid4()), "name": "Budi Santoso", "phone": "6281234567890"}
        planned.append(Planned(kind, audience, conv_id, data))
    return planned


def audiences_to_sockets(planned: list[Planned], accounts: list[Account]) -> list[tuple[int, ...]]:
    """For each planned event, the sockets that must receive it."""
    cache: dict[tuple[tuple[str | None, str | None], ...], tuple[int, ...]] = {}
    out = []
    for event in planned:
        sockets = cache.get(event.audience)
        if sockets is None:
            sockets = tuple(a.index for a in accounts if can_see(a, event.audience))
            cache[event.audience] = sockets
        out.append(sockets)
    return out


# --------------------------------------------------------------------------- clients


class ClientSet:
    """Some of the WebSockets; each records (k, seq, receive time) of every bench event."""

    def __init__(
        self,
        url: str,
        sockets: list[tuple[int, str]],
        counts: Any,
        compression: str | None,
    ) -> None:
        self.url = url
        self.tokens = dict(sockets)
        self.counts = counts  # shared: frames received per socket index
        self.compression = compression
        self.ws: dict[int, Any] = {}
        self.ks: dict[int, array[int]] = {i: array("q") for i in self.tokens}
        self.seqs: dict[int, array[int]] = {i: array("q") for i in self.tokens}
        self.times: dict[int, array[int]] = {i: array("q") for i in self.tokens}
        self.closed: dict[int, str] = {}
        self.foreign = 0  # events not written by the generator (the probe)
        self.other_frames = 0
        self.stopping = False
        self.loop_lag_ms: array[float] = array("d")  # how late a 5 ms timer fires
        self._tasks: list[asyncio.Task[None]] = []

    async def connect_all(self, parallel: int = 16) -> list[str]:
        gate = asyncio.Semaphore(parallel)
        errors: list[str] = []

        async def one(index: int, token: str) -> None:
            async with gate:
                try:
                    self.ws[index] = await self._open(token)
                except Exception as exc:
                    errors.append(f"socket {index}: {type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(i, t) for i, t in self.tokens.items()))
        return errors

    async def _open(self, token: str) -> Any:
        ws = await websockets.connect(
            self.url,
            compression=self.compression,
            ping_interval=None,
            open_timeout=20,
            max_size=2**22,
        )
        await ws.send(orjson.dumps({"type": "auth", "access_token": token}).decode())
        await ws.send('{"type":"ping"}')  # live delivery starts at once (docs/events.md)
        ready = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
        if ready.get("type") != "ready":
            raise BenchError(f"expected a ready frame, got {ready}")
        while True:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
            if frame.get("type") == "pong":
                return ws
            self.foreign += 1

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._receive(i, ws)) for i, ws in self.ws.items()]
        self._tasks.append(loop.create_task(self._watch_loop()))

    async def _watch_loop(self) -> None:
        """Scheduling delay of this event loop: when it grows, the clients add latency."""
        clock = time.perf_counter  # uvloop's loop.time() has a 1 ms resolution
        while True:
            due = clock() + 0.005
            await asyncio.sleep(0.005)
            self.loop_lag_ms.append((clock() - due) * 1000)

    async def _receive(self, index: int, ws: Any) -> None:
        ks, seqs, times, counts = self.ks[index], self.seqs[index], self.times[index], self.counts
        loads, now = orjson.loads, time.time_ns
        try:
            async for raw in ws:
                t = now()
                frame = loads(raw)
                if frame.get("type") != "event":
                    self.other_frames += 1
                    continue
                event = frame["event"]
                mark = event["data"].get("bench")
                if mark is None:
                    self.foreign += 1
                    continue
                ks.append(mark["k"])
                seqs.append(event["seq"])
                times.append(t)
                counts[index] += 1
        except ConnectionClosed:
            pass
        if not self.stopping:
            self.closed[index] = f"{ws.close_code} {ws.close_reason or ''}".strip()

    async def stop(self) -> None:
        self.stopping = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await asyncio.gather(*(ws.close() for ws in self.ws.values()))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def results(self) -> dict[str, Any]:
        return {
            "sockets": {
                i: (self.ks[i].tobytes(), self.seqs[i].tobytes(), self.times[i].tobytes())
                for i in self.tokens
            },
            "closed": self.closed,
            "connected": sorted(self.ws),
            "foreign": self.foreign,
            "other_frames": self.other_frames,
            "loop_lag_ms": self.loop_lag_ms.tobytes(),
        }


def _run(coro: Any) -> Any:
    return uvloop.run(coro)


async def _interruptible(coro: Any) -> Any:
    """SIGINT / SIGTERM cancel the run (its finally blocks stop the clients), then surface as
    KeyboardInterrupt; a Python-level handler alone is not reliably called under uvloop."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await coro
    except asyncio.CancelledError:
        raise KeyboardInterrupt("interrupted") from None
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
            signal.signal(sig, harness.raise_interrupt)


def client_process(
    url: str,
    sockets: list[tuple[int, str]],
    counts: Any,
    compression: str | None,
    stop: Any,
    out: Any,
) -> None:
    """Entry point of a client process (spawned): connect, report, receive until `stop`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench process decides when to stop

    async def main() -> None:
        clients = ClientSet(url, sockets, counts, compression)
        errors = await clients.connect_all()
        out.put(("connected", os.getpid(), errors))
        clients.start()
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        await clients.stop()
        out.put(("result", os.getpid(), clients.results()))

    _run(main())


# --------------------------------------------------------------------------- the run


@dataclass
class RunState:
    commit_ns: array[int] = field(default_factory=lambda: array("q"))
    start_ns: array[int] = field(default_factory=lambda: array("q"))
    committed: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    max_lag_s: float = 0.0
    first_start: float = 0.0
    last_commit: float = 0.0
    publish_batches: int = 0  # dispatcher transactions that numbered bench events


async def generate(
    pool: Any,
    planned: list[Planned],
    rate: float,
    concurrency: int,
    state_: RunState,
) -> None:
    """Paced, open loop: event k starts at t0 + k/rate (late ones start at once), each in its
    own transaction; at most `concurrency` in flight."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    state_.commit_ns = array("q", bytes(8 * len(planned)))
    state_.start_ns = array("q", bytes(8 * len(planned)))
    pending: set[asyncio.Task[None]] = set()

    async def one(k: int, event: Planned) -> None:
        try:
            start = time.time_ns()
            data = {**event.data, "bench": {"k": k, "sent_ns": start}}
            async with pool.acquire() as conn:
                async with conn.transaction():
                    await emit(
                        conn,
                        KIND_TYPE[event.kind],
                        data,
                        actor=None,
                        conversation_id=event.conversation_id,
                        audience=[state(_u(d), _u(a)) for d, a in event.audience],
                    )
                state_.commit_ns[k] = time.time_ns()
            state_.start_ns[k] = start
            state_.committed += 1
        except Exception as exc:
            state_.failed += 1
            state_.errors[f"{type(exc).__name__}: {exc}"[:200]] += 1
        finally:
            gate.release()

    t0 = loop.time() + 0.05
    state_.first_start = time.time()
    for k, event in enumerate(planned):
        due = t0 + k / rate
        now = loop.time()
        if due > now:
            await asyncio.sleep(due - now)
        else:
            state_.max_lag_s = max(state_.max_lag_s, now - due)
        await gate.acquire()
        task = loop.create_task(one(k, event))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    state_.last_commit = time.time()


def _u(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


async def wait_dispatcher(pool: Any, within: float) -> None:
    """One probe event (no bench mark) must get its seq: the worker is dispatching."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            await emit(conn, EventType.CONVERSATION_UPDATED, {"probe": True}, actor=None)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            pending = await conn.fetchval("SELECT count(*) FROM event_outbox WHERE seq IS NULL")
            if pending == 0:
                return
            await asyncio.sleep(0.1)
    raise BenchError(f"the worker did not publish the probe event within {within:.0f} s")


def percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "n": len(ordered),
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "p999": at(0.999),
        "max": round(ordered[-1], 2),
        "mean": round(sum(ordered) / len(ordered), 2),
    }


@dataclass
class Setup:
    args: argparse.Namespace
    dsn: str
    database: str
    ws_url: str
    accounts: list[Account]
    planned: list[Planned]
    targets: list[tuple[int, ...]]
    warmup_events: int
    pids: dict[str, list[int]]


async def _from_clients(out: Any, kind: str, within: float = 120) -> Any:
    """The next message of a client process (its kind checked), or why there is none."""
    try:
        msg = await asyncio.get_running_loop().run_in_executor(None, out.get, True, within)
    except queue.Empty:
        what = f"no '{kind}' message from a client process within {within:.0f} s"
        raise BenchError(what) from None
    if msg[0] != kind:
        raise BenchError(f"a client process sent {msg[0]!r}, expected {kind!r}")
    return msg


async def run(setup: Setup) -> dict[str, Any]:
    args = setup.args
    pool = await create_pool(setup.dsn, args.generator_connections, args.generator_connections)
    procs: list[Any] = []
    stop_event: Any = None
    in_process: ClientSet | None = None
    try:
        with console.status("checking that the worker publishes (probe event)"):
            await wait_dispatcher(pool, 30)
        loop = asyncio.get_running_loop()
        compression = None if args.compression == "none" else "deflate"
        n = len(setup.accounts)
        sockets = [(a.index, a.token) for a in setup.accounts]
        ctx = mp.get_context("spawn")
        out: Any = None
        connect_errors: list[str] = []
        with console.status(f"opening {n} WebSockets ({args.client_procs or 'in'} process(es))"):
            if args.client_procs == 0:
                counts: Any = [0] * n
                in_process = ClientSet(setup.ws_url, sockets, counts, compression)
                connect_errors = await in_process.connect_all()
                in_process.start()
            else:
                counts = ctx.Array("q", n, lock=False)
                stop_event, out = ctx.Event(), ctx.Queue()
                for p in range(args.client_procs):
                    share = sockets[p :: args.client_procs]
                    proc = ctx.Process(
                        target=client_process,
                        args=(setup.ws_url, share, counts, compression, stop_event, out),
                        daemon=True,
                    )
                    proc.start()
                    procs.append(proc)
                for _ in procs:
                    connect_errors += (await _from_clients(out, "connected"))[2]
                setup.pids["clients"] = [p.pid for p in procs]
        if connect_errors:
            raise BenchError(f"{len(connect_errors)} sockets failed: {connect_errors[:5]}")
        console.log(f"{n} WebSockets open and live; committing {len(setup.planned)} events")
        await asyncio.sleep(1.0)  # let the connection burst settle

        state_ = RunState()
        total_expected_if_all = sum(len(t) for t in setup.targets)
        with harness.progress(counts=True) as progress:
            gen_task = progress.add_task(f"commit @ {args.rate:g}/s", total=len(setup.planned))
            rcv_task = progress.add_task("frames received", total=total_expected_if_all)

            def received() -> int:
                return int(sum(counts[i] for i in range(n)))

            async def show() -> None:
                while True:
                    progress.update(gen_task, completed=state_.committed)
                    progress.update(rcv_task, completed=received())
                    await asyncio.sleep(0.25)

            shower = loop.create_task(show())
            before = harness.CpuSnapshot.take(setup.pids, setup.database)
            try:
                async with asyncio.timeout(args.duration * 4 + 60):
                    await generate(
                        pool,
                        setup.planned,
                        args.rate,
                        args.generator_connections,
                        state_,
                    )
            except TimeoutError:
                raise BenchError("the generator did not finish in time") from None
            after = harness.CpuSnapshot.take(setup.pids, setup.database)
            # Expected frames per socket (events that committed).
            expected_counts = [0] * n
            for k, target in enumerate(setup.targets):
                if state_.commit_ns[k]:
                    for i in target:
                        expected_counts[i] += 1
            drain_started = time.monotonic()
            progress.update(rcv_task, total=sum(expected_counts))
            while time.monotonic() - drain_started < args.drain:
                if all(counts[i] >= expected_counts[i] for i in range(n)):
                    break
                if procs and any(p.exitcode is not None for p in procs):
                    break
                await asyncio.sleep(0.05)
            drained_s = time.monotonic() - drain_started
            shower.cancel()
            progress.update(gen_task, completed=state_.committed)
            progress.update(rcv_task, completed=received())

        # Collect.
        results: list[dict[str, Any]] = []
        if in_process is not None:
            await in_process.stop()
            results.append(in_process.results())
        else:
            stop_event.set()
            for _ in procs:
                results.append((await _from_clients(out, "result"))[2])
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT (data->'bench'->>'k')::int AS k, seq, "
                "(extract(epoch FROM published_at) * 1e6)::bigint AS pub_us, "
                "(extract(epoch FROM occurred_at) * 1e6)::bigint AS occ_us "
                "FROM event_outbox WHERE data ? 'bench'"
            )
            unpublished = await conn.fetchval("SELECT count(*) FROM event_outbox WHERE seq IS NULL")
            batches = await conn.fetchval(
                "SELECT count(DISTINCT published_at) FROM event_outbox WHERE data ? 'bench'"
            )
        state_.publish_batches = int(batches or 0)
        return analyse(
            setup, state_, results, rows, unpublished, expected_counts, before, after, drained_s
        )
    finally:
        if stop_event is not None:
            stop_event.set()
        for proc in procs:
            proc.join(timeout=15)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        if in_process is not None and not in_process.stopping:
            await in_process.stop()
        await pool.close()


def analyse(
    setup: Setup,
    st: RunState,
    results: list[dict[str, Any]],
    rows: list[Any],
    unpublished: int,
    expected_counts: list[int],
    before: harness.CpuSnapshot,
    after: harness.CpuSnapshot,
    drained_s: float,
) -> dict[str, Any]:
    args = setup.args
    pub_ns = {r["k"]: r["pub_us"] * 1000 for r in rows if r["pub_us"] is not None}
    occ_ns = {r["k"]: r["occ_us"] * 1000 for r in rows}
    seq_of = {r["k"]: r["seq"] for r in rows}
    warm = setup.warmup_events
    role_of = {a.index: a.role for a in setup.accounts}

    lost = duplicates = unexpected = out_of_order = seq_mismatch = delivered = 0
    lat_commit: list[float] = []
    lat_start: list[float] = []
    lat_pub_client: list[float] = []
    per_role: dict[str, list[float]] = {"admin": [], "supervisor": [], "agent": []}
    bucket_s = 5.0
    t_first = min((t for t in st.commit_ns if t), default=0)
    timeline: dict[int, list[float]] = {}
    worst_sockets: list[tuple[int, int]] = []
    closed: dict[int, str] = {}
    foreign = other_frames = 0
    loop_lag: list[float] = []
    expected_sets: dict[int, set[int]] = {a.index: set() for a in setup.accounts}
    for k, target in enumerate(setup.targets):
        if st.commit_ns[k]:
            for i in target:
                expected_sets[i].add(k)
    got_any: set[int] = set()
    for result in results:
        closed.update(result["closed"])
        foreign += result["foreign"]
        other_frames += result["other_frames"]
        lags = array("d")
        lags.frombytes(result["loop_lag_ms"])
        loop_lag.extend(lags)
        for index, (kb, sb, tb) in result["sockets"].items():
            got_any.add(index)
            ks, seqs, times = array("q"), array("q"), array("q")
            ks.frombytes(kb)
            seqs.frombytes(sb)
            times.frombytes(tb)
            delivered += len(ks)
            expect = expected_sets[index]
            seen: set[int] = set()
            last_seq = 0
            role_lat = per_role[role_of[index]]
            for k, seq, t in zip(ks, seqs, times, strict=True):
                if k in seen:
                    duplicates += 1
                    continue
                seen.add(k)
                if k not in expect:
                    unexpected += 1
                if seq <= last_seq:
                    out_of_order += 1
                last_seq = seq
                if seq_of.get(k) != seq:
                    seq_mismatch += 1
                if k >= warm and st.commit_ns[k]:
                    ms = (t - st.commit_ns[k]) / 1e6
                    lat_commit.append(ms)
                    role_lat.append(ms)
                    timeline.setdefault(
                        int((st.commit_ns[k] - t_first) / 1e9 / bucket_s), []
                    ).append(ms)
                    lat_start.append((t - st.start_ns[k]) / 1e6)
                    if k in pub_ns:
                        lat_pub_client.append((t - pub_ns[k]) / 1e6)
            missing = len(expect - seen)
            lost += missing
            if missing:
                worst_sockets.append((index, missing))
    never_reported = [i for i in expected_sets if i not in got_any]
    for i in never_reported:
        lost += len(expected_sets[i])
    lat_dispatch = [
        (pub_ns[k] - st.commit_ns[k]) / 1e6
        for k in range(warm, len(setup.planned))
        if st.commit_ns[k] and k in pub_ns
    ]
    lat_tx_publish = [
        (pub_ns[k] - occ_ns[k]) / 1e6
        for k in range(warm, len(setup.planned))
        if st.commit_ns[k] and k in pub_ns
    ]
    window = max(1e-6, st.last_commit - st.first_start)
    expected_total = sum(expected_counts)
    commit = percentiles(lat_commit)
    target_met = bool(
        commit.get("p99") is not None
        and float(commit["p99"]) <= TARGET_P99_MS
        and lost == 0
        and duplicates == 0
        and st.failed == 0
    )
    roles = Counter(a.role for a in setup.accounts)
    subset_share = {
        role: round(
            sum(expected_counts[a.index] for a in setup.accounts if a.role == role)
            / max(1, roles[role])
            / max(1, st.committed),
            3,
        )
        for role in roles
    }
    return {
        "benchmark": "realtime",
        "machine": setup.args.machine,
        "settings": {
            "clients": len(setup.accounts),
            "client_procs": args.client_procs,
            "client": f"websockets {WEBSOCKETS_VERSION} asyncio + uvloop, "
            f"compression {args.compression}",
            "rate_target_per_s": args.rate,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "mix": args.mix,
            "mix_shares": MIXES[args.mix],
            "divisions": args.divisions,
            "generator_connections": args.generator_connections,
            "server": "1 x `omnistream serve` (uvicorn, 1 process, no worker loops), "
            "log level WARNING, access log off",
            "worker": "1 x `omnistream worker` (dispatcher, housekeeping, outbound)",
            "seed": args.seed,
        },
        "population": {
            "roles": dict(roles),
            "agents_in_two_divisions": sum(
                1 for a in setup.accounts if a.role == "agent" and len(a.divisions) == 2
            ),
            "agents_without_division": sum(
                1 for a in setup.accounts if a.role == "agent" and not a.divisions
            ),
            "expected_share_of_events_per_socket": subset_share,
        },
        "events": {
            "scheduled": len(setup.planned),
            "committed": st.committed,
            "failed": st.failed,
            "errors": dict(st.errors.most_common(5)),
            "measured_after_warmup": max(0, st.committed - warm),
            "rate_achieved_per_s": round(st.committed / window, 1),
            "generator_max_lag_ms": round(st.max_lag_s * 1000, 1),
            "unpublished_at_end": unpublished,
            "dispatcher_batches": st.publish_batches,
            "events_per_dispatcher_batch": round(st.committed / max(1, st.publish_batches), 2),
            "approx_frame_bytes": _frame_size(setup.planned),
        },
        "delivery": {
            "expected": expected_total,
            "delivered": delivered,
            "lost": lost,
            "duplicates": duplicates,
            "unexpected": unexpected,
            "out_of_order": out_of_order,
            "seq_mismatch": seq_mismatch,
            "fanout_per_event": round(expected_total / max(1, st.committed), 1),
            "frames_per_s": round(expected_total / window, 0),
            "drain_s": round(drained_s, 2),
            "sockets_closed_by_server": {str(k): v for k, v in sorted(closed.items())[:10]},
            "sockets_closed_count": len(closed),
            "sockets_missing_events": len(worst_sockets),
            "foreign_events": foreign,
            "other_frames": other_frames,
        },
        "latency_ms": {
            "commit_to_client": commit,
            "tx_start_to_client": percentiles(lat_start),
            "commit_to_published": percentiles(lat_dispatch),
            "published_to_client": percentiles(lat_pub_client),
            "tx_start_to_published_db_clock": percentiles(lat_tx_publish),
            "client_event_loop_lag": percentiles(loop_lag),
            "commit_to_client_p99_by_role": {
                role: percentiles(values).get("p99") for role, values in per_role.items()
            },
            "commit_to_client_by_5s_of_commit_time": [
                {
                    "from_s": int(b * bucket_s),
                    "p50": percentiles(timeline[b])["p50"],
                    "p99": percentiles(timeline[b])["p99"],
                }
                for b in sorted(timeline)
            ],
        },
        "cpu_pct_of_one_core": cpu_report(before, after),
        "target": {
            "commit_to_client_p99_ms_at_most": TARGET_P99_MS,
            "zero_loss": True,
            "met": target_met,
        },
    }


def _frame_size(planned: list[Planned]) -> int:
    if not planned:
        return 0
    sample = planned[: min(200, len(planned))]
    body = sum(len(orjson.dumps(p.data)) for p in sample) / len(sample)
    return int(body + 330)  # the envelope around data: id, seq, type, actor, dates, bench mark


# --------------------------------------------------------------------------- main


def bench(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = harness.load_average()
    with harness.api_on_scratch(
        args.database_url, "omnistream_rt", port=args.port, settings=SERVER_SETTINGS
    ) as api:
        server, db, workdir, port, base = api.server, api.db, api.workdir, api.port, api.base
        args.machine = harness.machine_facts(
            db.postgres_version, load_at_start, websockets_client=WEBSOCKETS_VERSION
        )
        env = harness.omnistream_env(db.dsn, port, workdir, **SERVER_SETTINGS)
        with harness.omnistream(["worker"], env, workdir, "worker") as worker:
            labels = [f"d{d}" for d in range(args.divisions)]
            accounts = plan_accounts(args.clients, labels)
            with console.status(f"creating and signing in {len(accounts)} accounts over HTTP"):
                email, password = harness.admin_credentials(server.log_path)
                started = time.monotonic()
                division_ids = asyncio.run(
                    create_accounts(base, email, password, accounts, args.divisions)
                )
                signin_s = time.monotonic() - started
            console.log(
                f"server ready in {server.ready_s or 0.0:.1f} s; {len(accounts)} accounts "
                f"signed in in {signin_s:.1f} s"
            )
            reference = harness.hello_reference(
                base, args.reference_duration, server_pid=server.pid
            )
            total = int(args.rate * (args.duration + args.warmup))
            planned = plan_events(total, MIXES[args.mix], accounts, division_ids, args.seed)
            targets = audiences_to_sockets(planned, accounts)
            setup = Setup(
                args=args,
                dsn=db.dsn,
                database=db.name,
                ws_url=f"ws://127.0.0.1:{port}/api/v1/ws",
                accounts=accounts,
                planned=planned,
                targets=targets,
                warmup_events=int(args.rate * args.warmup),
                pids={"server": [server.pid], "worker": [worker.pid], "bench": [os.getpid()]},
            )
            result: dict[str, Any] = _run(_interruptible(run(setup)))
            server.check_alive()
            worker.check_alive()
            result["reference"] = reference
            result["settings"]["server_ready_s"] = round(server.ready_s or 0.0, 2)
            result["settings"]["signin_s"] = round(signin_s, 2)
            warnings = [
                line[:300]
                for path in (server.log_path, worker.log_path)
                for line in path.read_text(errors="replace").splitlines()
                if re.search(r'"level":\s*"(warning|error|critical)"', line)
            ]
            result["server_warnings"] = {"count": len(warnings), "first": warnings[:3]}
            return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, harness.port_options(), harness.server_options())
    parser.add_argument("--clients", type=int, default=200, help="WebSockets (one per account)")
    parser.add_argument("--rate", type=float, default=500.0, help="events committed per second")
    parser.add_argument("--duration", type=int, default=40, help="measured seconds")
    parser.add_argument("--warmup", type=int, default=5, help="seconds not counted in latency")
    parser.add_argument("--divisions", type=int, default=4)
    parser.add_argument("--mix", choices=sorted(MIXES), default="inbox", help="event audiences")
    parser.add_argument(
        "--client-procs",
        type=int,
        default=1,
        help="processes holding the WebSockets (0: in the bench process, on the generator's "
        "event loop)",
    )
    parser.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="permessage-deflate offered by the clients (browsers offer it; the server accepts)",
    )
    parser.add_argument("--generator-connections", type=int, default=8)
    parser.add_argument("--drain", type=float, default=15.0, help="max seconds to wait at the end")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    if args.clients < 2 or args.rate <= 0 or args.duration <= 0 or args.divisions < 1:
        parser.error("--clients >= 2, --rate, --duration and --divisions must be positive")
    if args.client_procs < 0 or args.generator_connections < 1 or args.warmup < 0:
        parser.error("--client-procs, --warmup >= 0 and --generator-connections >= 1")
    return args


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
