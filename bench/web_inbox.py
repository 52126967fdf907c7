"""Benchmark: the agent web app's inbox at scale (issue 6), measured in Chromium.

Uses a database seeded by bench/seed.py (default: omnistream_bench on the local server, 1M
conversations; it is left as it is). Starts ONE `omnistream serve` on it and drives Debian's
Chromium headless with Playwright. For each role (the seeded admin, supervisor and agent)
and each run, a fresh browser context (empty cache and storage, so every file is fetched)
opens `/`, fills the login form and clicks "Sign in"; the clock starts at that click (the
page's own `performance.now()`) and stops when

- `list`: the first conversation row is on screen,
- `interactive`: rows and the Mine / Unassigned / All counts are shown and the main thread
  is idle (a task queued then runs: the app answers input),
- `live`: the WebSocket is connected and authenticated (the "live" indicator).

Then it opens the first conversation (`open`: click -> its timeline rendered). It also sums
the JS and CSS the page loaded (decoded bytes, from the Resource Timing entries). The first
run per role is a warm-up and is not counted. Prints one JSON object; progress on stderr.

    .venv/bin/python bench/web_inbox.py [--database-url URL] [--runs 10]

Targets: inbox interactive <= 1.0 s after login (every run); JS + CSS <= 300 KB.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import harness
from inbox_common import LOGINS, PASSWORD, seeded_database_options, seeded_server
from playwright.async_api import Page, async_playwright

BenchError = harness.BenchError
console = harness.console
CHROMIUM = "/usr/bin/chromium"
INTERACTIVE_S = 1.0
BUDGET_BYTES = 300 * 1024

# Resolves with performance.now() once rows and counts are shown and a queued task has run.
INTERACTIVE_JS = """
() => new Promise((resolve) => {
  const ready = () => {
    const row = document.querySelector('.conv-row');
    const count = document.querySelector('[data-count="all"]');
    return row && count && count.textContent.trim() !== '';
  };
  const check = () => {
    if (!ready()) { requestAnimationFrame(check); return; }
    setTimeout(() => resolve(performance.now()), 0);
  };
  check();
})
"""
FIRST_ROW_JS = """
() => new Promise((resolve) => {
  const check = () => document.querySelector('.conv-row')
    ? resolve(performance.now()) : requestAnimationFrame(check);
  check();
})
"""
LIVE_JS = """
() => new Promise((resolve) => {
  const check = () => document.querySelector('.live-status[data-status=live]')
    ? resolve(performance.now()) : requestAnimationFrame(check);
  check();
})
"""
SHIPPED_JS = """
() => performance.getEntriesByType('resource')
  .filter((e) => /\\.(js|css)(\\?|$)/.test(e.name))
  .reduce((sum, e) => sum + e.decodedBodySize, 0)
"""


async def one_login(page: Page, base: str, email: str) -> dict[str, float]:
    """Sign in on a fresh page; milliseconds from the click to each mark."""
    started = time.monotonic()
    await page.goto(base)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    login_page_ms = (time.monotonic() - started) * 1000
    button = page.get_by_role("button", name="Sign in")
    await button.wait_for()
    # The clock starts in the page, at the click event itself.
    await page.evaluate(
        "() => document.addEventListener('click', () => { window.__t0 = performance.now(); },"
        " { capture: true, once: true })"
    )
    first_row = asyncio.ensure_future(page.evaluate(FIRST_ROW_JS))
    interactive = asyncio.ensure_future(page.evaluate(INTERACTIVE_JS))
    live = asyncio.ensure_future(page.evaluate(LIVE_JS))
    await button.click()
    marks = await asyncio.wait_for(asyncio.gather(first_row, interactive, live), 30)
    t0 = await page.evaluate("() => window.__t0")
    opened_at = await page.evaluate("() => performance.now()")
    await page.locator(".conv-row").first.click()
    await page.locator(".thread-title").wait_for()
    await page.locator(".thread-body").wait_for()
    open_ms = await page.evaluate("() => performance.now()") - opened_at
    return {
        "login_page_ms": login_page_ms,
        "list_ms": marks[0] - t0,
        "interactive_ms": marks[1] - t0,
        "live_ms": marks[2] - t0,
        "open_conversation_ms": open_ms,
        "shipped_js_css_bytes": float(await page.evaluate(SHIPPED_JS)),
    }


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 1),
        "max": round(ordered[-1], 1),
        "min": round(ordered[0], 1),
    }


async def drive(base: str, runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            for role, email in LOGINS.items():
                samples: list[dict[str, float]] = []
                for run in range(runs + 1):
                    context = await browser.new_context(
                        viewport={"width": 1280, "height": 800}, locale="en-US"
                    )
                    errors: list[str] = []
                    page = await context.new_page()
                    page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                    try:
                        sample = await one_login(page, base, email)
                    finally:
                        await context.close()
                    if errors:
                        raise BenchError(f"errors in the page as {role}: {errors}")
                    if run > 0:  # the first is a warm-up
                        samples.append(sample)
                    console.print(
                        f"{role} run {run}{' (warm-up)' if run == 0 else ''}: "
                        f"interactive {sample['interactive_ms']:.0f} ms, "
                        f"live {sample['live_ms']:.0f} ms, "
                        f"open {sample['open_conversation_ms']:.0f} ms",
                        highlight=False,
                    )
                results[role] = {
                    key: summary([s[key] for s in samples])
                    for key in samples[0]
                    if key != "shipped_js_css_bytes"
                }
                results[role]["shipped_js_css_bytes"] = int(samples[-1]["shipped_js_css_bytes"])
        finally:
            await browser.close()
    return results


async def seeded_facts(dsn: str) -> dict[str, Any]:
    shown = harness.shown_dsn(dsn)
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"cannot reach {shown} ({exc}): run bench/seed.py first") from exc
    try:
        conversations = await conn.fetchval("SELECT count(*) FROM conversations")
        admin = await conn.fetchval("SELECT 1 FROM agents WHERE email = $1", LOGINS["admin"])
        if not admin:
            raise BenchError(f"{shown} is not seeded: run bench/seed.py first")
        return {"machine": await harness.machine_info(conn), "conversations": conversations}
    finally:
        await conn.close()


def bench(args: argparse.Namespace) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        raise BenchError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    facts = asyncio.run(seeded_facts(args.database_url))
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        harness.work_folder("omnistream-web-bench-") as workdir,
        seeded_server(args.database_url, port, workdir) as server,
    ):
        reference = harness.hello_reference(base, args.reference_duration, server_pid=server.pid)
        roles = asyncio.run(drive(base, args.runs))
    web = harness.ROOT / "omnistream" / "web"
    on_disk = sum(p.stat().st_size for p in [*web.rglob("*.js"), *web.rglob("*.css")])
    worst = max(r["interactive_ms"]["max"] for r in roles.values())
    shipped = max(r["shipped_js_css_bytes"] for r in roles.values())
    return {
        "benchmark": "web_inbox",
        "machine": facts["machine"],
        "reference": reference,
        "database": harness.shown_dsn(args.database_url),
        "conversations": facts["conversations"],
        "settings": {"runs_per_role": args.runs, "browser": "Chromium headless, 1280x800"},
        "roles": roles,
        "js_css_bytes": {"loaded_by_the_page": shipped, "on_disk": on_disk},
        "target": {
            "interactive_s_at_most": INTERACTIVE_S,
            "js_css_bytes_at_most": BUDGET_BYTES,
            "met": worst <= INTERACTIVE_S * 1000 and max(shipped, on_disk) <= BUDGET_BYTES,
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, seeded_database_options())
    parser.add_argument("--runs", type=int, default=10, help="timed logins per role")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs >= 1")
    return args


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
