"""Graceful shutdown of real processes (docs/operations.md#graceful-shutdown).

`omnistream serve` on SIGTERM: stops accepting connections, finishes the request in flight,
closes each live WebSocket with 1001 "going away", exits 0. `omnistream worker` on SIGTERM:
finishes the send in flight, gives back what it claimed and did not start, exits 0 within
the grace; another worker sends the rest, each exactly once."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from omnistream.config import Settings
from omnistream.context import AppContext
from tests.channels.test_ratelimit import counts, pending, start_worker
from tests.cli.serving import Serve, cli_env, login
from tests.conftest import scratch_database
from tests.messages.test_outbound_crash import live_fixture, until  # noqa: F401 (fixture)
from tests.processes import create_admin
from tests.sandbox_fixture import Sandbox, sandbox_fixture  # noqa: F401 (fixture "sandbox")
from tests.workers.test_worker_crash import in_flight, sends_by_message, slow_account

EMAIL, PASSWORD = "shutdown@example.com", "correct horse battery"
GRACE = 10.0


@pytest.fixture
async def serve_dsn(admin_dsn: str) -> AsyncIterator[str]:
    async for dsn in scratch_database(admin_dsn, "shutdown"):
        yield dsn


def _dribbled_login(port: int) -> tuple[socket.socket, bytes]:
    """A sign-in whose headers are sent and whose body is still on its way: a request in
    flight for as long as the test likes. Returns the socket and the body's rest."""
    body = orjson.dumps({"email": EMAIL, "password": PASSWORD})
    conn = socket.create_connection(("127.0.0.1", port), timeout=GRACE)
    head = (
        f"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    conn.sendall(head.encode() + body[:10])
    return conn, body[10:]


def _read_response(conn: socket.socket) -> tuple[int, bytes]:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


@pytest.mark.timeout(90)
async def test_serve_finishes_the_request_in_flight_says_going_away_and_exits_0(
    serve_dsn: str, tmp_path: Path
) -> None:
    env = cli_env(serve_dsn, tmp_path, OMNISTREAM_SHUTDOWN_GRACE_SECONDS=f"{GRACE:g}")
    create_admin(env, EMAIL, "Shutdown Admin", PASSWORD)
    server = Serve(env)
    try:
        server.wait_ready()
        token = login(server.base, EMAIL, PASSWORD).json()["access_token"]
        ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/api/v1/ws")
        await ws.send(orjson.dumps({"type": "auth", "access_token": token}).decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ready"
        conn, rest = _dribbled_login(server.port)
        await asyncio.sleep(0.2)  # the request has reached the app and waits for its body
        server.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()

        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), GRACE)
        assert closed.value.rcvd is not None, "the server sent no close frame"
        assert closed.value.rcvd.code == 1001, closed.value.rcvd
        with pytest.raises(ConnectionRefusedError):  # no longer accepting
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        assert server.proc.poll() is None, "it exited with a request in flight"

        conn.sendall(rest)
        status, payload = await asyncio.to_thread(_read_response, conn)
        conn.close()
        assert status == 200, payload
        assert orjson.loads(payload)["access_token"]
        assert await asyncio.to_thread(server.proc.wait, GRACE + 5) == 0
        assert time.monotonic() - started < GRACE + 5
    finally:
        server.stop()
    assert "Traceback" not in server.stderr, server.stderr


@pytest.mark.timeout(90)
async def test_worker_finishes_the_send_in_flight_gives_back_the_rest_and_exits_0(
    ctx: AppContext, sandbox: Sandbox, live: str, settings: Settings, test_dsn: str, tmp_path: Path
) -> None:
    # Every send takes 0.8 s at "Meta", one a second. A takeover would wait 600 s: whatever
    # the stopped worker kept claimed would stay unsent until the test's end.
    wa, account = await slow_account(ctx, sandbox, live, 800, rate=1)  # one send a second
    ids = await pending(ctx, account, 6, conversations=6)
    log = tmp_path / "worker.log"
    env = {
        "OMNISTREAM_SHUTDOWN_GRACE_SECONDS": f"{GRACE:g}",
        "OMNISTREAM_WORKER_TAKEOVER_GRACE_SECONDS": "600",
    }
    first = start_worker(settings, test_dsn, log, **env)
    second: subprocess.Popen[bytes] | None = None
    try:
        await until("a send in flight", lambda: in_flight(sandbox, wa.external_id), 30)
        first.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert await asyncio.to_thread(first.wait, GRACE + 5) == 0, log.read_text()
        assert time.monotonic() - started < GRACE
        # What it had at "Meta" when told to stop was finished and recorded; the rest,
        # waiting for the account's rate, was given back (not left claimed).
        left = (await counts(ctx)).get("pending", 0)
        assert 0 < left < len(ids), f"stopped with {await counts(ctx)}"
        second = start_worker(settings, test_dsn, log, **env)

        async def none_pending() -> bool:
            return "pending" not in await counts(ctx)

        await until("the rest sent by the next worker", none_pending, 30)
        await until("the sandbox is idle", lambda: sandbox.settle(within=5), 15)
        sends = await sends_by_message(sandbox, wa.external_id)
        assert sorted(sends) == sorted(str(i) for i in ids)
        twice = {key: s["accepted"] for key, s in sends.items() if s["accepted"] != 1}
        assert not twice, f"sent more than once: {twice}"
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert "cancelling" not in log.read_text()
