"""Bulk actions in a real browser: an agent selects conversations with a click, a shift-click
and the key x, one of them is taken away from the agent meanwhile (the selection stays), and
Resolve acts on all of them at once: the rows leave the open list, the outcome names the
refusal, Escape clears it."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import OpenPage, World, shot
from tests.browser.team import two_agents_and_customers

CUSTOMERS = {f"62812000003{n:02d}": f"Pelanggan {n:02d}" for n in range(22)}


async def test_select_many_and_resolve_them(world: World, open_page: OpenPage) -> None:
    (_, page), (other, _) = await two_agents_and_customers(
        world, open_page, ("Bulan Massal", "Citra Lain"), CUSTOMERS
    )
    rows = page.locator(".conv-row")
    await expect(rows).to_have_count(22)
    names = await page.locator(".conv-row .conv-name").all_inner_texts()
    boxes = page.locator(".conv-row .bulk-check")
    bar = page.get_by_role("toolbar", name="Bulk actions")
    await expect(bar).to_be_hidden()
    await boxes.nth(0).click()
    await expect(bar.locator(".bulk-count")).to_have_text("1 selected")
    await boxes.nth(19).click(modifiers=["Shift"])  # the range 1..20
    await expect(bar.locator(".bulk-count")).to_have_text("20 selected")
    # The key x selects the focused row: the 21st (j moves the focus down).
    await page.locator("#conversation-list").focus()
    for _ in range(20):
        await page.keyboard.press("j")
    await page.keyboard.press("x")
    await expect(bar.locator(".bulk-count")).to_have_text("21 selected")
    await expect(page.locator(".conv-row.bulk-selected")).to_have_count(21)
    assert not await boxes.nth(21).is_checked()

    # Meanwhile the admin gives one selected conversation to a colleague: it leaves this
    # agent's list live, and stays in the selection.
    taken_name = names[4]
    taken = next(
        i
        for i in (await world.call("GET", "/api/v1/conversations"))["items"]
        if i["contact"]["name"] == taken_name
    )
    await world.call(
        "POST", f"/api/v1/conversations/{taken['id']}/assign", json={"agent_id": other.id}
    )
    await expect(rows).to_have_count(21, timeout=3000)
    await expect(bar.locator(".bulk-count")).to_have_text("21 selected")
    await shot(page, "bulk-selected")

    await bar.get_by_role("button", name="Resolve").click()
    outcome = bar.locator(".bulk-outcome")
    await expect(outcome).to_contain_text("20 done, 1 refused")
    await expect(outcome.locator("li")).to_have_text(f"{taken_name}: no longer visible to you")
    # The resolved rows leave the open list; the one not selected stays.
    await expect(page.locator(".conv-row .conv-name")).to_have_text([names[21]])
    await shot(page, "bulk-outcome")
    await page.keyboard.press("Escape")
    await expect(bar).to_be_hidden()
    resolved = await world.call(
        "GET", "/api/v1/conversations", params={"status": "resolved", "limit": 50}
    )
    assert sorted(i["contact"]["name"] for i in resolved["items"]) == sorted(
        n for i, n in enumerate(names[:21]) if i != 4
    )
    still = await world.call("GET", f"/api/v1/conversations/{taken['id']}")
    assert still["status"] == "open" and still["assigned_agent_id"] == other.id
