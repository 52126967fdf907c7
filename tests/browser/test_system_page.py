"""Settings › System in a real browser: an admin sees the stack's `serve --with-worker`
process and a separately started `omnistream worker` (alive, kind, pid, loops) and the
backlog table, in English and in Bahasa Indonesia; the page rereads on its own (the
worker's kill turns it gone without a reload)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from omnistream.worker import LOOPS
from tests.browser.conftest import OpenPage, Stack, World
from tests.processes import CLI, omnistream_env, stop


@pytest.fixture
def worker(stack: Stack, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """An `omnistream worker` beside the stack's server (only its inbound loop)."""
    env = omnistream_env(
        stack.dsn,
        tmp_path,
        "browser-tests-",
        worker_loops_off=",".join(n for n in LOOPS if n != "inbound"),
        heartbeat_seconds="0.5",
    )
    with (tmp_path / "worker.log").open("ab") as out:
        proc = subprocess.Popen([*CLI, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop(proc)


async def test_an_admin_sees_the_processes_and_backlogs_in_both_languages(
    world: World, open_page: OpenPage, worker: subprocess.Popen[bytes]
) -> None:
    page = await open_page(world.admin)
    await page.goto(f"{world.stack.url}/#/settings/system")
    await expect(page.get_by_role("heading", name="System")).to_be_visible()
    processes = page.locator(".system-processes table.data")
    pid = page.get_by_role("cell", name=str(worker.pid), exact=True)
    ours = processes.locator("tbody tr").filter(has=pid)
    # The worker starts meanwhile: the page shows it at one of its 5-second rereads.
    await expect(ours).to_contain_text("Alive", timeout=60_000)
    await expect(ours).to_contain_text("Worker")
    await expect(ours.locator(".system-loop[data-loop=inbound]")).to_be_visible()
    both = processes.locator("tbody tr", has_text="API + worker")
    await expect(both).to_contain_text("Alive")
    await expect(both.locator(".system-loop[data-loop=outbound]")).to_be_visible()
    backlogs = page.locator(".system-backlogs table.data")
    for queue in ("Inbound webhooks", "Outbound messages", "Campaign recipients"):
        await expect(backlogs.locator("tbody tr", has_text=queue)).to_be_visible()

    await page.evaluate("localStorage.setItem('omnistream.lang', 'id')")
    await page.reload()
    await expect(page.get_by_role("heading", name="Sistem")).to_be_visible()
    await expect(page.locator(".system-backlogs h2")).to_have_text("Pekerjaan yang menunggu")
    ours = page.locator(".system-processes tbody tr").filter(has=pid)
    await expect(ours).to_contain_text("Aktif")
    inbound = page.locator(".system-backlogs tbody tr", has_text="Webhook masuk")
    await expect(inbound).to_have_count(1)
    worker.kill()  # gone after three missed beats, shown at a reread
    await expect(ours).to_contain_text("Hilang", timeout=15_000)
