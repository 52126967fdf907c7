"""Small correctness gaps, seen in the browser: the template picker chooses one (name,
language) and says which; a quick reply's attachment must be a https:// link and not a
program; replying to an unassigned conversation assigns it to the replier (every screen
shows it); the activity log reads as sentences with names."""

from __future__ import annotations

import re
import time

from playwright.async_api import Page, expect

from tests.browser.conftest import OpenPage, World, shot

UUID_PREFIX = re.compile(r"\b[0-9a-f]{8}\b")


async def open_conversation(page: Page, name: str) -> None:
    await page.locator(".conv-row", has_text=name).click()
    await expect(page.locator(".thread-title")).to_have_text(name)


async def test_template_picker_selects_one_language_and_names_it(
    world: World, open_page: OpenPage
) -> None:
    integrations = (await world.call("GET", "/api/v1/integrations"))["items"]
    integration = next(i for i in integrations if i["name"] == "Toko Test WhatsApp")
    await world.call("POST", f"/api/v1/integrations/{integration['id']}/templates/sync")
    two_days_ago = str(int(time.time()) - 2 * 86400)
    await world.customer("6281200000811", "Pesanan?", name="Gita", timestamp=two_days_ago)
    await world.conversation_of("6281200000811")
    page = await open_page(world.admin)
    await open_conversation(page, "Gita")
    await page.locator(".window-banner").get_by_role("button", name="Send a template").click()
    dialog = page.get_by_role("dialog", name="WhatsApp templates")
    await dialog.get_by_label("Search templates").fill("order_update")
    options = dialog.get_by_role("option")
    await expect(options).to_have_count(2)  # en_US and pt_BR
    portuguese = options.filter(has_text="pt_BR")
    await portuguese.click()
    await expect(portuguese).to_have_attribute("aria-selected", "true")
    await expect(options.filter(has_text="en_US")).to_have_attribute("aria-selected", "false")
    await expect(dialog.locator(".template-title")).to_have_text("order_update (pt_BR)")
    await shot(page, "template-picker-language")
    english = options.filter(has_text="en_US")
    await english.click()
    await expect(dialog.locator(".template-title")).to_have_text("order_update (en_US)")
    await expect(english).to_have_attribute("aria-selected", "true")
    await expect(portuguese).to_have_attribute("aria-selected", "false")


async def test_quick_reply_form_refuses_http_and_program_links(
    world: World, open_page: OpenPage
) -> None:
    page = await open_page(world.admin)
    await page.goto(f"{world.stack.url}/#/settings/quickReplies")
    await page.get_by_role("button", name="New quick reply").click()
    dialog = page.get_by_role("dialog", name="New quick reply")
    await dialog.get_by_label("Title").fill("Katalog")
    await dialog.get_by_label("Text").fill("Katalog kami")
    link = dialog.get_by_label("Attachment URL")
    error = dialog.locator("[data-field=media_url] .field-error")
    await link.fill("http://cdn.example.com/katalog.jpg")
    await dialog.get_by_role("button", name="Create quick reply").click()
    await expect(error).to_have_text(re.compile(r"^Must be a https:// link\b"))
    await link.fill("https://cdn.example.com/katalog.EXE?v=1")
    await dialog.get_by_role("button", name="Create quick reply").click()
    await expect(error).to_contain_text("Must not point to a program (.exe files are refused)")
    await shot(page, "quick-reply-program-link")
    listed = await world.call("GET", "/api/v1/quick-replies", params={"q": "Katalog"})
    assert listed["items"] == []

    # In Bahasa Indonesia the same refusal is said in Bahasa Indonesia.
    await dialog.get_by_role("button", name="Cancel").click()
    await page.evaluate("localStorage.setItem('omnistream.lang', 'id')")
    await page.reload()
    await page.get_by_role("button", name="Balasan cepat baru").click()
    dialog = page.get_by_role("dialog", name="Balasan cepat baru")
    await dialog.get_by_label("Judul").fill("Katalog")
    await dialog.get_by_label("Teks").fill("Katalog kami")
    await dialog.get_by_label("URL lampiran").fill("http://cdn.example.com/katalog.jpg")
    await dialog.get_by_role("button", name="Buat balasan cepat").click()
    await expect(dialog.locator("[data-field=media_url] .field-error")).to_have_text(
        "Harus tautan https:// (http:// dan skema lain ditolak)."
    )


async def test_replying_to_an_unassigned_conversation_assigns_it_to_me(
    world: World, open_page: OpenPage
) -> None:
    sales = await world.division("Sales")
    agent = await world.agent(name="Rina Replier", divisions=[sales])
    await world.customer("6281200000821", "Halo, stok ada?", name="Hadi")
    conversation = await world.conversation_of("6281200000821")
    assert conversation["assigned_agent_id"] is None
    watcher = await open_page(world.admin)
    await open_conversation(watcher, "Hadi")
    await expect(watcher.locator(".thread-sub .assignee")).to_have_text("Unassigned")
    page = await open_page(agent)
    await open_conversation(page, "Hadi")
    assignee = page.locator(".thread-sub .assignee")
    await expect(assignee).to_have_text("Unassigned")
    await expect(page.get_by_role("button", name="Take", exact=True)).to_be_visible()
    await page.get_by_label("Message", exact=True).fill("Ada, mau berapa?")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator(".msg.outbound")).to_contain_text("Ada, mau berapa?")
    await expect(assignee).to_have_text("Assigned to me")
    await expect(page.get_by_role("button", name="Take", exact=True)).to_have_count(0)
    await shot(page, "reply-assigns-me")
    # Another screen follows live: the admin's header names the agent.
    await expect(watcher.locator(".thread-sub .assignee")).to_have_text("Rina Replier")
    stored = await world.call("GET", f"/api/v1/conversations/{conversation['id']}")
    assert stored["assigned_agent_id"] == agent.id


async def test_activity_log_reads_as_sentences_with_names(
    world: World, open_page: OpenPage
) -> None:
    support = await world.division("Support")
    ana = await world.agent(name="Ana Awal", divisions=[support])
    budi = await world.agent(name="Budi Baru", divisions=[support])
    await world.customer("6281200000831", "Tolong bantu", name="Citra Pelanggan")
    conversation = await world.conversation_of("6281200000831")
    path = f"/api/v1/conversations/{conversation['id']}"
    await world.call("POST", f"{path}/assign", json={"agent_id": ana.id})
    await world.call("POST", f"{path}/transfer", json={"agent_id": budi.id, "reason": "shift"})
    await world.call("POST", f"{path}/messages", json={"type": "text", "text": "Rahasia 123"})
    await world.call("POST", f"{path}/resolve")

    page = await open_page(world.admin)
    await page.goto(f"{world.stack.url}/#/settings/activity")
    # Rows about this conversation (earlier tests' conversations are gone: nameless rows).
    rows = page.locator("table.data tbody tr").filter(has_text="Citra Pelanggan")
    transfer = rows.filter(has_text="Transferred conversation")
    await expect(transfer).to_have_count(1)
    await expect(transfer).to_contain_text("Conversation: Citra Pelanggan")
    await expect(transfer).to_contain_text("Ana Awal → Budi Baru")
    await expect(transfer).to_contain_text("Reason: shift")
    await expect(transfer).to_contain_text("Ada Admin")
    await expect(rows.filter(has_text="Resolved conversation")).to_contain_text("Citra Pelanggan")
    sent = rows.filter(has_text="Sent message")
    await expect(sent).to_contain_text("Conversation: Citra Pelanggan")
    await expect(sent).to_contain_text("type: text")
    assigned = rows.filter(has_text="Assigned conversation")
    await expect(assigned).to_contain_text("Unassigned → Ana Awal")
    await shot(page, "activity-log-names")
    every = page.locator("table.data tbody tr")
    for text in await every.locator("td:nth-child(n+2)").all_text_contents():
        assert "{" not in text and not UUID_PREFIX.search(text), text
    assert "Rahasia 123" not in await page.locator("table.data").inner_text()

    # The filter offers actions by name.
    # (Other tests of the session transfer conversations too: only this one is Citra's.)
    await page.get_by_label("Action").select_option(label="Transferred conversation")
    await expect(every.filter(has_text="Citra Pelanggan")).to_have_count(1)
    await expect(every.filter(has_text="Citra Pelanggan")).to_contain_text("Ana Awal → Budi Baru")
    await expect(every.filter(has_text="Resolved conversation")).to_have_count(0)
    await expect(every.filter(has_text="Sent message")).to_have_count(0)
