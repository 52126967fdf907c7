"""Conversation priority in a real browser: set in the conversation's header (and with the
keyboard's p), shown on the list row, live for another agent, the list filtered and sorted by
it; in Bahasa Indonesia too."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import OpenPage, World
from tests.browser.team import row, two_agents_and_customers


async def test_priority_set_shown_live_filtered_and_sorted(
    world: World, open_page: OpenPage
) -> None:
    (first, page1), (second, page2) = await two_agents_and_customers(
        world,
        open_page,
        ("Putri Prioritas", "Galih Kedua"),
        {"6281200000171": "Rudi Rendah", "6281200000172": "Mira Mendesak"},
    )
    for page in (page1, page2):
        await expect(row(page, "Mira Mendesak")).to_be_visible()
        await expect(row(page, "Mira Mendesak").locator(".prio")).to_have_count(0)  # none

    # Agent 1 sets Urgent in the header; both lists mark the row at once.
    await row(page1, "Mira Mendesak").click()
    control = page1.locator(".thread-head").get_by_role("combobox", name="Priority")
    await expect(control).to_have_value("none")
    await control.select_option("urgent")
    await expect(row(page1, "Mira Mendesak").locator(".prio")).to_have_text("Urgent")
    await expect(row(page2, "Mira Mendesak").locator(".prio")).to_have_text("Urgent", timeout=2000)
    # The open header of another agent follows live too.
    await row(page2, "Rudi Rendah").click()
    other = page2.locator(".thread-head").get_by_role("combobox", name="Priority")
    await expect(other).to_have_value("none")
    await world.call(
        "POST",
        f"/api/v1/conversations/{(await world.conversation_of('6281200000171'))['id']}/priority",
        headers=first.headers,
        json={"priority": "low"},
    )
    await expect(other).to_have_value("low", timeout=2000)
    await expect(row(page2, "Rudi Rendah").locator(".prio")).to_have_text("Low")

    # Sorted by priority, Urgent comes first although Rudi wrote last.
    await page2.locator("select[data-filter=sort]").select_option("priority")
    await expect(page2.locator(".conv-row .conv-name")).to_have_text(
        ["Mira Mendesak", "Rudi Rendah"]
    )
    # Filtered to high or urgent: only Mira; lowering her priority live drops her row.
    await page2.locator("select[data-filter=priority]").select_option("high,urgent")
    await expect(page2.locator(".conv-row .conv-name")).to_have_text(["Mira Mendesak"])
    await control.select_option("medium")
    await expect(row(page2, "Mira Mendesak")).to_have_count(0, timeout=2000)
    await page2.locator("select[data-filter=priority]").select_option("medium")
    await expect(page2.locator(".conv-row .conv-name")).to_have_text(["Mira Mendesak"])

    # The keyboard: p reaches the control, arrows choose.
    await page1.locator(".timeline").focus()
    await page1.keyboard.press("p")
    await expect(control).to_be_focused()
    await page1.keyboard.press("ArrowUp")  # the options run urgent .. none: one up is high
    await expect(row(page1, "Mira Mendesak").locator(".prio")).to_have_text("High")
    saved = await world.call("GET", "/api/v1/conversations", params={"priority": "high"})
    assert [i["contact"]["name"] for i in saved["items"]] == ["Mira Mendesak"]

    # Bahasa Indonesia: the marker, the control and the filter speak it.
    page3 = await open_page(second, lang="id")
    await expect(row(page3, "Mira Mendesak").locator(".prio")).to_have_text("Tinggi")
    await expect(page3.locator("select[data-filter=priority]")).to_have_attribute(
        "aria-label", "Prioritas"
    )
    await row(page3, "Mira Mendesak").click()
    await expect(
        page3.locator(".thread-head").get_by_role("combobox", name="Prioritas")
    ).to_have_value("high")
