"""OMNISTREAM_WORKER_LOOPS_OFF: a worker may leave loops to other workers (e.g. one process
dedicated to campaigns, or a benchmark without the SLA loops). The names are those of
omnistream/worker.py LOOPS; an unknown one stops the process at start with a clear error
instead of silently running every loop."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path
from typing import cast

import pytest

from omnistream import worker
from omnistream.config import ConfigError, Settings, load_settings
from omnistream.db.pool import Pool
from tests.cli.serving import BIN, cli_env


def record_starts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every loop of worker.LOOPS (the real names) replaced by one that notes its start and
    waits for the stop; the list of names started."""
    started: list[str] = []

    def recorder(name: str) -> worker.Loop:
        async def loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
            started.append(name)
            await stop.wait()

        return loop

    for name in list(worker.LOOPS):
        monkeypatch.setitem(worker.LOOPS, name, recorder(name))
    return started


def test_the_setting_is_a_comma_separated_list_of_loop_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMNISTREAM_WORKER_LOOPS_OFF", raising=False)
    assert load_settings().loops_off == frozenset()
    monkeypatch.setenv("OMNISTREAM_WORKER_LOOPS_OFF", " sla, sla_breaches,,sla ")
    settings = load_settings()
    assert settings.loops_off == {"sla", "sla_breaches"}
    assert settings.worker_loops_off == "sla,sla_breaches"  # normalised, duplicates dropped


def test_an_unknown_loop_name_is_refused_naming_the_variable_and_the_loops() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(worker_loops_off="campaigns,campaign,sla")
    message = str(caught.value)
    assert message.startswith("OMNISTREAM_WORKER_LOOPS_OFF:")
    assert "unknown loop 'campaign'" in message
    assert all(name in message for name in worker.LOOPS)


def test_the_worker_command_refuses_an_unknown_loop_at_start(tmp_path: Path) -> None:
    # No database is touched: the setting is checked before anything starts.
    env = cli_env("postgresql://nobody@127.0.0.1:1/none", tmp_path / "var")
    env["OMNISTREAM_WORKER_LOOPS_OFF"] = "outbound,inbund"
    done = subprocess.run(
        [BIN, "worker"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    assert "OMNISTREAM_WORKER_LOOPS_OFF" in done.stderr and "'inbund'" in done.stderr
    assert "Traceback" not in done.stderr


async def test_skipped_loops_do_not_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    started = record_starts(monkeypatch)
    settings = load_settings(worker_loops_off="sla,sla_breaches")
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="omnistream.worker"):
        task = asyncio.create_task(worker.run_loops(cast(Pool, None), settings, stop))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(started) == len(worker.LOOPS) - 2:
                break
        await asyncio.sleep(0.05)  # a skipped loop would have started by now too
        stop.set()
        await asyncio.wait_for(task, 5)
    assert sorted(started) == sorted(set(worker.LOOPS) - {"sla", "sla_breaches"})
    off = [r for r in caplog.records if r.getMessage() == "worker loops off"]
    assert len(off) == 1 and off[0].__dict__["loops_off"] == ["sla", "sla_breaches"]
    begun = next(r for r in caplog.records if r.getMessage() == "worker started")
    assert "sla" not in begun.__dict__["loops"] and "campaigns" in begun.__dict__["loops"]


async def test_without_the_setting_every_loop_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    started = record_starts(monkeypatch)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_loops(cast(Pool, None), load_settings(), stop))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if len(started) == len(worker.LOOPS):
            break
    stop.set()
    await asyncio.wait_for(task, 5)
    assert sorted(started) == sorted(worker.LOOPS)
