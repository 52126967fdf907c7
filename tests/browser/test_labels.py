"""Labels in a real browser: an admin creates one in Settings › Labels (colour picker), an
agent puts it on a conversation from the header (key l), the list rows show the chip (live
in a second browser), the label button above the list filters by it with its open count,
removing it and deleting the label follow live."""

from __future__ import annotations

import secrets

from playwright.async_api import expect

from tests.browser.conftest import OpenPage, World
from tests.browser.team import row, two_agents_and_customers

VINA = "6281200000181"


async def test_labels_created_added_shown_filtered_and_deleted_live(
    world: World, open_page: OpenPage
) -> None:
    name = f"VIP {secrets.token_hex(2)}"
    admin = await open_page(world.admin)
    await admin.goto(f"{world.stack.url}/#/settings/labels")
    await admin.get_by_role("button", name="New label").click()
    await admin.get_by_label("Name").fill(name)
    await admin.get_by_label("Colour").fill("#c62828")
    await admin.get_by_role("button", name="Create label").click()
    await expect(admin.locator("table.data .label-chip", has_text=name)).to_be_visible()
    label = next(
        lb for lb in (await world.call("GET", "/api/v1/labels"))["items"] if lb["name"] == name
    )
    assert label["colour"] == "#c62828"

    (_, page1), (_, page2) = await two_agents_and_customers(
        world,
        open_page,
        ("Laras Label", "Bima Kedua"),
        {VINA: "Vina Penting", "6281200000182": "Biasa Saja"},
    )
    for page in (page1, page2):
        await expect(row(page, "Vina Penting")).to_be_visible()
        await expect(row(page, "Vina Penting").locator(".label-chip")).to_have_count(0)
    button = page2.locator(f".label-filter[data-label-id='{label['id']}']")
    await expect(button).to_contain_text(f"{name}0")  # no open conversation has it yet

    # Agent 1 opens Vina's conversation; l opens the header's menu, Enter adds the label.
    await row(page1, "Vina Penting").click()
    head = page1.locator(".thread-head")
    await expect(head.get_by_role("button", name="+ Label")).to_be_visible()
    await page1.locator(".timeline").focus()
    await page1.keyboard.press("l")
    option = page1.get_by_role("menuitem", name=name)
    await expect(option).to_be_focused()
    await page1.keyboard.press("Enter")
    await expect(head.locator(".thread-labels > .label-chip", has_text=name)).to_be_visible()
    await expect(row(page1, "Vina Penting").locator(".label-chip")).to_have_text(name)
    # The other agent's list follows live, and the count above it.
    await expect(row(page2, "Vina Penting").locator(".label-chip")).to_have_text(name, timeout=2000)
    await expect(button).to_contain_text(f"{name}1", timeout=3000)

    # Filtered by the label: only Vina; removing it (×) in agent 1's header drops her row.
    await button.click()
    await expect(button).to_have_attribute("aria-pressed", "true")
    await expect(page2.locator(".conv-row .conv-name")).to_have_text(["Vina Penting"])
    await head.get_by_role("button", name=f"Remove label {name}").click()
    await expect(head.locator(".thread-labels > .label-chip")).to_have_count(0)
    await expect(row(page2, "Vina Penting")).to_have_count(0, timeout=2000)
    await head.get_by_role("button", name="+ Label").click()
    await expect(page1.get_by_role("menuitem", name=name)).to_be_focused()
    # A live update of the conversation re-renders the header: the open menu stays open.
    vina = (await world.conversation_of(VINA))["id"]
    await world.call("POST", f"/api/v1/conversations/{vina}/priority", json={"priority": "low"})
    await expect(head.get_by_role("combobox", name="Priority")).to_have_value("low")
    await page1.get_by_role("menuitem", name=name).click()
    await expect(page2.locator(".conv-row .conv-name")).to_have_text(["Vina Penting"])
    saved = await world.call("GET", "/api/v1/conversations", params={"label": label["id"]})
    assert [i["contact"]["name"] for i in saved["items"]] == ["Vina Penting"]

    # The admin deletes the label: it leaves the header, the rows and the filter live.
    admin.once("dialog", lambda dialog: dialog.accept())
    await admin.get_by_role("button", name=f"Delete {name}").click()
    await expect(admin.locator("table.data .label-chip", has_text=name)).to_have_count(0)
    await expect(button).to_have_count(0, timeout=3000)
    await expect(head.locator(".thread-labels > .label-chip")).to_have_count(0)
    await expect(row(page2, "Biasa Saja")).to_be_visible()  # the filter is gone with it
    await expect(row(page2, "Vina Penting").locator(".label-chip")).to_have_count(0)
