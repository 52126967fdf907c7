"""`omnistream reports rebuild` as an operator runs it: a subprocess of the real CLI on the
test database; the rollups it leaves equal a count of the raw rows, and bad input is a
clear error with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from omnistream.context import AppContext
from tests.cli.serving import cli_env
from tests.reports.support import oracle, rollups
from tests.sla.test_sla_engine import customer_writes


def run(test_dsn: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnistream.cli", "reports", "rebuild", *args],
        env=cli_env(test_dsn, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_rebuild_from_the_command_line(
    ctx: AppContext, test_dsn: str, tmp_path: Path
) -> None:
    for phone in ("6281355500001", "6281355500002", "6281355500001"):
        await customer_writes(ctx, phone)
    done = run(test_dsn, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rebuilt the reports of 2 conversations" in done.stdout
    assert "conversations" in done.stderr  # the progress bar
    assert await rollups(ctx) == await oracle(ctx) != {}
    since = run(test_dsn, tmp_path, "--since", "2026-01-01")
    assert since.returncode == 0, since.stderr[-2000:]
    assert await rollups(ctx) == await oracle(ctx)
    bad = run(test_dsn, tmp_path, "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr
