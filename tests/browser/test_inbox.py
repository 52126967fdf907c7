"""The inbox in a real browser: conversations from the sandbox, live messages, replies that
reach the Graph API with their ticks, notes that never leave, transfers between divisions."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import WA_ACCOUNT, WA_TOKEN, OpenPage, World, shot


def row(page: Page, name: str) -> Locator:
    return page.locator(".conv-row", has_text=name)


async def test_login_lists_conversations_from_the_sandbox(
    world: World, open_page: OpenPage
) -> None:
    earlier = str(int(time.time()) - 120)  # WhatsApp times are whole seconds
    await world.customer(
        "6281200000001", "Halo, pesanan saya belum sampai", name="Siti Rahma", timestamp=earlier
    )
    await world.customer("6281200000002", "Apakah ada warna biru?", name="Budi Santoso")
    await world.conversation_of("6281200000002")
    page = await open_page(world.admin)
    await expect(page.locator(".conv-row .conv-name")).to_have_text(["Budi Santoso", "Siti Rahma"])
    await expect(row(page, "Budi Santoso")).to_contain_text("Apakah ada warna biru?")
    await expect(row(page, "Budi Santoso").locator(".unread-badge")).to_have_text("1")
    await expect(row(page, "Siti Rahma").locator(".channel-whatsapp")).to_be_visible()
    await expect(page.locator("[data-count=unassigned]")).to_have_text("2")
    await expect(page.locator("[data-count=all]")).to_have_text("2")
    await expect(page.locator("[data-count=mine]")).to_have_text("0")
    await shot(page, "inbox")


async def test_customer_messages_appear_live_within_2_s(world: World, open_page: OpenPage) -> None:
    earlier = str(int(time.time()) - 60)  # whole seconds: keep Dewi clearly older than Rina
    await world.customer("6281200000011", "Pertama", name="Dewi Lestari", timestamp=earlier)
    await world.conversation_of("6281200000011")
    page = await open_page(world.admin)
    await row(page, "Dewi Lestari").click()
    await expect(page.locator(".msg.inbound .text")).to_have_text(["Pertama"])
    await page.evaluate("window.__samePage = true")

    started = time.monotonic()
    await world.customer(
        "6281200000011", "Kedua: sudah dikirim?", name="Dewi Lestari", timestamp=earlier
    )
    await expect(page.locator(".msg.inbound .text", has_text="Kedua")).to_be_visible(timeout=2000)
    assert time.monotonic() - started < 2
    # A new customer: a new row at the top of the open inbox.
    started = time.monotonic()
    await world.customer("6281200000012", "Saya pelanggan baru", name="Rina Wati")
    await expect(row(page, "Rina Wati")).to_be_visible(timeout=2000)
    assert time.monotonic() - started < 2
    await expect(page.locator(".conv-row .conv-name").first).to_have_text("Rina Wati")
    await expect(row(page, "Rina Wati").locator(".unread-badge")).to_have_text("1")
    assert await page.evaluate("window.__samePage") is True  # no reload happened


async def test_a_reply_reaches_the_graph_api_and_its_ticks_move(
    world: World, open_page: OpenPage
) -> None:
    sender = "6281200000021"
    await world.customer(sender, "Kapan paket saya tiba?", name="Agus Salim")
    await world.conversation_of(sender)
    page = await open_page(world.admin)
    await row(page, "Agus Salim").click()
    box = page.get_by_label("Message", exact=True)
    await box.fill("Paket Anda tiba besok pagi 🙏")
    await box.press("Control+Enter")

    bubble = page.locator(".msg.outbound")
    await expect(bubble).to_have_count(1)
    await expect(box).to_have_value("")
    await expect(bubble).to_have_attribute("data-status", "delivered", timeout=5000)
    await expect(bubble.get_by_role("img", name="Delivered")).to_be_visible()
    await expect(bubble).to_have_attribute("data-status", "read", timeout=5000)
    await expect(bubble.get_by_role("img", name="Read")).to_be_visible()
    message_id = await bubble.get_attribute("data-id")

    sends = await world.sends()
    assert len(sends) == 1, sends
    send = sends[0]
    assert send["method"] == "POST"
    assert send["path"] == f"/v21.0/{WA_ACCOUNT}/messages"
    assert send["headers"]["authorization"] == f"Bearer {WA_TOKEN}"
    assert send["body"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": sender,
        "biz_opaque_callback_data": message_id,
        "type": "text",
        "text": {"body": "Paket Anda tiba besok pagi 🙏", "preview_url": False},
    }
    await shot(page, "conversation")


async def test_a_note_never_reaches_the_sandbox(world: World, open_page: OpenPage) -> None:
    sender = "6281200000031"
    await world.customer(sender, "Tolong cek pesanan #A-1001", name="Wulan Sari")
    await world.conversation_of(sender)
    page = await open_page(world.admin)
    await row(page, "Wulan Sari").click()
    await expect(page.locator(".msg.inbound")).to_have_count(1)
    await page.locator(".timeline").click()
    await page.keyboard.press("n")  # note mode from the keyboard
    box = page.get_by_label("Message", exact=True)
    await expect(box).to_be_focused()
    await expect(page.locator(".composer")).to_have_class("composer mode-note")
    await box.fill("Pelanggan VIP: cek gudang Bandung dulu")
    await box.press("Control+Enter")
    note = page.locator(".note")
    await expect(note).to_contain_text("Pelanggan VIP: cek gudang Bandung dulu")
    await expect(note.locator(".note-tag")).to_have_text("Note")
    # A reply afterwards does go out: the pipeline works, and only the reply reached Meta.
    await page.get_by_role("tab", name="Reply").click()
    await box.fill("Sedang kami cek")
    await box.press("Control+Enter")
    await expect(page.locator(".msg.outbound")).to_have_attribute(
        "data-status", "read", timeout=6000
    )
    sends = await world.sends()
    assert [s["body"]["text"]["body"] for s in sends] == ["Sedang kami cek"]
    recorded = (await world.sandbox("/requests"))["requests"]
    assert not any("gudang" in str(r["body"]) for r in recorded)


async def test_transfer_to_another_division_moves_it_live(
    world: World, open_page: OpenPage
) -> None:
    sales = await world.division("Sales")
    billing = await world.division("Billing")
    first = await world.agent(name="Sari Sales", divisions=[sales])
    second = await world.agent(name="Bayu Billing", divisions=[billing])
    sender = "6281200000041"
    await world.customer(sender, "Tagihan saya dobel", name="Hendra Gunawan")
    conversation = await world.conversation_of(sender)
    await world.call(
        "POST",
        f"/api/v1/conversations/{conversation['id']}/transfer",
        json={"division_id": sales, "reason": "triage"},
    )
    page1 = await open_page(first)
    page2 = await open_page(second)
    await expect(row(page1, "Hendra Gunawan")).to_be_visible()
    await expect(page2.locator(".list-status")).to_have_text("No conversations here.")

    await row(page1, "Hendra Gunawan").click()
    await page1.get_by_role("button", name="Transfer").click()
    dialog = page1.get_by_role("dialog", name="Transfer")
    division = dialog.get_by_label("To division")
    billing_name = await division.locator(f"option[value='{billing}']").text_content()
    await division.select_option(billing)
    # The reason is required: an empty one gets the server's 422 next to the field.
    reason = dialog.get_by_label("Reason")
    await expect(reason).to_have_attribute("required", "")
    await dialog.get_by_role("button", name="Transfer").click()
    await expect(dialog.locator("[data-field='reason'] .field-error")).to_be_visible()
    await expect(reason).to_have_attribute("aria-invalid", "true")
    await reason.fill("Pertanyaan tagihan")
    await dialog.get_by_role("button", name="Transfer").click()

    await expect(row(page1, "Hendra Gunawan")).to_have_count(0, timeout=2000)
    await expect(row(page2, "Hendra Gunawan")).to_be_visible(timeout=2000)
    await expect(row(page2, "Hendra Gunawan")).to_contain_text(billing_name or "Billing")
    await row(page2, "Hendra Gunawan").click()
    line = page2.locator(".system-line", has_text="Sari Sales transferred")
    await expect(line).to_contain_text(f"Sari Sales transferred the conversation to {billing_name}")
    await expect(line).to_contain_text("Pertanyaan tagihan")
    await page2.get_by_role("button", name="Take").click()
    await expect(page2.locator(".thread-sub .assignee")).to_have_text("Assigned to me")
    await expect(page2.locator("[data-count=mine]")).to_have_text("1")


async def test_keyboard_moves_opens_and_replies(world: World, open_page: OpenPage) -> None:
    now = int(time.time())
    for i, name in enumerate(["Ani", "Bima", "Citra"]):  # listed newest first: Citra, Bima, Ani
        await world.customer(
            f"62812000000{50 + i}",
            f"Pesan dari {name}",
            name=name,
            timestamp=str(now - 300 + i * 100),
        )
    await world.conversation_of("6281200000052")
    page = await open_page(world.admin)
    await expect(page.locator(".conv-row")).to_have_count(3)
    await page.locator("body").press("j")
    await page.keyboard.press("j")
    await page.keyboard.press("k")
    await page.keyboard.press("j")
    await expect(page.locator(".conv-row.active")).to_contain_text("Ani")
    await page.keyboard.press("Enter")
    await expect(page.locator(".thread-title")).to_have_text("Ani")
    await expect(page.locator(".conv-row[aria-selected=true]")).to_contain_text("Ani")
    await page.locator(".timeline").click()
    await page.keyboard.press("r")
    box = page.get_by_label("Message", exact=True)
    await expect(box).to_be_focused()
    await box.press("Escape")
    await page.keyboard.press("k")
    await page.keyboard.press("Enter")
    await expect(page.locator(".thread-title")).to_have_text("Bima")
    await page.keyboard.press("?")
    await expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog")).to_have_count(0)


async def test_times_are_in_the_agents_time_zone_and_language_switches(
    world: World, open_page: OpenPage
) -> None:
    await world.customer("6281200000061", "Selamat pagi", name="Joko Widodo")
    conversation = await world.conversation_of("6281200000061")
    page = await open_page(world.admin)
    await row(page, "Joko Widodo").click()
    created = (await world.call("GET", f"/api/v1/conversations/{conversation['id']}/messages"))[
        "items"
    ][0]["created_at"]
    local = datetime.fromisoformat(created).astimezone(ZoneInfo("Asia/Jakarta"))
    await expect(page.locator(".msg.inbound time")).to_contain_text(local.strftime("%I:%M"))

    await page.get_by_label("Language").select_option("id")
    await expect(page.get_by_role("tab", name="Milik saya")).to_be_visible()
    await expect(page.get_by_role("button", name="Keluar")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("tab", name="Milik saya")).to_be_visible()
    await expect(page.locator(".day-separator").first).to_have_text("Hari ini")
    await shot(page, "conversation-bahasa")
    await page.get_by_label("Bahasa").select_option("en")
    await expect(page.get_by_role("tab", name="Mine")).to_be_visible()


async def test_usable_at_1024_px(world: World, open_page: OpenPage) -> None:
    await world.customer("6281200000071", "Layar kecil", name="Kartika")
    await world.conversation_of("6281200000071")
    page = await open_page(world.admin, width=1024)
    await row(page, "Kartika").click()
    for pane in (".list-pane", ".thread-pane", ".contact-pane"):
        await expect(page.locator(pane)).to_be_visible()
    await expect(page.get_by_role("button", name="Send")).to_be_in_viewport()
    await expect(page.get_by_role("button", name="Resolve")).to_be_in_viewport()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1024
    await shot(page, "inbox-1024")


async def test_resolve_and_reopen_show_system_lines(world: World, open_page: OpenPage) -> None:
    await world.customer("6281200000081", "Terima kasih!", name="Lina")
    await world.conversation_of("6281200000081")
    page = await open_page(world.admin)
    await row(page, "Lina").click()
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.locator(".system-line", has_text="resolved the conversation")).to_be_visible()
    await expect(page.locator(".status-badge")).to_have_text("Resolved")
    await expect(row(page, "Lina")).to_have_count(0)  # the list shows open ones
    await page.get_by_role("button", name="Reopen").click()
    await expect(page.locator(".system-line", has_text="reopened the conversation")).to_be_visible()
    await expect(row(page, "Lina")).to_be_visible()
    await page.get_by_role("button", name="Take").click()
    await expect(page.locator(".system-line", has_text="took the conversation")).to_be_visible()
    # The history survives a reload: the lines come from the server, in order.
    await page.reload()
    await expect(page.locator(".system-line > span")).to_have_text(
        [
            "Ada Admin resolved the conversation",
            "Ada Admin reopened the conversation",
            "Ada Admin took the conversation",
        ]
    )
    await asyncio.sleep(0)


async def test_a_failed_send_shows_its_reason(world: World, open_page: OpenPage) -> None:
    sender = "6281200000111"
    await world.customer(sender, "Nomor saya baru", name="Eko")
    await world.conversation_of(sender)
    await world.sandbox_post(
        "/faults", {"kind": "failed_status", "recipient": sender, "code": 131026}
    )
    page = await open_page(world.admin)
    await row(page, "Eko").click()
    box = page.get_by_label("Message", exact=True)
    await box.fill("Halo Eko")
    await box.press("Control+Enter")
    bubble = page.locator(".msg.outbound")
    await expect(bubble).to_have_attribute("data-status", "failed", timeout=6000)
    await expect(bubble.get_by_role("img", name="Failed")).to_be_visible()
    failure = bubble.locator(".failure")
    await expect(failure).to_contain_text("Not delivered")
    reason = await world.call("GET", f"/api/v1/messages/{await bubble.get_attribute('data-id')}")
    assert reason["error_reason"]
    await expect(failure).to_contain_text(reason["error_reason"])
    await expect(failure.get_by_role("button", name="Retry")).to_be_visible()


async def test_assignment_changes_appear_live(world: World, open_page: OpenPage) -> None:
    agent = await world.agent(name="Nina Agen")
    sender = "6281200000121"
    await world.customer(sender, "Bisa dibantu?", name="Oscar")
    conversation = await world.conversation_of(sender)
    page = await open_page(agent)
    await page.get_by_role("tab", name="Mine").click()
    await expect(page.locator(".list-status")).to_have_text("No conversations here.")
    await world.call(
        "POST", f"/api/v1/conversations/{conversation['id']}/assign", json={"agent_id": agent.id}
    )
    await expect(row(page, "Oscar")).to_be_visible(timeout=2000)
    await expect(row(page, "Oscar")).to_contain_text("Assigned to me")
    await expect(page.locator("[data-count=mine]")).to_have_text("1")
    await world.call("POST", f"/api/v1/conversations/{conversation['id']}/unassign")
    await expect(row(page, "Oscar")).to_have_count(0, timeout=2000)
    await expect(page.locator("[data-count=mine]")).to_have_text("0")


# Records browser notifications and chimes; the tab counts as in the background.
FAKE_ALERTS = """
window.__notes = []; window.__tones = 0;
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notes.push({title, body: options && options.body}); }
  close() {}
};
window.AudioContext = class {
  get currentTime() { return 0; }
  get destination() { return {}; }
  createOscillator() {
    window.__tones += 1;
    return {frequency: {}, connect: (next) => next, start() {}, stop() {}};
  }
  createGain() {
    return {gain: {setValueAtTime() {}, exponentialRampToValueAtTime() {}}, connect: (next) => next};
  }
};
Object.defineProperty(document, "visibilityState", {get: () => "hidden"});
"""


async def test_sound_and_notification_for_my_conversations(
    world: World, open_page: OpenPage
) -> None:
    agent = await world.agent(name="Tia Notif")
    await world.customer("6281200000131", "Halo", name="Umar")
    mine = await world.conversation_of("6281200000131")
    await world.call(
        "POST", f"/api/v1/conversations/{mine['id']}/assign", json={"agent_id": agent.id}
    )
    await world.customer("6281200000132", "Bukan milik Tia", name="Vivi")
    await world.conversation_of("6281200000132")
    page = await open_page(agent, init_script=FAKE_ALERTS)
    await page.goto(f"{world.stack.url}/#/settings/profile")
    await page.get_by_label("Play a sound for new messages in my conversations").check()
    await page.get_by_label(
        "Show a browser notification for new messages in my conversations"
    ).check()
    await expect(
        page.get_by_label("Show a browser notification for new messages in my conversations")
    ).to_be_checked()
    await page.get_by_role("link", name="Inbox").click()
    await expect(row(page, "Umar")).to_be_visible()
    tones = await page.evaluate("window.__tones")
    await world.customer("6281200000132", "Pesan lain", name="Vivi")  # not mine: silent
    await world.customer("6281200000131", "Paketnya sudah sampai?", name="Umar")
    await expect(row(page, "Umar")).to_contain_text("Paketnya sudah sampai?")
    await page.wait_for_function("window.__notes.length > 0")
    assert await page.evaluate("window.__notes") == [
        {"title": "Umar", "body": "Paketnya sudah sampai?"}
    ]
    assert await page.evaluate("window.__tones") > tones
