"""GET /api/v1/ws end to end: the real app under uvicorn on loopback, the real dispatcher
loop, and the `websockets` client. Events are emitted with emit() in real transactions."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from omnistream.auth.permissions import MATRIX, Perm
from omnistream.auth.tokens import issue_access
from omnistream.auth.worker import housekeeping_tick
from omnistream.context import AppContext
from omnistream.conversations.visibility import state
from omnistream.events import socket as live
from omnistream.events.dispatcher import dispatcher_loop
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.enums import Role
from tests import factories
from tests.conftest import Actors

EVERYONE = [state(None, None)]


@pytest.fixture(scope="module")
async def server(app) -> AsyncIterator[str]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False
    )
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}/api/v1/ws"
    srv.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.fixture(scope="module", autouse=True)
async def dispatcher(ctx: AppContext) -> AsyncIterator[None]:
    """The real dispatcher loop, as `omnistream worker` runs it."""
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher_loop(ctx.pool, ctx.settings, stop))
    yield
    stop.set()
    await asyncio.wait_for(task, 5)


# Client helpers --------------------------------------------------------------------------


class Live:
    def __init__(self, ws: ClientConnection, ready: dict[str, Any]) -> None:
        self.ws = ws
        self.ready = ready

    async def frame(self, within: float = 2.0) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), within))
        return value

    async def event(self, within: float = 2.0) -> dict[str, Any]:
        frame = await self.frame(within)
        assert frame["type"] == "event", frame
        value: dict[str, Any] = frame["event"]
        return value

    async def silent(self, seconds: float) -> None:
        """Nothing arrives for this long."""
        with pytest.raises(TimeoutError):
            frame = await asyncio.wait_for(self.ws.recv(), seconds)
            pytest.fail(f"unexpected frame {frame}")

    async def until(self, label: str, within: float = 3.0) -> list[dict[str, Any]]:
        """Events up to and including the one labelled `label`."""
        got: list[dict[str, Any]] = []
        while not got or got[-1]["data"].get("label") != label:
            got.append(await self.event(within))
        return got

    async def close(self) -> None:
        await self.ws.close()


async def connect(
    url: str, token: str, *, after_seq: int | None = None, start: bool = True, **kw: Any
) -> Live:
    """Authenticates; resumes after `after_seq`, or (start) pings so live events begin at
    once instead of after the resume window."""
    ws = await websockets.connect(url, **kw)
    await ws.send(json.dumps({"type": "auth", "access_token": token}))
    if after_seq is not None:
        await ws.send(json.dumps({"type": "resume", "after_seq": after_seq}))
    elif start:
        await ws.send(json.dumps({"type": "ping"}))
    ready = json.loads(await asyncio.wait_for(ws.recv(), 3))
    assert ready["type"] == "ready" and isinstance(ready["seq"], int), ready
    client = Live(ws, ready)
    if after_seq is None and start:
        assert await client.frame() == {"type": "pong"}
    return client


async def closed_with(ws: ClientConnection, within: float = 3.0) -> tuple[int, str]:
    """Reads on until the server closes; its close code and reason."""
    try:
        async with asyncio.timeout(within):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        assert exc.rcvd is not None, "closed without a close frame"
        return exc.rcvd.code, exc.rcvd.reason
    raise AssertionError("unreachable")


async def emit_one(
    ctx: AppContext,
    label: str,
    audience: list[dict[str, Any]] | None = None,
    event_type: EventType = EventType.CONVERSATION_UPDATED,
    data: dict[str, Any] | None = None,
) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        await emit(
            conn,
            event_type,
            {"label": label, **(data or {})},
            actor=None,
            audience=EVERYONE if audience is None else audience,
        )


async def all_published(ctx: AppContext, within: float = 5.0) -> None:
    """Every event is published and this process's hub has read it (so a resume that
    starts now replays all of them rather than getting some as live events)."""
    deadline = time.monotonic() + within
    while True:
        async with ctx.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE seq IS NULL) AS pending, max(seq) AS top "
                "FROM event_outbox"
            )
        if not row["pending"] and ctx.hub.last_seq >= (row["top"] or 0):
            return
        assert time.monotonic() < deadline, "the dispatcher did not publish"
        await asyncio.sleep(0.01)


def labels(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["label"] for e in events]


def assert_increasing(events: list[dict[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), seqs


# Delivery --------------------------------------------------------------------------------


async def test_an_event_arrives_after_commit_not_before(server, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    client = await connect(server, agent.token)
    try:
        async with ctx.pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            await emit(
                conn, EventType.MESSAGE_CREATED, {"label": "m1"}, actor=None, audience=EVERYONE
            )
            await client.silent(0.3)  # inserted, not committed: nothing may go out
            await tx.commit()
            committed = time.perf_counter()
        event = await client.event(1.0)
        latency = time.perf_counter() - committed
        assert set(event) == {"id", "seq", "type", "occurred_at", "actor", "data", "version"}
        assert event["type"] == "message.created" and event["data"] == {"label": "m1"}
        assert event["actor"] == {"type": "system"} and event["version"] == 1
        assert event["seq"] > client.ready["seq"]
        assert latency < 1.0
        uuid.UUID(event["id"])
    finally:
        await client.close()


async def test_a_rolled_back_event_is_never_delivered(server, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    client = await connect(server, agent.token)
    try:
        with pytest.raises(RuntimeError):
            async with ctx.pool.acquire() as conn, conn.transaction():
                await emit(conn, EventType.NOTE_CREATED, {"label": "x"}, actor=None)
                raise RuntimeError("roll back")
        await emit_one(ctx, "kept")
        assert labels([await client.event()]) == ["kept"]  # the rolled-back one never came
        await client.silent(0.2)
    finally:
        await client.close()


async def test_delivery_latency(server, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    client = await connect(server, agent.token)
    latencies = []
    try:
        for i in range(40):
            await emit_one(ctx, f"l{i}")
            committed = time.perf_counter()
            event = await client.event(1.0)
            latencies.append(time.perf_counter() - committed)
            assert event["data"]["label"] == f"l{i}"
    finally:
        await client.close()
    latencies.sort()
    p50, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]
    print(f"\ncommit -> socket latency: p50 {p50 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")
    assert p99 < 1.0


async def test_live_events_start_after_the_resume_window(server, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    client = await connect(server, agent.token, start=False)  # sends nothing after auth
    try:
        await emit_one(ctx, "w")
        assert labels([await client.event(live.RESUME_WINDOW_SECONDS + 1.5)]) == ["w"]
    finally:
        await client.close()


# Resume ----------------------------------------------------------------------------------


async def test_resume_after_a_disconnect_has_no_gap_and_no_duplicate(
    server, ctx, actors: Actors
) -> None:
    agent = await actors.make("agent")
    client = await connect(server, agent.token)
    await emit_one(ctx, "e0")
    first = await client.event()
    await client.close()
    for i in range(1, 6):
        await emit_one(ctx, f"e{i}")
    await emit_one(ctx, "hidden", [state(uuid.uuid4(), None)])  # not for this agent
    await all_published(ctx)

    again = await connect(server, agent.token, after_seq=first["seq"])
    try:
        replayed = [await again.event() for _ in range(5)]
        done = await again.frame()
        assert labels(replayed) == ["e1", "e2", "e3", "e4", "e5"]
        assert_increasing([first, *replayed])
        assert done["type"] == "resumed" and done["replayed"] == 5
        assert done["seq"] == again.ready["seq"] >= replayed[-1]["seq"]
        await emit_one(ctx, "e6")
        live_one = await again.event()
        assert labels([live_one]) == ["e6"] and live_one["seq"] > replayed[-1]["seq"]
        await again.silent(0.2)
    finally:
        await again.close()


async def test_resume_while_events_keep_coming(server, ctx, actors: Actors) -> None:
    """A replay longer than one page, with live events published during it: each exactly
    once, in seq order (live ones wait until the replay is done)."""
    agent = await actors.make("agent")
    client = await connect(server, agent.token)
    start = client.ready["seq"]
    await client.close()
    async with ctx.pool.acquire() as conn, conn.transaction():
        for i in range(700):
            await emit(
                conn, EventType.MESSAGE_CREATED, {"label": f"r{i}"}, actor=None, audience=EVERYONE
            )
    await all_published(ctx)

    async def more() -> None:
        for i in range(30):
            await emit_one(ctx, f"live{i}")

    producer = asyncio.create_task(more())
    again = await connect(server, agent.token, after_seq=start)
    try:
        got: list[dict[str, Any]] = []
        resumed, replayed = None, 0
        while len(got) < 730:
            frame = await again.frame(5)
            if frame["type"] == "resumed":
                resumed, replayed = frame, len(got)
                continue
            assert frame["type"] == "event", frame
            got.append(frame["event"])
        await producer
        assert resumed is not None and resumed["replayed"] == replayed >= 700
        start_of_live = again.ready["seq"]
        assert resumed["seq"] == start_of_live
        assert all(
            e["seq"] <= start_of_live < f["seq"] for e in got[:replayed] for f in got[replayed:]
        )
        assert_increasing(got)
        assert sorted(labels(got)) == sorted(
            [f"r{i}" for i in range(700)] + [f"live{i}" for i in range(30)]
        )
        assert labels(got)[:700] == [f"r{i}" for i in range(700)]
        await again.silent(0.2)
    finally:
        producer.cancel()
        await again.close()


async def test_a_resume_sent_after_ready_still_precedes_live_events(
    server, ctx, actors: Actors
) -> None:
    """Live events wait for the resume window: a resume that arrives after an event was
    already queued for the socket still gets its replay first."""
    agent = await actors.make("agent")
    client = await connect(server, agent.token)
    before = client.ready["seq"]
    await client.close()
    await emit_one(ctx, "missed")
    await all_published(ctx)
    ws = await websockets.connect(server)
    try:
        await ws.send(json.dumps({"type": "auth", "access_token": agent.token}))
        ready = json.loads(await ws.recv())
        await emit_one(ctx, "live")
        await all_published(ctx)  # queued for this socket by now
        await ws.send(json.dumps({"type": "resume", "after_seq": before}))
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 2)) for _ in range(3)]
        assert [f["type"] for f in frames] == ["event", "resumed", "event"]
        assert labels([frames[0]["event"], frames[2]["event"]]) == ["missed", "live"]
        assert frames[0]["event"]["seq"] <= ready["seq"] < frames[2]["event"]["seq"]
    finally:
        await ws.close()


async def test_out_of_order_commits_deliver_both_and_resume_never_skips(
    server, ctx, actors: Actors
) -> None:
    agent = await actors.make("agent")
    client = await connect(server, agent.token)
    start = client.ready["seq"]
    try:
        async with ctx.pool.acquire() as conn_a:
            tx_a = conn_a.transaction()
            await tx_a.start()
            await emit(
                conn_a, EventType.MESSAGE_CREATED, {"label": "A"}, actor=None, audience=EVERYONE
            )
            await emit_one(ctx, "B")  # inserted after A, committed first
            b = await client.event()
            assert labels([b]) == ["B"]
            await tx_a.commit()
        a = await client.event()
        assert labels([a]) == ["A"] and a["seq"] > b["seq"]
    finally:
        await client.close()
    for after, expected in ((start, ["B", "A"]), (b["seq"], ["A"])):
        again = await connect(server, agent.token, after_seq=after)
        try:
            replay = [await again.event() for _ in expected]
            assert labels(replay) == expected
            assert (await again.frame())["type"] == "resumed"
        finally:
            await again.close()


async def test_resume_older_than_retention_reports_the_gap(server, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    client = await connect(server, agent.token)
    start = client.ready["seq"]
    await client.close()
    for label in ("gone1", "gone2", "kept"):
        await emit_one(ctx, label)
    await all_published(ctx)
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE event_outbox SET occurred_at = now() - interval '100 days', "
            "published_at = now() - interval '100 days' WHERE data->>'label' LIKE 'gone%'"
        )
        kept_seq = await conn.fetchval("SELECT seq FROM event_outbox WHERE data->>'label' = 'kept'")
    removed = await housekeeping_tick(ctx.pool, ctx.settings)
    assert removed is not None and removed["events"] == 2

    again = await connect(server, agent.token, after_seq=start)
    try:
        gap = await again.frame()
        assert gap["type"] == "resume_gap" and gap["after_seq"] == start
        assert gap["oldest_seq"] == kept_seq and "retention" in gap["detail"]
        assert labels([await again.event()]) == ["kept"]
        assert (await again.frame())["type"] == "resumed"
    finally:
        await again.close()
    # Resuming from a seq still kept reports no gap.
    again = await connect(server, agent.token, after_seq=kept_seq - 1)
    try:
        assert labels([await again.event()]) == ["kept"]
    finally:
        await again.close()


async def test_a_late_resume_is_refused(server, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    client = await connect(server, agent.token)
    await emit_one(ctx, "live")
    await client.event()
    await client.ws.send(json.dumps({"type": "resume", "after_seq": 0}))
    code, reason = await closed_with(client.ws)
    assert code == live.BAD_FRAME and "resume" in reason


# Visibility ------------------------------------------------------------------------------


async def test_each_agent_receives_only_what_they_may_see(server, ctx, actors: Actors) -> None:
    d1, d2 = await factories.division(ctx), await factories.division(ctx)
    agent1 = await actors.make("agent", divisions=[d1])
    agent2 = await actors.make("agent", divisions=[d2])
    other = await actors.make("agent", divisions=[d1], login=False)
    supervisor = await actors.make("supervisor", divisions=[d1])
    admin = await actors.make("admin")
    who = {"agent1": agent1, "agent2": agent2, "supervisor": supervisor, "admin": admin}
    clients = {name: await connect(server, a.token) for name, a in who.items()}
    try:
        await emit_one(ctx, "d1", [state(d1, None)])
        await emit_one(ctx, "d2", [state(d2, None)])
        await emit_one(ctx, "mine-in-d2", [state(d2, agent1.id)])
        await emit_one(ctx, "others-in-d1", [state(d1, other.id)])
        await emit_one(ctx, "managers-only", [])
        await emit_one(ctx, "end", EVERYONE)
        got = {name: labels(await c.until("end")) for name, c in clients.items()}
    finally:
        for c in clients.values():
            await c.close()
    assert got["agent1"] == ["d1", "mine-in-d2", "end"]
    assert got["agent2"] == ["d2", "end"]
    assert got["supervisor"] == ["d1", "others-in-d1", "managers-only", "end"]
    assert got["admin"] == ["d1", "d2", "mine-in-d2", "others-in-d1", "managers-only", "end"]

    # A replay applies the same rule.
    start = clients["agent1"].ready["seq"]
    again = await connect(server, agent1.token, after_seq=start)
    try:
        assert labels([await again.event() for _ in range(3)]) == ["d1", "mine-in-d2", "end"]
        assert (await again.frame())["type"] == "resumed"
    finally:
        await again.close()


async def test_after_a_transfer_out_of_my_division_events_stop(server, ctx, actors: Actors) -> None:
    d1, d2 = await factories.division(ctx), await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d1])
    client = await connect(server, agent.token)
    try:
        await emit_one(ctx, "before", [state(d1, None)])
        await emit_one(
            ctx, "transfer", [state(d1, None), state(d2, None)], EventType.CONVERSATION_TRANSFERRED
        )
        await emit_one(ctx, "after", [state(d2, None)], EventType.MESSAGE_CREATED)
        await emit_one(ctx, "elsewhere", [state(d1, None)])
        got = await client.until("elsewhere")
        assert labels(got) == ["before", "transfer", "elsewhere"]
        assert got[1]["type"] == "conversation.transferred"
    finally:
        await client.close()


async def test_a_division_change_applies_to_the_open_socket(server, ctx, actors: Actors) -> None:
    d1 = await factories.division(ctx)
    agent = await actors.make("agent")
    client = await connect(server, agent.token)
    try:
        await emit_one(ctx, "not-yet", [state(d1, None)])
        await emit_one(ctx, "marker")
        assert labels(await client.until("marker")) == ["marker"]
        async with ctx.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO agent_divisions (agent_id, division_id) VALUES ($1, $2)", agent.id, d1
            )
            await conn.execute("SELECT pg_notify('omnistream_auth', $1)", str(agent.id))
        deadline = time.monotonic() + 3
        while True:  # the socket re-checks its principal on the notification
            await emit_one(ctx, "now", [state(d1, None)])
            await emit_one(ctx, "marker2")
            if "now" in labels(await client.until("marker2")):
                break
            assert time.monotonic() < deadline, "the new division never applied"
    finally:
        await client.close()


# Authentication --------------------------------------------------------------------------


async def _first_frame_closes(server: str, frame: str | None) -> tuple[int, str]:
    ws = await websockets.connect(server)
    try:
        if frame is not None:
            await ws.send(frame)
        return await closed_with(ws)
    finally:
        await ws.close()


async def test_auth_frame_missing_wrong_or_late(
    server, ctx, actors: Actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = await actors.make("agent")
    monkeypatch.setattr(live, "AUTH_TIMEOUT_SECONDS", 0.3)
    started = time.monotonic()
    code, reason = await _first_frame_closes(server, None)
    assert (code, time.monotonic() - started < 2) == (live.AUTH_TIMEOUT, True)
    assert "auth" in reason

    code, reason = await _first_frame_closes(server, json.dumps({"type": "ping"}))
    assert code == live.UNAUTHORIZED and "first frame" in reason
    code, reason = await _first_frame_closes(server, "not json")
    assert code == live.UNAUTHORIZED
    code, reason = await _first_frame_closes(
        server, json.dumps({"type": "auth", "access_token": "nonsense"})
    )
    assert code == live.UNAUTHORIZED and "invalid" in reason

    claims = jwt.decode(agent.token, options={"verify_signature": False})
    expired = jwt.encode(
        {**claims, "iat": int(time.time()) - 1000, "exp": int(time.time()) - 10},
        ctx.settings.signing_key,
        algorithm="HS256",
    )
    code, reason = await _first_frame_closes(
        server, json.dumps({"type": "auth", "access_token": expired})
    )
    assert code == live.UNAUTHORIZED and "expired" in reason

    # And a good frame is accepted (the cases above failed for their reason).
    client = await connect(server, agent.token)
    await client.close()


async def test_a_role_without_the_permission_is_forbidden(
    server, actors: Actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = await actors.make("agent")
    monkeypatch.setitem(MATRIX, Role.AGENT, MATRIX[Role.AGENT] - {Perm.CONVERSATIONS_READ})
    code, reason = await _first_frame_closes(
        server, json.dumps({"type": "auth", "access_token": agent.token})
    )
    assert code == live.FORBIDDEN and "conversations.read" in reason


async def test_token_expiry_closes_the_socket(server, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    claims = jwt.decode(agent.token, options={"verify_signature": False})
    short = issue_access(
        ctx.settings.signing_key, agent.id, uuid.UUID(claims["sid"]), ttl_seconds=2
    )
    client = await connect(server, short)
    assert (
        client.ready["expires_at"] == jwt.decode(short, options={"verify_signature": False})["exp"]
    )
    code, reason = await closed_with(client.ws, 3.5)
    assert code == live.UNAUTHORIZED and "expired" in reason


async def test_a_fresh_token_keeps_the_socket_open(server, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    other = await actors.make("agent")
    client = await connect(server, agent.token)
    try:
        fresh = (await actors.login(agent)).token
        await client.ws.send(json.dumps({"type": "auth", "access_token": fresh}))
        ok = await client.frame()
        assert ok["type"] == "auth_ok" and ok["expires_at"] > time.time()
        await client.ws.send(json.dumps({"type": "auth", "access_token": other.token}))
        code, reason = await closed_with(client.ws)
        assert code == live.UNAUTHORIZED and "agent" in reason
    finally:
        await client.close()


async def test_deactivating_the_agent_closes_the_socket(server, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    bystander = await actors.make("agent")
    client = await connect(server, agent.token)
    watcher = await connect(server, bystander.token)
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE agents SET is_active = false WHERE id = $1", agent.id)
            await conn.execute("SELECT pg_notify('omnistream_auth', $1)", str(agent.id))
        started = time.monotonic()
        code, reason = await closed_with(client.ws, 2.0)
        assert code == live.UNAUTHORIZED and "deactivated" in reason
        assert time.monotonic() - started < 1.0  # on the notification, not the periodic check
        await emit_one(ctx, "still-here")
        assert labels([await watcher.event()]) == ["still-here"]
    finally:
        await watcher.close()


async def test_signing_out_closes_the_socket(server, client, actors: Actors) -> None:
    agent = await actors.make("agent")
    live_client = await connect(server, agent.token)
    r = await client.post("/api/v1/auth/logout", headers=agent.headers)
    assert r.status_code in (200, 204), r.text
    code, _ = await closed_with(live_client.ws, 2.0)
    assert code == live.UNAUTHORIZED


# Protocol and flow control -----------------------------------------------------------------


async def test_ping_pong_and_unknown_frames(server, actors: Actors) -> None:
    agent = await actors.make("agent")
    client = await connect(server, agent.token)
    try:
        await client.ws.send(json.dumps({"type": "ping"}))
        assert await client.frame() == {"type": "pong"}
        await client.ws.send(json.dumps({"type": "dance"}))
        error = await client.frame()
        assert error["type"] == "error" and "dance" in error["detail"]
        await client.ws.send("[1, 2]")
        assert (await client.frame())["type"] == "error"
        await client.ws.send(json.dumps({"type": "ping"}))
        assert await client.frame() == {"type": "pong"}  # still open
    finally:
        await client.close()


async def test_a_slow_client_is_cut_off_without_holding_up_others(
    server, ctx, actors: Actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = await actors.make("agent")
    fast = await connect(server, agent.token, max_size=2**22, compression=None)
    monkeypatch.setattr(ctx.hub, "queue_limit", 4)
    # A client that stops reading: a tiny receive buffer, and no recv() calls.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(server.split(":")[2].split("/")[0])))
    sock.setblocking(False)
    slow = await connect(
        server, agent.token, sock=sock, max_queue=1, max_size=2**22, compression=None
    )
    # One live event first: from then on an overflow cuts the socket off at once (before
    # any live event it would re-read the range from the table and could overflow again).
    await emit_one(ctx, "small")
    assert labels([await fast.event(5)]) == ["small"]
    assert labels([await slow.event(5)]) == ["small"]
    overflows = ctx.hub.overflows
    blob = secrets.token_urlsafe(225_000)  # 300 kB that deflate cannot shrink
    try:
        for i in range(60):
            await emit_one(ctx, f"big{i}", data={"blob": blob})
        got = [await fast.event(15) for _ in range(60)]  # the fast one gets everything
        assert labels(got) == [f"big{i}" for i in range(60)]
        assert ctx.hub.overflows == overflows + 1
        code, reason = await closed_with(slow.ws, 15)  # drains what was sent, then the code
        assert code == live.TOO_SLOW and "resume" in reason
    finally:
        await fast.close()
        await slow.close()
