"""SLA in the web app: the badge on a conversation's row and header counting down (the page's
clock moved on) and turning breached live, with toasts for the assignee that open the
conversation; the SLA list filters and the "Next due" sort; the SLA policies settings page
with its business-hours editor, public holidays, a server field error at its field, and
live updates.

Time passing on the server is made as tests/sla/test_sla_engine.py makes it: a clock's
stored times moved back and its check made due now; the stack's worker runs the breach loop
and announces the changes."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from typing import Any
from uuid import UUID

import asyncpg
from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import OpenPage, World, shot
from tests.sla.test_sla_engine import SHIFT

ALWAYS = {"timezone": "Asia/Jakarta", "always": True, "weekly": {}, "holidays": []}
POLICIES = "/api/v1/sla/policies"


def row(page: Page, name: str) -> Locator:
    return page.locator(".conv-row", has_text=name)


async def policy(world: World, division: str, first: int = 60, **extra: Any) -> dict[str, Any]:
    body = {
        "name": f"SLA {secrets.token_hex(2)}",
        "division_id": division,
        "first_response_minutes": first,
        "resolution_minutes": 600,
        "business_hours": ALWAYS,
        **extra,
    }
    return dict(await world.call("POST", POLICIES, json=body))


async def shift(world: World, conversation_id: str, minutes: float) -> None:
    """The clock `minutes` later (its stored times moved back, its check due now)."""
    conn = await asyncpg.connect(world.stack.dsn)
    try:
        await conn.execute(SHIFT, UUID(conversation_id), minutes * 60)
    finally:
        await conn.close()


async def shown(world: World, conversation_id: str, check: Any, within: float = 10) -> dict:
    """The conversation as the API shows it once `check(it)` holds (the worker is async)."""
    deadline = time.monotonic() + within
    while True:
        got = await world.call("GET", f"/api/v1/conversations/{conversation_id}")
        if check(got):
            return dict(got)
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {got}")
        await asyncio.sleep(0.1)


async def conversation_in(
    world: World, sender: str, name: str, division: str, agent_id: str | None = None
) -> dict[str, Any]:
    """A customer's conversation, moved into `division` (whose policy then applies)."""
    await world.customer(sender, "Halo, pesanan saya?", name=name)
    conversation = await world.conversation_of(sender)
    target: dict[str, Any] = {"division_id": division, "reason": "SLA test"}
    if agent_id:
        target["agent_id"] = agent_id
    await world.call("POST", f"/api/v1/conversations/{conversation['id']}/transfer", json=target)
    return await shown(world, conversation["id"], lambda c: c["sla_due_at"] is not None)


async def test_badge_counts_down_and_turns_breached_live_with_toasts(
    world: World, open_page: OpenPage
) -> None:
    division = await world.division("Care")
    agent = await world.agent(name="Sinta SLA", divisions=[division])
    made = await policy(world, division, first=5)
    try:
        conversation = await conversation_in(world, "6281277000001", "Rudi", division, agent.id)
        cid = conversation["id"]
        page = await open_page(agent)
        # The page's clock is Playwright's from here on (the app is loaded again under it).
        await page.clock.install()
        await page.reload()
        await expect(page.locator(".live-status[data-status=live]")).to_be_visible()
        other = await open_page(agent)  # a second screen on the bare inbox: the toast opens it

        badge = row(page, "Rudi").locator(".sla-badge")
        await expect(badge).to_have_text("5 m left")
        await expect(badge).to_have_attribute("data-state", "soon")  # within 30 minutes
        await expect(badge).to_have_attribute("title", re.compile(r"^First response · due "))
        await row(page, "Rudi").click()
        header = page.locator(".thread-sub .sla-badge")
        await expect(header).to_have_text("First response: 5 m left")
        # Opening marked it read (an event that draws the row again): wait for that first.
        await expect(row(page, "Rudi").locator(".unread-badge")).to_have_count(0)
        await page.wait_for_timeout(500)
        # Two minutes on the page's clock: the shared timer counts both down, no event needed.
        await page.clock.fast_forward("02:00")
        await expect(badge).to_have_text("3 m left")
        await expect(header).to_have_text("First response: 3 m left")

        # 4.2 of the 5 minutes gone on the server: sla.warning for the assignee.
        await shift(world, cid, 4.2)
        warning = page.locator(".toast", has_text="First response due in")
        await expect(warning).to_contain_text("Rudi")
        # The due time is past: sla.breached, and row and header say so without a reload.
        await page.evaluate("window.__samePage = true")
        await shift(world, cid, 1)
        await expect(badge).to_have_attribute("data-state", "breached", timeout=10_000)
        await expect(badge).not_to_contain_text("left")
        await expect(badge).to_have_text("Overdue by 2 m")  # the page's clock is 2 min ahead
        await expect(header).to_have_text("First response: Overdue by 2 m")
        assert await page.evaluate("window.__samePage") is True
        await shot(page, "sla-breached")
        toast = other.locator(".toast", has_text="SLA breached: First response — Rudi")
        await expect(toast).to_be_visible()
        await expect(row(other, "Rudi").locator(".sla-badge")).to_have_text("Breached")
        await toast.click()
        await expect(other).to_have_url(f"{world.stack.url}/#/inbox/{cid}")
        await expect(other.locator(".thread-sub .sla-badge")).to_have_text(
            "First response: Breached"
        )
        # The API agrees.
        got = await world.call("GET", f"/api/v1/conversations/{cid}")
        assert got["sla_breached"] == ["first_response"]
        # An agent has no SLA settings (sla.manage is the admins').
        await other.goto(f"{world.stack.url}/#/settings/sla")
        await expect(other.get_by_role("link", name="My profile")).to_be_visible()
        await expect(other.get_by_role("link", name="SLA policies")).to_have_count(0)
    finally:
        await world.call("DELETE", f"{POLICIES}/{made['id']}")


async def test_filters_and_next_due_sort(world: World, open_page: OpenPage) -> None:
    division = await world.division("Support")
    made = await policy(world, division, first=60)
    try:
        convs = {}
        for n, name in enumerate(["Ayu Late", "Bima Soon", "Citra Calm"]):
            convs[name] = await conversation_in(world, f"628127700010{n}", name, division)
        await world.customer("6281277000109", "Tanpa SLA", name="Dodi Plain")  # no division
        await world.conversation_of("6281277000109")
        await shift(world, convs["Ayu Late"]["id"], 65)  # 5 minutes overdue
        await shift(world, convs["Bima Soon"]["id"], 50)  # due in 10 minutes
        for name in ("Ayu Late", "Bima Soon"):
            before = convs[name]["updated_at"]
            await shown(world, convs[name]["id"], lambda c, b=before: c["updated_at"] != b)

        page = await open_page(world.admin)
        names = page.locator(".conv-row .conv-name")
        await expect(names).to_have_count(4)
        await expect(row(page, "Dodi Plain").locator(".sla-badge")).to_have_count(0)
        await expect(row(page, "Ayu Late").locator(".sla-badge")).to_have_text("Overdue by 5 m")
        await expect(row(page, "Bima Soon").locator(".sla-badge")).to_have_attribute(
            "data-state", "soon"
        )
        await expect(row(page, "Citra Calm").locator(".sla-badge")).to_have_text(
            re.compile(r"^(59 m|1 h) left$")
        )
        await expect(row(page, "Citra Calm").locator(".sla-badge")).to_have_attribute(
            "data-state", "ok"
        )
        sla = page.get_by_label("SLA", exact=True)
        await sla.select_option(label="Breached")
        await expect(names).to_have_text(["Ayu Late"])
        await sla.select_option(label="Due within 30 min")
        await expect(names).to_have_text(["Bima Soon"])
        await sla.select_option(label="Any SLA")
        await page.get_by_label("Sort", exact=True).select_option(label="Next due")
        await expect(names).to_have_text(["Ayu Late", "Bima Soon", "Citra Calm"])
        # Live: Citra's clock runs out; in "Breached" it arrives without a reload, in order.
        await sla.select_option(label="Breached")
        await expect(names).to_have_text(["Ayu Late"])
        await shift(world, convs["Citra Calm"]["id"], 61)
        await expect(names).to_have_text(["Ayu Late", "Citra Calm"], timeout=10_000)
        await shot(page, "sla-filters")
        # Remembered, and said in Bahasa Indonesia.
        await page.reload()
        await expect(names).to_have_text(["Ayu Late", "Citra Calm"])
        await page.get_by_label("Language").select_option("id")
        await expect(page.get_by_label("SLA", exact=True)).to_have_value("breached")
        await expect(page.get_by_label("SLA", exact=True).locator("option:checked")).to_have_text(
            "Terlewati"
        )
        await expect(
            page.get_by_label("Urutan", exact=True).locator("option:checked")
        ).to_have_text("Jatuh tempo terdekat")
        await expect(row(page, "Citra Calm").locator(".sla-badge")).to_have_text("Terlambat 1 mnt")
    finally:
        await world.call("DELETE", f"{POLICIES}/{made['id']}")


async def test_policies_page_and_business_hours_editor(world: World, open_page: OpenPage) -> None:
    division = await world.division("Billing")
    other_division = await world.division("Retail")
    page = await open_page(world.admin)
    await page.goto(f"{world.stack.url}/#/settings/sla")
    await expect(page.get_by_role("heading", name="SLA policies")).to_be_visible()
    await page.get_by_role("button", name="New policy").click()
    dialog = page.locator("dialog")
    await dialog.get_by_label("Name").fill("Billing office hours")
    await dialog.get_by_label("Division").select_option(label=await division_name(world, division))
    await dialog.get_by_label("First response").fill("30")
    await dialog.get_by_label("Resolution").fill("480")
    # The editor starts at Monday to Saturday 08:00-17:00 in Asia/Jakarta: Monday's hours
    # copied to every day, then Sunday's removed again.
    await expect(dialog.get_by_label("Time zone")).to_have_value("Asia/Jakarta")
    sunday = dialog.locator(".sla-day[data-day=sun]")
    await expect(sunday.locator(".sla-closed")).to_be_visible()
    await dialog.get_by_label("Mon opens").fill("08:00")
    await dialog.get_by_label("Mon closes").fill("17:00")
    await dialog.get_by_role("button", name="Copy Monday to all days").click()
    await expect(sunday.locator(".sla-closed")).to_be_hidden()
    await sunday.get_by_role("button", name="Remove these hours").click()
    await expect(sunday.locator(".sla-closed")).to_be_visible()
    # Holidays: one by hand, Indonesia's 2027 public holidays from the calendar.
    await dialog.get_by_label("Holiday date").fill("2027-03-03")
    await dialog.get_by_role("button", name="Add date").click()
    await dialog.get_by_label("Country").fill("ID")
    await dialog.get_by_label("Year").fill("2027")
    await dialog.get_by_role("button", name="Fill public holidays").click()
    public = await world.call("GET", "/api/v1/sla/holidays", params={"country": "ID", "year": 2027})
    holidays = sorted({"2027-03-03", *(h["date"] for h in public)})
    await expect(dialog.locator(".chip[data-date]")).to_have_count(len(holidays))
    await dialog.get_by_role("button", name="Create policy").click()
    await expect(dialog).to_have_count(0)

    listed = page.locator("tr", has_text="Billing office hours")
    await expect(listed).to_contain_text(
        f"Mon–Sat 08:00–17:00 · Asia/Jakarta · {len(holidays)} holidays"
    )
    await expect(listed).to_contain_text("30 m")
    await expect(listed).to_contain_text("Not tracked")
    [stored] = [p for p in await world.call("GET", POLICIES) if p["name"] == "Billing office hours"]
    office = [{"start": "08:00", "end": "17:00"}]
    assert stored["division_id"] == division and stored["channel"] is None
    assert stored["business_hours"] == {
        "timezone": "Asia/Jakarta",
        "always": False,
        "weekly": {d: office for d in ("mon", "tue", "wed", "thu", "fri", "sat")} | {"sun": []},
        "holidays": holidays,
    }
    await shot(page, "settings-sla")

    # After a reload the editor shows the same.
    await page.reload()
    await listed.get_by_role("button", name="Edit").click()
    await expect(dialog.get_by_label("Time zone")).to_have_value("Asia/Jakarta")
    for day in ("Mon", "Sat"):
        await expect(dialog.get_by_label(f"{day} opens")).to_have_value("08:00")
        await expect(dialog.get_by_label(f"{day} closes")).to_have_value("17:00")
    await expect(dialog.locator(".sla-day[data-day=sun] .sla-closed")).to_be_visible()
    await expect(dialog.locator(".chip[data-date]")).to_have_count(len(holidays))
    await expect(dialog.locator(".chip[data-date='2027-03-03']")).to_be_visible()
    await expect(dialog.locator(".chip[data-date='2027-08-17']")).to_be_visible()
    await shot(page, "settings-sla-editor")
    # A bad interval: the server's error at the field.
    await dialog.get_by_label("Mon closes").fill("08:00")
    await dialog.get_by_role("button", name="Save").click()
    error = dialog.locator('[data-field="business_hours.weekly.mon.0.end"] .field-error')
    await expect(error).to_contain_text("Must differ from start")
    await expect(dialog.get_by_label("Mon closes")).to_have_attribute("aria-invalid", "true")
    await dialog.get_by_role("button", name="Cancel").click()

    # Live: a policy made elsewhere appears; a deleted one goes.
    made = await policy(world, other_division)
    await expect(page.locator("tr", has_text=made["name"])).to_contain_text("24/7")
    page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await listed.get_by_role("button", name="Delete").click()
    await expect(listed).to_have_count(0)
    await world.call("DELETE", f"{POLICIES}/{made['id']}")
    await expect(page.locator("tr", has_text=made["name"])).to_have_count(0)
    assert [
        p for p in await world.call("GET", POLICIES) if p["name"] == "Billing office hours"
    ] == []


async def division_name(world: World, division: str) -> str:
    return str((await world.call("GET", f"/api/v1/divisions/{division}"))["name"])
