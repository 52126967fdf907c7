"""Mentions in a real browser: agent A types @ in a note, picks agent B from the
suggestions with the keyboard and adds the note; B (another browser) sees the bell's count
rise live, and the notification opens the conversation and is read; B's Mentions tab lists
it too."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.conftest import OpenPage, World
from tests.browser.team import row, two_agents_and_customers

RINA = "6281200000191"


async def test_a_mention_notifies_the_other_agent_live(world: World, open_page: OpenPage) -> None:
    (_, author), (bagus, mentioned) = await two_agents_and_customers(
        world, open_page, ("Ayu Penulis", "Bagus Disebut"), {RINA: "Rina Pelanggan"}
    )
    conversation = (await world.conversation_of(RINA))["id"]
    bell = mentioned.locator(".notif-bell")
    await expect(bell).to_have_attribute("aria-label", "Notifications, none unread")
    await expect(mentioned.locator(".notif-count")).to_be_hidden()

    # A opens Rina's conversation and writes a note; @Bag offers Bagus (arrows + Enter).
    await row(author, "Rina Pelanggan").click()
    await expect(author.locator(".thread-head")).to_contain_text("Rina Pelanggan")
    await author.locator(".timeline").focus()
    await author.keyboard.press("n")
    text = author.locator(".composer textarea")
    await expect(text).to_be_focused()
    await expect(text).to_have_attribute("placeholder", re.compile("note", re.I))
    await text.press_sequentially("Tolong cek @Bag")
    option = author.get_by_role("option", name="Bagus Disebut")
    await expect(option).to_be_visible()
    await expect(option).to_have_attribute("aria-selected", "true")
    await author.keyboard.press("Enter")
    await expect(text).to_have_value("Tolong cek @Bagus Disebut ")
    await text.press_sequentially("ya")
    await author.keyboard.press("Control+Enter")
    await expect(text).to_have_value("")
    await expect(author.locator(".timeline")).to_contain_text("Tolong cek @Bagus Disebut ya")

    # B's bell counts it live; the panel shows who, where and the excerpt.
    await expect(mentioned.locator(".notif-count")).to_have_text("1", timeout=3000)
    await expect(bell).to_have_attribute("aria-label", "Notifications, 1 unread")
    await bell.click()
    item = mentioned.locator(".notif-panel .notif-open").first
    await expect(item).to_contain_text("Ayu Penulis mentioned you · Rina Pelanggan")
    await expect(item).to_contain_text("Tolong cek @Bagus Disebut ya")
    await expect(item).to_be_focused()
    await mentioned.keyboard.press("Enter")  # opens the conversation, marks it read
    await expect(mentioned).to_have_url(re.compile(f"#/inbox/{conversation}$"))
    await expect(mentioned.locator(".thread-head")).to_contain_text("Rina Pelanggan")
    await expect(mentioned.locator(".notif-count")).to_be_hidden()
    unread = await world.call("GET", "/api/v1/notifications/unread-count", headers=bagus.headers)
    assert unread["unread_count"] == 0

    # The Mentions tab lists it (read now); another tab brings the list back.
    await mentioned.get_by_role("tab", name="Mentions").click()
    mention = mentioned.locator(".mentions-list .notif-item")
    await expect(mention).to_have_count(1)
    await expect(mention).to_have_attribute("data-unread", "false")
    await expect(mention).to_contain_text("Ayu Penulis mentioned you · Rina Pelanggan")
    await expect(row(mentioned, "Rina Pelanggan")).to_be_hidden()
    await mentioned.get_by_role("tab", name=re.compile("^All")).click()
    await expect(row(mentioned, "Rina Pelanggan")).to_be_visible()
    await expect(mentioned.locator(".mentions-panel")).to_be_hidden()


async def test_a_mention_of_someone_who_lost_sight_is_refused_clearly(
    world: World, open_page: OpenPage
) -> None:
    (ayu, author), (bagus, _) = await two_agents_and_customers(
        world, open_page, ("Ayu Kedua", "Bagus Kedua"), {"6281200000192": "Sinta Pelanggan"}
    )
    conversation = (await world.conversation_of("6281200000192"))["id"]
    await row(author, "Sinta Pelanggan").click()
    await expect(author.locator(".thread-head")).to_contain_text("Sinta Pelanggan")
    await author.get_by_role("tab", name="Note").click()
    text = author.locator(".composer textarea")
    await text.press_sequentially("@Bagus")
    await author.get_by_role("option", name="Bagus Kedua").click()
    await expect(text).to_have_value("@Bagus Kedua ")
    # Meanwhile the conversation is assigned to Ayu: Bagus, a plain agent, no longer sees it.
    await world.call(
        "POST",
        f"/api/v1/conversations/{conversation}/assign",
        json={"agent_id": ayu.id},
    )
    await author.keyboard.press("Control+Enter")
    await expect(author.locator(".composer-error")).to_have_text(
        "mentions: Bagus Kedua cannot see this conversation"
    )
    await expect(text).to_have_value("@Bagus Kedua ")  # nothing lost, nothing written
    notes = await world.call("GET", f"/api/v1/conversations/{conversation}/notes")
    assert notes["items"] == []
    unread = await world.call("GET", "/api/v1/notifications/unread-count", headers=bagus.headers)
    assert unread["unread_count"] == 0
