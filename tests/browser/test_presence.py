"""Availability in real browsers: an agent sets away in the header, a supervisor of the
division sees the dot next to the agent's name on the list row change live; the agent's idle
page reports an automatic away (the choice stays online) and the next input brings them back;
Settings › Agents and the assign menu show presence too."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import OpenPage, World
from tests.browser.team import row

DEWI = "6281200000741"
IDLE_SECONDS = 6


async def test_presence_follows_live_in_a_colleagues_inbox(
    world: World, open_page: OpenPage
) -> None:
    sales = await world.division("Sales")
    agent = await world.agent(name="Ayu Hadir", divisions=[sales])
    supervisor = await world.agent(role="supervisor", name="Sinta Lihat", divisions=[sales])
    await world.customer(DEWI, "Halo, paket saya di mana?", name="Dewi Pelanggan")
    conversation = (await world.conversation_of(DEWI))["id"]
    await world.call(
        "POST",
        f"/api/v1/conversations/{conversation}/transfer",
        json={"division_id": sales, "agent_id": agent.id, "reason": "triage"},
    )

    watcher = await open_page(supervisor)
    dot = row(watcher, "Dewi Pelanggan").locator(".presence-dot")
    await expect(dot).to_have_attribute("aria-label", "Ayu Hadir: Offline")
    page = await open_page(
        agent, init_script=f"localStorage.setItem('omnistream.idleSeconds', '{IDLE_SECONDS}')"
    )
    # Connecting brought the agent back to their choice (online), seen live by the supervisor.
    await expect(dot).to_have_attribute("aria-label", "Ayu Hadir: Online", timeout=5000)

    # The header's selector, by keyboard: away, then online again.
    picker = page.get_by_role("combobox", name="Availability")
    await expect(picker).to_have_value("online")
    await picker.focus()
    await picker.select_option("away")
    await expect(dot).to_have_attribute("aria-label", "Ayu Hadir: Away", timeout=3000)
    await expect(dot).to_have_attribute("data-presence", "away")
    await expect(page.locator(".presence-picker .presence-dot")).to_have_attribute(
        "data-presence", "away"
    )
    await picker.select_option("online")
    await expect(dot).to_have_attribute("aria-label", "Ayu Hadir: Online", timeout=3000)

    # No input on the agent's page: automatic away, the choice kept; input: online again.
    await expect(dot).to_have_attribute(
        "aria-label", "Ayu Hadir: Away", timeout=(IDLE_SECONDS + 8) * 1000
    )
    await expect(picker).to_have_value("away")
    mine = await world.call("GET", "/api/v1/me/presence", headers=agent.headers)
    assert (mine["presence"], mine["choice"]) == ("away", "online")
    await page.mouse.move(200, 300)
    await page.mouse.move(240, 320)
    await expect(dot).to_have_attribute("aria-label", "Ayu Hadir: Online", timeout=3000)
    await expect(picker).to_have_value("online")

    # The assign menu says it in words; Settings › Agents shows the dot.
    await row(watcher, "Dewi Pelanggan").click()
    await watcher.locator(".thread-head").get_by_role("button", name="Assign").click()
    options = watcher.get_by_role("dialog").get_by_label("Assign to").locator("option")
    await expect(options.filter(has_text="Ayu Hadir")).to_have_text("Ayu Hadir · Online")
    await watcher.keyboard.press("Escape")
    admin = await open_page(world.admin)
    await admin.goto(f"{world.stack.url}/#/settings/agents")
    listed = admin.locator("table.data tr", has_text="Ayu Hadir").locator(".presence-dot")
    await expect(listed).to_have_attribute("aria-label", "Ayu Hadir: Online")
    await picker.select_option("offline")
    await expect(listed).to_have_attribute("aria-label", "Ayu Hadir: Offline", timeout=3000)
