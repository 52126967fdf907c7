"""The Reports page in a real browser, on the hand-built world of tests/reports/world.py
(Nov 1-3 2026 in Asia/Jakarta; every figure worked out by hand there and in
tests/reports/test_figures.py): the tiles and their change from the previous three days,
a chart's table for screen readers, the heatmap's total, the agents table (sorted by a
column), the top error code, a filter kept in the address over a reload, the CSV download
with its file name and header, the page in Bahasa Indonesia, a supervisor who sees only
their division's numbers (and a readable refusal for another division), and an agent who
is offered no division or agent filter.

The world's rows go straight into the stack's database and the rollups are rebuilt
(reports/rebuild.py), as the stack's worker has no event for rows written that way. Its
names are fixed (divisions Sales and Support, integration WA, policy IG), so the fixture
removes them again after each test."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from playwright.async_api import Locator, Page, expect

from omnistream.db.pool import Pool, create_pool
from omnistream.reports.rebuild import rebuild
from tests.browser.conftest import OpenPage, Person, World, shot
from tests.reports import world as reports_world

RANGE = "from=2026-11-01&to=2026-11-03&tz=Asia%2FJakarta&group=day"


@dataclass
class Seeded:
    built: reports_world.World
    pool: Pool
    people: dict[UUID, Person]

    def person(self, agent: Any) -> Person:
        return self.people[agent.id]


class _Actors:
    """What world.build asks of tests.conftest.Actors, through the stack's API."""

    def __init__(self, world: World, people: dict[UUID, Person]) -> None:
        self.world = world
        self.people = people

    async def make(self, role: str = "agent", *, divisions: list[UUID] | None = None) -> Any:
        person = await self.world.agent(role, divisions=[str(d) for d in divisions or []])
        self.people[UUID(person.id)] = person
        return SimpleNamespace(id=UUID(person.id))


@pytest.fixture
async def seeded(world: World) -> AsyncIterator[Seeded]:
    pool = await create_pool(world.stack.dsn, 1, 2)
    people: dict[UUID, Person] = {}
    built = None
    try:
        built = await reports_world.build(SimpleNamespace(pool=pool), _Actors(world, people))  # type: ignore[arg-type]
        yield Seeded(built, pool, people)
    finally:
        async with pool.acquire() as conn:
            for attempt in range(10):
                # As in conftest's world fixture: TRUNCATE can meet a worker's transaction.
                try:
                    await conn.execute("TRUNCATE contacts CASCADE")
                    break
                except asyncpg.DeadlockDetectedError:
                    if attempt == 9:
                        raise
                    await asyncio.sleep(0.1 * (attempt + 1))
            await conn.execute(
                "DELETE FROM sla_policies WHERE name = 'IG' AND channel = 'instagram'"
            )
            await conn.execute("DELETE FROM integrations WHERE name = 'WA'")
            await conn.execute("DELETE FROM divisions WHERE name IN ('Sales', 'Support')")
            for agent_id in people:
                await conn.execute("UPDATE agents SET is_active = false WHERE id = $1", agent_id)
        await rebuild(pool)  # the rollups without this world again
        await pool.close()


async def open_reports(world: World, page: Page, query: str = RANGE) -> None:
    """The page at this address, once every report has answered (the overview of a page shown
    before is marked, so the wait is for the new one)."""
    await page.evaluate(
        "for (const el of document.querySelectorAll('.reports-overview')) el.dataset.old = '1'"
    )
    await page.goto(f"{world.stack.url}/#/reports?{query}")
    await expect(page.locator(".reports-overview:not([data-old])")).to_have_count(1)
    await expect(page.locator(".reports-body[aria-busy]")).to_have_count(0, timeout=10_000)


def tile(page: Page, key: str) -> Locator:
    return page.locator(f".tile[data-tile={key}]")


async def expect_tile(page: Page, key: str, value: str, change: str | None = None) -> None:
    await expect(tile(page, key).locator(".tile-value")).to_have_text(value)
    if change is not None:
        await expect(tile(page, key).locator(".tile-change > span").first).to_have_text(change)


def table_rows(figure: Locator) -> Locator:
    return figure.locator(".chart-table tbody tr")


async def test_an_admin_reads_the_figures_filters_and_downloads_a_csv(
    world: World, seeded: Seeded, open_page: OpenPage
) -> None:
    page = await open_page(world.admin)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    await expect(page.get_by_role("heading", level=1, name="Reports")).to_be_visible()
    await open_reports(world, page)
    await expect(page.locator(".reports-range")).to_contain_text(
        "Nov 1, 2026 – Nov 3, 2026 · Asia/Jakarta"
    )
    await expect(page.locator(".reports-range")).to_contain_text(
        "compared with Oct 29, 2026 – Oct 31, 2026"
    )

    # The tiles: this range against Oct 29-31 (C4: opened, resolved in an hour, replied in 10 min).
    await expect_tile(page, "opened", "3", "▲ 200%")
    await expect_tile(page, "resolved", "2", "▲ 100%")
    await expect_tile(page, "openAtEnd", "2", "")  # nothing was open before: no change
    await expect(tile(page, "openAtEnd").locator(".tile-change")).to_have_attribute(
        "data-trend", "none"
    )
    await expect_tile(page, "unassignedNow", "1")
    await expect_tile(page, "firstResponse", "10 min", "■ 0%")
    await expect_tile(page, "resolution", "1 h 30 min", "▲ 50%")
    await expect(tile(page, "resolution").locator(".tile-change")).to_have_attribute(
        "data-good", "false"
    )
    await expect_tile(page, "slaFirstResponse", "50%", "")
    await expect_tile(page, "inbound", "4", "▲ 300%")
    await expect_tile(page, "outbound", "3", "▲ 200%")
    await expect_tile(page, "failed", "1", "")
    await expect(tile(page, "opened").locator(".sr-only")).to_have_text("Up 200% from 1.")

    # The conversations chart: an image with a name, and its numbers in a table.
    chart = page.locator(
        "figure.chart", has=page.get_by_role("heading", name="Opened and resolved")
    )
    await expect(chart.get_by_role("img")).to_have_attribute(
        "aria-label", "Opened and resolved. 3 opened and 2 resolved in the range."
    )
    rows = table_rows(chart)
    await expect(rows).to_have_count(3)
    assert [await r.locator("td").all_inner_texts() for r in await rows.all()] == [
        ["1", "0"], ["1", "2"], ["1", "0"],
    ]  # fmt: skip
    await expect(rows.first.locator("th")).to_have_text("Sun, Nov 1, 2026")
    # The table is for screen readers until "Show as table" is pressed.
    await expect(chart.locator(".chart-table")).to_have_class("chart-table sr-only")
    await chart.get_by_role("button", name="Show as table").click()
    await expect(chart.locator(".chart-table")).to_have_class("chart-table")
    await expect(chart.locator("svg.chart-svg")).to_be_hidden()

    first = page.locator(
        "figure.chart", has=page.get_by_role("heading", name="First response time (median)")
    )
    assert await table_rows(first).locator("td").all_inner_texts() == ["10 min", "20 min", "5 min"]
    status = page.locator(
        "figure.chart", has=page.get_by_role("heading", name="Outbound by status")
    )
    # Pending, sent, delivered, read, failed, total: Nov 1 read, Nov 2 delivered, Nov 3 failed.
    assert await table_rows(status).nth(2).locator("td").all_inner_texts() == [
        "0", "0", "0", "0", "1", "1",
    ]  # fmt: skip
    await expect(page.locator(".top-errors li")).to_have_text(["131026 1 failed"])

    # The heatmap: four inbound messages, Sunday 23:00 among them (C1 at 23:30 Jakarta).
    heat = page.locator(".reports-heatmap")
    await expect(heat.locator(".heat-total")).to_have_text("4 inbound messages in the range.")
    await expect(heat.locator("svg rect[data-value='1']")).to_have_count(4)
    sunday = heat.locator(".chart-table tbody tr", has=page.locator("th", has_text="Sunday"))
    cells = await sunday.locator("td").all_inner_texts()
    assert cells[23] == "1" and cells[24] == "1" and sum(map(int, cells[:24])) == 1
    await expect(heat.locator(".chart-table tbody tr").last.locator("td").last).to_have_text("4")

    # The agents table: A (C1, CSAT 4) and B (C2 twice); by replies, B first.
    a, b = seeded.person(seeded.built.a), seeded.person(seeded.built.b)
    agents = page.locator("table.reports-agents")
    row_a = agents.locator("tbody tr", has=page.locator("th", has_text=a.name))
    assert await row_a.locator("td").all_inner_texts() == [
        "1", "1", "10 min", "2 h 00 min", "4.0 (1 rated)",
    ]  # fmt: skip
    row_b = agents.locator("tbody tr", has=page.locator("th", has_text=b.name))
    assert await row_b.locator("td").all_inner_texts() == ["1", "2", "13 min", "1 h 00 min", "—"]
    await agents.get_by_role("button", name="Replies").click()
    await expect(agents.locator("th[aria-sort=descending]")).to_contain_text("Replies")
    await expect(agents.locator("tbody tr").first.locator("th")).to_have_text(b.name)
    await shot(page, "reports-admin")

    # The CSV of the messages report: the server's file name and its header.
    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Download Messages as CSV").click()
    download = await downloading.value
    assert download.suggested_filename == "omnistream-messages-2026-11-01-to-2026-11-03.csv"
    lines = (await download.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("period,inbound,outbound,") and len(lines) == 4

    # A filter goes into the address and survives a reload: Instagram is C2 alone.
    await page.get_by_label("Channel").select_option("instagram")
    await expect(page).to_have_url(re.compile(r"#/reports\?.*channel=instagram"))
    await expect_tile(page, "opened", "1")
    await expect_tile(page, "inbound", "2")
    await page.reload()
    await expect(page.get_by_label("Channel")).to_have_value("instagram")
    await expect_tile(page, "opened", "1")
    await expect_tile(page, "failed", "1")

    # By week: Sun Nov 1 closes the week of Oct 26 (clipped to the range), then Nov 2-3.
    await page.get_by_label("Channel").select_option("")
    await page.get_by_label("Group by").select_option("week")
    await expect(page).to_have_url(re.compile(r"group=week"))
    weekly = table_rows(page.locator("figure.chart", has_text="Opened and resolved"))
    await expect(weekly.locator("th")).to_have_text(["Week of Nov 1, 2026", "Week of Nov 2, 2026"])
    await expect(weekly.nth(1).locator("td")).to_have_text(["2", "2"])
    # A reversed custom range is said on the page, and not asked for.
    await page.get_by_label("From").fill("2026-11-05")
    await page.get_by_label("From").dispatch_event("change")
    await expect(page.locator(".rf-problem")).to_have_text("The end date is before the start date.")
    await expect(page).to_have_url(re.compile(r"from=2026-11-01"))


async def test_the_page_in_bahasa_indonesia(
    world: World, seeded: Seeded, open_page: OpenPage
) -> None:
    page = await open_page(world.admin, lang="id")
    await expect(
        page.get_by_role("navigation", name="Utama").get_by_role("link", name="Laporan")
    ).to_be_visible()
    await open_reports(world, page)
    await expect(page.get_by_role("heading", level=1, name="Laporan")).to_be_visible()
    await expect(tile(page, "opened").locator("dt")).to_have_text("Dibuka")
    await expect_tile(page, "firstResponse", "10 mnt")
    await expect_tile(page, "resolution", "1 jam 30 mnt")
    await expect(page.get_by_role("combobox", name="Rentang", exact=True)).to_have_value("custom")
    await expect(page.get_by_role("heading", name="Pesan masuk per hari dan jam")).to_be_visible()
    await expect(page.locator(".reports-heatmap .heat-total")).to_have_text(
        "4 pesan masuk dalam rentang ini."
    )
    weekdays = await page.locator(".reports-heatmap .chart-table tbody th").all_inner_texts()
    assert weekdays == ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu", "Jumlah"]
    chart = page.locator(
        "figure.chart", has=page.get_by_role("heading", name="Dibuka dan diselesaikan")
    )
    await expect(chart.locator(".chart-table tbody th").first).to_have_text("Min, 1 Nov 2026")
    await expect(page.get_by_role("button", name="Unduh Pesan sebagai CSV")).to_be_visible()
    await shot(page, "reports-id")

    # An empty range says so, above the tiles and in place of each chart.
    await open_reports(world, page, "from=2025-01-01&to=2025-01-31&tz=Asia%2FJakarta")
    await expect(page.locator(".reports-empty")).to_have_text(
        "Tidak ada percakapan atau pesan dalam rentang ini."
    )
    await expect(page.locator(".chart-empty").first).to_have_text(
        "Tidak ada data dalam rentang ini."
    )
    await expect_tile(page, "firstResponse", "—")


async def test_a_supervisor_sees_their_division_and_an_agent_their_own(
    world: World, seeded: Seeded, open_page: OpenPage
) -> None:
    built = seeded.built
    page = await open_page(seeded.person(built.supervisor))
    await open_reports(world, page)
    # Sales (C1) and no division (C3); never C2 of Support.
    await expect_tile(page, "opened", "2")
    await expect_tile(page, "resolved", "1")
    await expect_tile(page, "inbound", "2")
    await expect_tile(page, "failed", "0")
    await expect(page.locator(".reports-errors")).to_contain_text(
        "No failed messages in this range."
    )
    agents = page.locator("table.reports-agents tbody th")
    await expect(agents.filter(has_text=seeded.person(built.a).name)).to_have_count(1)
    await expect(agents.filter(has_text=seeded.person(built.b).name)).to_have_count(0)
    divisions = await page.get_by_label("Division").locator("option").all_inner_texts()
    assert divisions == ["All divisions", "Sales"]
    await shot(page, "reports-supervisor")

    # Another division, asked for through the address: a sentence, not a broken page.
    await open_reports(world, page, f"{RANGE}&division_id={built.d2}")
    await expect(page.locator(".reports-alert")).to_have_text(
        "You can only see the reports of your own divisions."
    )
    await expect(tile(page, "opened").locator(".tile-value")).to_have_text("—")

    # Agent A: their own conversation only, and no division or agent filter to choose.
    mine = await open_page(seeded.person(built.a))
    await open_reports(world, mine)
    await expect_tile(mine, "opened", "1")
    await expect_tile(mine, "inbound", "1")
    await expect_tile(mine, "outbound", "1")
    await expect(mine.get_by_label("Channel")).to_be_visible()
    await expect(mine.get_by_label("Division")).to_have_count(0)
    await expect(mine.get_by_label("Agent", exact=True)).to_have_count(0)
    await expect(mine.get_by_label("Inbox account")).to_have_count(0)
