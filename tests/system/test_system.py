"""GET /api/v1/system: real `omnistream serve` and `omnistream worker` processes beat (their
rows in process_heartbeats, with the worker's loops), a SIGKILLed worker shows as gone, a
clean stop removes the row; backlogs move as work is queued and drained; only admins."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnistream.context import AppContext
from omnistream.worker import LOOPS
from tests.conftest import Actors, Agent, problem
from tests.processes import CLI, free_port, omnistream_env, stop, wait_http

BEAT = "0.3"  # seconds: gone after three missed beats (0.9 s)
WORKER_LOOPS = ("inbound", "scheduled")  # the rest off: a lean worker on the shared database


@pytest.fixture
def processes(test_dsn: str, tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """An `omnistream serve` and an `omnistream worker`, beating every BEAT seconds."""
    env = omnistream_env(
        test_dsn,
        tmp_path,
        "system-tests-",
        heartbeat_seconds=BEAT,
        worker_loops_off=",".join(n for n in LOOPS if n not in WORKER_LOOPS),
    )
    port, log = free_port(), tmp_path / "processes.log"
    with log.open("ab") as out:
        serve = subprocess.Popen(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        worker = subprocess.Popen([*CLI, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", serve, log)
        yield {"serve": serve, "worker": worker}
    finally:
        for proc in (serve, worker):
            stop(proc)


async def system(client: httpx.AsyncClient, admin: Agent) -> dict[str, Any]:
    r = await client.get("/api/v1/system", headers=admin.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def until(check: Any, within: float = 60) -> Any:
    """Poll `check()` until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            assert value, "not within the time allowed"
            return value
        await asyncio.sleep(0.1)


async def test_processes_beat_a_killed_worker_is_gone_and_a_clean_stop_leaves(
    client: httpx.AsyncClient,
    ctx: AppContext,
    admin: Agent,
    processes: dict[str, subprocess.Popen[bytes]],
) -> None:
    serve, worker = processes["serve"], processes["worker"]

    async def both() -> dict[int, dict[str, Any]] | None:
        by_pid = {p["pid"]: p for p in (await system(client, admin))["processes"]}
        ours = {pid: p for pid, p in by_pid.items() if pid in (serve.pid, worker.pid)}
        worker_row = ours.get(worker.pid)
        if len(ours) < 2 or worker_row is None or not worker_row["loops"]:
            return None
        loops = {lp["name"]: lp for lp in worker_row["loops"]}
        if any(loops[n]["passes"] < 2 for n in WORKER_LOOPS):
            return None  # beats go on: the loops' pauses are counted as they come
        return ours

    ours = await until(both)
    api, beat_of_worker = ours[serve.pid], ours[worker.pid]
    assert api["kind"] == "api" and beat_of_worker["kind"] == "worker"
    for p in (api, beat_of_worker):
        assert p["alive"] is True and p["beat_seconds"] == pytest.approx(float(BEAT))
        assert p["host"] and p["version"] and p["started_at"] <= p["last_beat_at"]
    assert api["loops"] == []
    loops = {lp["name"]: lp for lp in beat_of_worker["loops"]}
    assert set(loops) == set(WORKER_LOOPS)  # the loops it runs, none of those turned off
    for loop in loops.values():
        assert loop["state"] in ("working", "waiting") and loop["crashes"] == 0
        assert loop["last_pause_at"] is not None and loop["lag_seconds"] >= 0
    # It beats again and again: last_beat_at moves.
    first = beat_of_worker["last_beat_at"]

    async def beat_again() -> bool:
        rows = (await system(client, admin))["processes"]
        return any(p["pid"] == worker.pid and p["last_beat_at"] > first for p in rows)

    await until(beat_again, 20)

    worker.kill()  # SIGKILL: no clean stop, its row stays and turns gone
    worker.wait(10)

    async def gone() -> bool:
        rows = (await system(client, admin))["processes"]
        return any(p["pid"] == worker.pid and p["alive"] is False for p in rows)

    await until(gone, 20)
    body = await system(client, admin)
    assert [p["alive"] for p in body["processes"]] == sorted(
        (p["alive"] for p in body["processes"]), reverse=True
    )  # live ones first

    stop(serve)  # SIGTERM: a clean stop removes its row
    assert serve.returncode == 0
    rows = (await system(client, admin))["processes"]
    assert serve.pid not in {p["pid"] for p in rows}


async def test_backlogs_move_as_work_is_queued(
    client: httpx.AsyncClient, admin: Agent, ctx: AppContext
) -> None:
    def inbound(body: dict[str, Any]) -> dict[str, Any]:
        (entry,) = [b for b in body["backlogs"] if b["name"] == "inbound"]
        return entry

    body = await system(client, admin)
    assert {b["name"] for b in body["backlogs"]} == {
        "inbound", "outbound", "scheduled", "webhook_deliveries", "campaign_recipients",
    }  # fmt: skip
    assert inbound(body)["count"] == 0 and inbound(body)["oldest_age_seconds"] == 0
    async with ctx.pool.acquire() as conn:  # three webhook calls received, not yet applied
        await conn.execute(
            "INSERT INTO webhook_audit (channel, body, signature_valid, received_at) "
            "SELECT 'meta', '{}'::bytea, true, now() - interval '30 seconds' "
            "FROM generate_series(1, 3)"
        )
    queued = inbound(await system(client, admin))
    assert queued["count"] == 3 and queued["cap"] >= 3
    assert 29 <= queued["oldest_age_seconds"] < 120


async def test_only_admins_see_the_system(client: httpx.AsyncClient, actors: Actors) -> None:
    problem(await client.get("/api/v1/system"), 401)
    for role in ("agent", "supervisor"):
        someone = await actors.make(role)
        problem(await client.get("/api/v1/system", headers=someone.headers), 403)
    admin = await actors.make("admin")
    assert (await client.get("/api/v1/system", headers=admin.headers)).status_code == 200
