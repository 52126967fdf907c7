"""The screen stays true without a reload: every event that changes what is shown updates
every place showing it (list row, thread header, bubble, contact panel, scheduled items)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import OpenPage, World

JAKARTA = ZoneInfo("Asia/Jakarta")  # the browser's zone in these tests


def row(page: Page, name: str) -> Locator:
    return page.locator(".conv-row", has_text=name)


async def open_conversation(page: Page, name: str) -> None:
    await row(page, name).click()
    await expect(page.locator(".thread-title")).to_have_text(name)


async def mark_same_page(page: Page) -> None:
    await page.evaluate("window.__samePage = true")


async def still_same_page(page: Page) -> None:
    assert await page.evaluate("window.__samePage") is True  # no reload happened


async def reply(page: Page, text: str) -> Locator:
    box = page.get_by_label("Message", exact=True)
    await box.fill(text)
    await box.press("Control+Enter")
    return page.locator(".msg.outbound", has_text=text)


async def test_a_retried_message_moves_on_to_read_without_reload(
    world: World, open_page: OpenPage
) -> None:
    sender = "6281200000611"
    await world.customer(sender, "Nomor saya aktif lagi", name="Retno Ayu")
    await world.conversation_of(sender)
    # The first send is accepted, then reported failed; the retry goes through.
    await world.sandbox_post(
        "/faults", {"kind": "failed_status", "recipient": sender, "code": 131026, "times": 1}
    )
    page = await open_page(world.admin)
    await open_conversation(page, "Retno Ayu")
    await mark_same_page(page)
    bubble = await reply(page, "Pesanan Anda sudah dikirim")
    await expect(bubble).to_have_attribute("data-status", "failed", timeout=6000)
    await expect(bubble.locator(".failure")).to_contain_text("Not delivered")

    await bubble.get_by_role("button", name="Retry").click()
    await expect(bubble).to_have_attribute("data-status", "read", timeout=8000)
    await expect(bubble.get_by_role("img", name="Read")).to_be_visible()
    await expect(bubble.locator(".failure")).to_have_count(0)
    await expect(bubble.get_by_role("button", name="Retry")).to_have_count(0)
    await expect(page.locator(".msg.outbound")).to_have_count(1)
    await still_same_page(page)


async def test_a_retry_by_someone_else_reaches_an_open_screen(
    world: World, open_page: OpenPage
) -> None:
    sender = "6281200000612"
    await world.customer(sender, "Halo lagi", name="Slamet Riyadi")
    conversation = await world.conversation_of(sender)
    await world.sandbox_post(
        "/faults", {"kind": "failed_status", "recipient": sender, "code": 131026, "times": 1}
    )
    agent = await world.agent()
    page = await open_page(agent)
    await open_conversation(page, "Slamet Riyadi")
    await mark_same_page(page)
    bubble = await reply(page, "Kami kirim ulang")
    await expect(bubble).to_have_attribute("data-status", "failed", timeout=6000)
    message_id = await bubble.get_attribute("data-id")

    # The admin retries it through the API; the agent's screen follows every step.
    await world.call("POST", f"/api/v1/messages/{message_id}/retry")
    await expect(bubble).to_have_attribute("data-status", "read", timeout=8000)
    await expect(bubble.locator(".failure")).to_have_count(0)
    stored = await world.call("GET", f"/api/v1/messages/{message_id}")
    assert stored["status"] == "read"
    assert conversation["id"] == stored["conversation_id"]
    await still_same_page(page)


async def expect_contact_name(page: Page, name: str) -> None:
    await expect(page.locator(".thread-title")).to_have_text(name)
    await expect(page.locator(".conv-row.open .conv-name")).to_have_text(name)
    await expect(page.locator(".contact-pane .contact-name")).to_have_text(name)
    await expect(page).to_have_title(f"{name} · OmniStream")


async def test_an_edited_contact_shows_everywhere_without_reload(
    world: World, open_page: OpenPage
) -> None:
    sender = "6281200000621"
    await world.customer(sender, "Mau tanya ongkir", name="Budi")
    conversation = await world.conversation_of(sender)
    agent = await world.agent()
    page = await open_page(agent)
    watcher = await open_page(world.admin)
    for p in (page, watcher):
        await open_conversation(p, "Budi")
        await mark_same_page(p)

    # Edited by someone else through the API: header, list row, panel and title follow.
    await world.call(
        "PATCH", f"/api/v1/contacts/{conversation['contact_id']}", json={"name": "Budi Hartono"}
    )
    for p in (page, watcher):
        await expect_contact_name(p, "Budi Hartono")

    # Edited in the contact panel: this screen and the other one follow.
    await page.get_by_role("button", name="Edit contact").click()
    form = page.get_by_role("form", name="Edit contact")
    await form.get_by_label("Name").fill("Budi Santoso Hartono")
    await form.get_by_label("Email").fill("budi@example.com")
    await form.get_by_role("button", name="Save").click()
    for p in (page, watcher):
        await expect_contact_name(p, "Budi Santoso Hartono")
        await expect(p.locator(".contact-pane")).to_contain_text("budi@example.com")
        await still_same_page(p)


async def schedule(
    world: World, conversation_id: str, text: str, at: datetime, headers: dict[str, str]
) -> dict[str, Any]:
    return dict(
        await world.call(
            "POST",
            f"/api/v1/conversations/{conversation_id}/scheduled-messages",
            headers=headers,
            json={"type": "text", "text": text, "scheduled_at": at.isoformat()},
        )
    )


async def test_scheduled_messages_live_in_the_timeline(world: World, open_page: OpenPage) -> None:
    sender = "6281200000631"
    await world.customer(sender, "Kirim besok ya", name="Wulan Sari")
    conversation = await world.conversation_of(sender)
    agent = await world.agent()
    tomorrow = (datetime.now(JAKARTA) + timedelta(days=1)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    mine = await schedule(world, conversation["id"], "Selamat pagi Wulan", tomorrow, agent.headers)
    page = await open_page(agent)
    await open_conversation(page, "Wulan Sari")
    await mark_same_page(page)

    # Pending ones are shown after the messages, with their time in the browser's zone.
    section = page.get_by_role("region", name="Scheduled messages")
    items = section.locator(".scheduled-item")
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("Selamat pagi Wulan")
    await expect(items.first.locator("time")).to_contain_text("9:30")
    assert tomorrow.strftime("%b") in (await items.first.locator("time").inner_text())

    # One scheduled by someone else appears live, in time order.
    later = tomorrow + timedelta(hours=2)
    theirs = await schedule(world, conversation["id"], "Dari admin", later, world.admin.headers)
    await expect(items).to_have_count(2)
    await expect(items.nth(1)).to_contain_text("Dari admin")
    await expect(items.nth(1)).to_contain_text("Ada Admin")

    # Cancel works, and a cancel by someone else disappears live too.
    await items.first.get_by_role("button", name="Cancel").click()
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("Dari admin")
    assert (await world.call("GET", f"/api/v1/scheduled-messages/{mine['id']}"))[
        "status"
    ] == "cancelled"
    await world.call("POST", f"/api/v1/scheduled-messages/{theirs['id']}/cancel")
    await expect(items).to_have_count(0)
    await expect(section).to_be_hidden()

    # One that comes due becomes the real message in the timeline.
    soon = datetime.now(UTC) + timedelta(seconds=2)
    await schedule(world, conversation["id"], "Paket sudah di kurir", soon, world.admin.headers)
    await expect(items).to_contain_text(["Paket sudah di kurir"])
    await expect(page.locator(".msg.outbound", has_text="Paket sudah di kurir")).to_be_visible(
        timeout=10_000
    )
    await expect(items).to_have_count(0)
    await still_same_page(page)


async def test_a_failed_scheduled_message_says_why(world: World, open_page: OpenPage) -> None:
    sender = "6281200000641"
    long_ago = str(int(time.time()) - 25 * 3600)  # the 24-hour window has closed
    await world.customer(sender, "Pesan lama", name="Joko Widodo", timestamp=long_ago)
    conversation = await world.conversation_of(sender)
    page = await open_page(world.admin)
    await open_conversation(page, "Joko Widodo")
    await mark_same_page(page)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    await schedule(world, conversation["id"], "Masih tertarik?", soon, world.admin.headers)
    failure = page.locator(".scheduled-failed")
    await expect(failure).to_contain_text("Scheduled message not sent", timeout=10_000)
    await expect(failure).to_contain_text("Masih tertarik?")
    await expect(failure).to_contain_text("window")
    await expect(page.locator(".scheduled-item")).to_have_count(0)
    await still_same_page(page)
    # The same after a reload.
    await page.reload()
    await expect(page.locator(".scheduled-failed")).to_contain_text("Masih tertarik?")


async def test_a_colleague_added_after_loading_is_named_everywhere(
    world: World, open_page: OpenPage
) -> None:
    sender = "6281200000661"
    await world.customer(sender, "Siapa yang bantu saya?", name="Indah Permata")
    conversation = await world.conversation_of(sender)
    page = await open_page(world.admin)
    await open_conversation(page, "Indah Permata")
    await mark_same_page(page)
    newcomer = await world.agent(name="Nadia Putri")  # after the page read the directory
    await world.call(
        "POST",
        f"/api/v1/conversations/{conversation['id']}/assign",
        json={"agent_id": newcomer.id},
    )
    await expect(page.locator(".thread-head .assignee")).to_have_text("Nadia Putri")
    await expect(row(page, "Indah Permata").locator(".conv-meta")).to_contain_text("Nadia Putri")
    await expect(page.locator(".system-line").last).to_contain_text(
        "Ada Admin assigned the conversation to Nadia Putri"
    )
    await still_same_page(page)


async def test_merged_and_deleted_contacts_follow_on_screen(
    world: World, open_page: OpenPage
) -> None:
    await world.customer("6281200000671", "Nomor lama saya", name="Tono Lama")
    merged_away = await world.conversation_of("6281200000671")
    await world.customer("6281200000672", "Nomor baru saya", name="Tono Baru")
    survivor = await world.conversation_of("6281200000672")
    await world.customer("6281200000673", "Hapus data saya", name="Dedi Hapus")
    doomed = await world.conversation_of("6281200000673")
    page = await open_page(world.admin)
    await open_conversation(page, "Tono Lama")
    await mark_same_page(page)

    # The open conversation's contact is merged into another: header, row and panel follow.
    await world.call(
        "POST",
        f"/api/v1/contacts/{survivor['contact_id']}/merge",
        json={"other_contact_id": merged_away["contact_id"]},
    )
    await expect_contact_name(page, "Tono Baru")
    await expect(page.locator(".conv-row .conv-name", has_text="Tono Baru")).to_have_count(2)
    await expect(page.locator(".contact-pane .other-conversations li")).to_have_count(1)

    # A deleted contact's conversation leaves the list and, when open, closes.
    await row(page, "Dedi Hapus").click()
    await expect(page.locator(".thread-title")).to_have_text("Dedi Hapus")
    await world.call("DELETE", f"/api/v1/contacts/{doomed['contact_id']}")
    await expect(row(page, "Dedi Hapus")).to_have_count(0)
    await expect(page.locator(".thread-title")).to_have_count(0)
    await expect(page.get_by_text("That conversation has moved out of your inbox.")).to_be_visible()
    await still_same_page(page)
