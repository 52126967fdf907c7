"""GET /api/v1/system: a real `omnistream worker` process beats (its row in
process_heartbeats, with its loops) and shows as gone once SIGKILLed; an API app beats
through its lifespan and removes its row on a clean stop; day-old rows are purged; backlogs
move as work is queued; only admins see it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnistream.app import create_app
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.system import queries as system_queries
from omnistream.system.heartbeat import Heartbeat
from omnistream.worker import LOOPS
from tests.conftest import Actors, Agent, problem
from tests.processes import CLI, omnistream_env, stop

BEAT = "0.3"  # seconds: gone after three missed beats (0.9 s)
WORKER_LOOPS = ("inbound", "scheduled")  # the rest off: a lean worker on the shared database


@pytest.fixture
def worker(test_dsn: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """An `omnistream worker` beating every BEAT seconds."""
    env = omnistream_env(
        test_dsn,
        tmp_path,
        "system-tests-",
        heartbeat_seconds=BEAT,
        worker_loops_off=",".join(n for n in LOOPS if n not in WORKER_LOOPS),
    )
    with (tmp_path / "worker.log").open("ab") as out:
        proc = subprocess.Popen([*CLI, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
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


async def test_a_worker_beats_with_its_loops_and_is_gone_once_killed(
    client: httpx.AsyncClient, ctx: AppContext, admin: Agent, worker: subprocess.Popen[bytes]
) -> None:
    async def beating() -> dict[str, Any] | None:
        rows: list[dict[str, Any]] = (await system(client, admin))["processes"]
        row = next((p for p in rows if p["pid"] == worker.pid), None)
        if row is None or {lp["name"] for lp in row["loops"]} != set(WORKER_LOOPS):
            return None
        if any(lp["passes"] < 1 for lp in row["loops"]):
            return None  # its beats go on: the loops' pauses are counted as they come
        return row

    # A loaded machine starts a process slowly; some loops pause for long (one pass each
    # is what every loop shows soon). Below pytest-timeout's 120 s, to fail with a reason.
    row = await until(beating, 90)
    assert row["kind"] == "worker" and row["alive"] is True
    assert row["beat_seconds"] == pytest.approx(float(BEAT))
    assert row["host"] and row["version"] and row["started_at"] <= row["last_beat_at"]
    for loop in row["loops"]:
        assert loop["state"] in ("working", "waiting") and loop["crashes"] == 0
        assert loop["last_pause_at"] is not None and loop["lag_seconds"] >= 0

    async def beat_again() -> bool:
        rows = (await system(client, admin))["processes"]
        return any(p["pid"] == worker.pid and p["last_beat_at"] > row["last_beat_at"] for p in rows)

    await until(beat_again, 30)
    worker.kill()  # SIGKILL: no clean stop, so its row stays, and turns gone
    worker.wait(10)

    async def gone() -> bool:
        rows = (await system(client, admin))["processes"]
        return any(p["pid"] == worker.pid and p["alive"] is False for p in rows)

    await until(gone, 30)


async def test_an_api_process_beats_while_it_runs_and_leaves_on_a_clean_stop(
    client: httpx.AsyncClient, ctx: AppContext, admin: Agent, settings: Settings, test_dsn: str
) -> None:
    """A second API app in this process, through its real lifespan (what `serve` runs)."""
    quick = settings.model_copy(
        update={"heartbeat_seconds": float(BEAT), "db_pool_min": 1, "db_pool_max": 2}
    )
    second = create_app(quick, test_dsn, track_presence=False)
    async with second.router.lifespan_context(second):
        beat: Heartbeat = second.state.heartbeat

        async def rows() -> list[dict[str, Any]]:
            listed = (await system(client, admin))["processes"]
            return [p for p in listed if p["id"] == str(beat.id)]

        (row,) = await until(rows, 30)
        assert row["kind"] == "api" and row["pid"] == os.getpid() and row["alive"] is True
        assert row["loops"] == []  # an API process runs no worker loop

        async def again() -> bool:
            return any(p["last_beat_at"] > row["last_beat_at"] for p in await rows())

        await until(again, 30)
    assert await rows() == []  # stopped cleanly: its row is gone, not shown as gone
    # Rows older than a day are deleted by the beats of the processes still running.
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO process_heartbeats (id, kind, host, pid, version, started_at, "
            "last_beat_at, beat_seconds) VALUES (gen_random_uuid(), 'worker', 'old', 1, 'x', "
            "now() - interval '2 days', now() - interval '25 hours', 5)"
        )
        assert await system_queries.purge_gone(conn) == 1


async def test_backlogs_move_as_work_is_queued(
    client: httpx.AsyncClient, admin: Agent, ctx: AppContext
) -> None:
    def inbound(body: dict[str, Any]) -> dict[str, Any]:
        entries: list[dict[str, Any]] = [b for b in body["backlogs"] if b["name"] == "inbound"]
        (entry,) = entries
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
