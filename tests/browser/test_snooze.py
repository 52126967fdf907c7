"""Snooze in a real browser: an agent takes a conversation and snoozes it from the header
(key s, a date and time a few seconds ahead); it leaves her open list and shows in her
supervisor's Snoozed view with its wake time, live; when the time comes the worker wakes it:
back as open in both browsers, with a toast for its assignee."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.async_api import expect

from tests.browser.conftest import OpenPage, World
from tests.browser.team import row

NINA = "6281200000191"
JAKARTA = ZoneInfo("Asia/Jakarta")  # the pages' time zone (open_page's default)


async def test_snooze_leaves_the_list_and_comes_back_open(
    world: World, open_page: OpenPage
) -> None:
    sales = await world.division("Sales")
    sinta = await world.agent(name="Sinta Snooze", divisions=[sales])
    dodi = await world.agent("supervisor", name="Dodi Kedua", divisions=[sales])
    for sender, name in ((NINA, "Nina Nanti"), ("6281200000192", "Tetap Buka")):
        await world.customer(sender, "Halo, tolong dibantu", name=name)
        conversation = await world.conversation_of(sender)
        await world.call(
            "POST",
            f"/api/v1/conversations/{conversation['id']}/transfer",
            json={"division_id": sales, "reason": "triage"},
        )
    page1, page2 = await open_page(sinta), await open_page(dodi)
    for page in (page1, page2):
        await expect(row(page, "Nina Nanti")).to_be_visible()
    await row(page1, "Nina Nanti").click()
    head = page1.locator(".thread-head")
    await head.get_by_role("button", name="Take").click()
    await expect(head.locator(".assignee")).to_have_text("Assigned to me")
    # The colleague watches the Snoozed view.
    await page2.locator('[data-filter="status"]').select_option("snoozed")
    await expect(row(page2, "Tetap Buka")).to_have_count(0)

    await page1.locator(".timeline").focus()
    await page1.keyboard.press("s")
    chooser = page1.get_by_role("dialog", name="Snooze until…")
    await expect(chooser.get_by_role("button", name="1 hour")).to_be_focused()
    wake = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)  # to the second
    await chooser.locator(".snooze-at").fill(wake.astimezone(JAKARTA).strftime("%Y-%m-%dT%H:%M:%S"))
    await chooser.get_by_role("button", name="Snooze", exact=True).click()
    await expect(chooser).to_have_count(0)
    await expect(head.locator(".status-badge")).to_have_text("Snoozed")
    await expect(head.get_by_role("button", name="Unsnooze")).to_be_visible()
    await expect(head.locator(".snooze-badge")).to_contain_text("Snoozed until")
    timeline = page1.locator(".timeline")
    await expect(
        timeline.locator(".system-line", has_text="snoozed the conversation until")
    ).to_be_visible()
    # Gone from the open list; in the colleague's Snoozed view, with its wake time, live.
    await expect(row(page1, "Nina Nanti")).to_have_count(0)
    await expect(row(page1, "Tetap Buka")).to_be_visible()
    await expect(row(page2, "Nina Nanti").locator(".snooze-badge")).to_contain_text(
        "Snoozed until", timeout=3000
    )
    conversation = await world.conversation_of(NINA)
    got = await world.call("GET", f"/api/v1/conversations/{conversation['id']}")
    assert got["status"] == "snoozed"
    assert datetime.fromisoformat(got["snoozed_until"]) == wake
    assert datetime.now(UTC) < wake  # still asleep when all of that was seen

    # The worker wakes it: back in the open list, open in the header, gone from Snoozed.
    await expect(row(page1, "Nina Nanti")).to_be_visible(timeout=20_000)
    assert datetime.now(UTC) >= wake - timedelta(milliseconds=50)
    await expect(head.locator(".status-badge")).to_have_text("Open")
    await expect(
        timeline.locator(".system-line", has_text="Back from snooze: its time came")
    ).to_be_visible()
    await expect(head.get_by_role("button", name="Snooze", exact=True)).to_be_visible()
    await expect(
        page1.locator(".toast", has_text="snoozed conversation of yours is back")
    ).to_be_visible()
    await expect(row(page2, "Nina Nanti")).to_have_count(0, timeout=3000)
    await page2.locator('[data-filter="status"]').select_option("open")
    await expect(row(page2, "Nina Nanti")).to_be_visible()
    got = await world.call("GET", f"/api/v1/conversations/{conversation['id']}")
    assert (got["status"], got["snoozed_until"]) == ("open", None)
