"""Reply tools in the composer: the quick-reply picker, templates when the 24-hour window
is closed, schedule send, and attachments; media shown inline."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, Route, expect

from tests.browser.conftest import (
    WA_ACCOUNT,
    WA_SECRET,
    WA_TOKEN,
    WA_WABA,
    OpenPage,
    World,
    shot,
)

# The smallest valid PNG (1x1), for uploads and customer images.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

BLOB = re.compile(r"^blob:")  # authenticated media are fetched, then shown from blob: URLs


@pytest.fixture
async def other_integration(world: World) -> AsyncIterator[str]:
    """A second WhatsApp integration with its templates synced (the same WABA, so the same
    names), removed afterwards; its id."""
    other = await world.call(
        "POST",
        "/api/v1/integrations",
        json={
            "channel": "whatsapp",
            "name": "Cabang Lain WhatsApp",
            "credentials": {
                "access_token": WA_TOKEN,
                "app_secret": WA_SECRET,
                "verify_token": "browser-verify-2",
                "waba_id": WA_WABA,
                "base_url": world.stack.sandbox_url,
            },
        },
    )
    await world.call("POST", f"/api/v1/integrations/{other['id']}/templates/sync")
    yield str(other["id"])
    await world.call("DELETE", f"/api/v1/integrations/{other['id']}")


async def open_conversation(page: Page, name: str) -> None:
    await page.locator(".conv-row", has_text=name).click()
    await expect(page.locator(".thread-title")).to_have_text(name)


async def test_the_quick_reply_picker_inserts_rendered_text(
    world: World, open_page: OpenPage
) -> None:
    await world.call(
        "POST",
        "/api/v1/quick-replies",
        json={"title": "Salam pembuka", "body": "Halo {{contact.name}}, ada yang bisa kami bantu?"},
    )
    pinned = await world.call(
        "POST",
        "/api/v1/quick-replies",
        json={"title": "Salam penutup", "body": "Terima kasih, {{contact.name}}!"},
    )
    await world.call("PUT", f"/api/v1/quick-replies/{pinned['id']}/favorite")
    await world.customer("6281200000201", "Permisi", name="Siti Aminah")
    await world.conversation_of("6281200000201")
    page = await open_page(world.admin)
    await open_conversation(page, "Siti Aminah")
    box = page.get_by_label("Message", exact=True)
    await box.click()
    await box.press_sequentially("/sal")
    picker = page.get_by_role("dialog", name="Quick replies")
    options = picker.get_by_role("option")
    await expect(options).to_have_count(2)
    await expect(options.first).to_contain_text("★ Salam penutup")  # favourites first
    await shot(page, "quick-reply-picker")
    await box.press("ArrowDown")
    await box.press("Enter")
    await expect(picker).to_have_count(0)
    await expect(box).to_have_value("Halo Siti Aminah, ada yang bisa kami bantu?")
    await box.press("Control+Enter")
    await expect(page.locator(".msg.outbound .text")).to_have_text(
        ["Halo Siti Aminah, ada yang bisa kami bantu?"]
    )
    # Esc closes the picker and keeps the text.
    await box.press_sequentially("Oke /")
    await expect(picker).to_be_visible()
    await box.press("Escape")
    await expect(picker).to_have_count(0)
    await expect(box).to_have_value("Oke /")


async def test_window_closed_offers_only_templates_and_a_template_send_succeeds(
    world: World, open_page: OpenPage, other_integration: str
) -> None:
    integrations = (await world.call("GET", "/api/v1/integrations"))["items"]
    integration = next(i for i in integrations if i["name"] == "Toko Test WhatsApp")
    await world.call("POST", f"/api/v1/integrations/{integration['id']}/templates/sync")
    approved = await world.call(
        "GET",
        "/api/v1/templates",
        params={"integration_id": integration["id"], "status": "APPROVED", "limit": 100},
    )
    two_days_ago = str(int(time.time()) - 2 * 86400)
    await world.customer(
        "6281200000211", "Pesanan kemarin lusa", name="Bambang", timestamp=two_days_ago
    )
    conversation = await world.conversation_of("6281200000211")
    assert conversation["integration_id"] == integration["id"] != other_integration
    page = await open_page(world.admin)
    await open_conversation(page, "Bambang")
    banner = page.locator(".window-banner")
    await expect(banner).to_contain_text("The 24-hour window is closed")
    box = page.get_by_label("Message", exact=True)
    await expect(box).to_be_disabled()
    await expect(page.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    for hidden in ("Quick replies", "Schedule"):
        await expect(page.get_by_role("button", name=hidden)).not_to_be_visible()
    await expect(page.get_by_role("button", name="Attach a file")).to_be_disabled()
    await shot(page, "window-closed")
    # Notes stay possible.
    await page.get_by_role("tab", name="Note").click()
    await expect(box).to_be_enabled()
    await page.get_by_role("tab", name="Reply").click()

    await banner.get_by_role("button", name="Send a template").click()
    dialog = page.get_by_role("dialog", name="WhatsApp templates")
    # Only the approved templates of the conversation's own integration: the other
    # integration's (same names) are not offered.
    await expect(dialog.get_by_role("option")).to_have_count(len(approved["items"]))
    await dialog.get_by_label("Search templates").fill("welcome")
    await expect(dialog.get_by_role("option")).to_have_count(1)
    await dialog.get_by_role("option", name="welcome_offer").click()
    await dialog.get_by_label("{{name}}").fill("Bambang")
    await dialog.get_by_label("{{discount}}").fill("20%")
    await expect(dialog.locator(".template-preview")).to_have_text(
        "Hi Bambang, enjoy 20% off your next order!"
    )
    await shot(page, "template-picker")
    await dialog.get_by_role("button", name="Send template").click()
    await expect(dialog).to_have_count(0)
    bubble = page.locator(".msg.outbound")
    await expect(bubble).to_contain_text("Hi Bambang, enjoy 20% off your next order!")
    await expect(bubble).to_have_attribute("data-status", "delivered", timeout=6000)
    sends = await world.sends()
    assert len(sends) == 1
    template = sends[0]["body"]["template"]
    assert sends[0]["body"]["type"] == "template" and sends[0]["path"].endswith(
        f"{WA_ACCOUNT}/messages"
    )
    assert template["name"] == "welcome_offer"
    assert "Bambang" in str(template["components"]) and "20%" in str(template["components"])


async def test_schedule_send_in_the_agents_time_zone(world: World, open_page: OpenPage) -> None:
    await world.customer("6281200000221", "Besok bisa dikirim?", name="Yuni")
    conversation = await world.conversation_of("6281200000221")
    page = await open_page(world.admin)
    await open_conversation(page, "Yuni")
    box = page.get_by_label("Message", exact=True)
    await box.fill("Selamat pagi, paket Anda dikirim hari ini.")
    await page.get_by_role("button", name="Schedule").click()
    dialog = page.get_by_role("dialog", name="Schedule")
    tomorrow = (datetime.now(ZoneInfo("Asia/Jakarta")) + timedelta(days=1)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    await dialog.get_by_label("Send at (time zone Asia/Jakarta)").fill(
        tomorrow.strftime("%Y-%m-%dT%H:%M")
    )
    await dialog.get_by_role("button", name="Schedule").click()
    await expect(dialog).to_have_count(0)
    await expect(box).to_have_value("")
    items = (
        await world.call("GET", f"/api/v1/conversations/{conversation['id']}/scheduled-messages")
    )["items"]
    assert len(items) == 1
    assert datetime.fromisoformat(items[0]["scheduled_at"]) == tomorrow.astimezone(UTC)
    assert items[0]["message"]["text"] == "Selamat pagi, paket Anda dikirim hari ini."
    # The dialog lists it, and cancels it.
    await box.fill("x")
    await page.get_by_role("button", name="Schedule").click()
    dialog = page.get_by_role("dialog", name="Schedule")
    await expect(dialog.locator(".scheduled-list li")).to_contain_text("Selamat pagi")
    await dialog.locator(".scheduled-list").get_by_role("button", name="Cancel").click()
    await expect(dialog.locator(".scheduled-list li")).to_have_count(0)
    await dialog.get_by_role("button", name="Cancel").click()
    items = (
        await world.call("GET", f"/api/v1/conversations/{conversation['id']}/scheduled-messages")
    )["items"]
    assert [i["status"] for i in items] == ["cancelled"]
    assert not await world.sends()


async def test_images_show_inline_and_attachments_are_sent(
    world: World, open_page: OpenPage
) -> None:
    await world.customer(
        "6281200000231",
        "",
        name="Fajar",
        type="image",
        caption="Foto paketnya",
        media_base64=base64.b64encode(PNG).decode(),
        mime_type="image/png",
    )
    await world.conversation_of("6281200000231")
    page = await open_page(world.admin)
    await open_conversation(page, "Fajar")
    image = page.locator(".msg.inbound img.media-img")
    # The worker fetches the file from "Meta" first; a busy machine may take a while.
    await expect(image).to_have_attribute("src", BLOB, timeout=15_000)
    assert await image.evaluate("img => img.complete && img.naturalWidth") == 1
    await expect(page.locator(".msg.inbound .text")).to_have_text(["Foto paketnya"])

    async def slow_upload(route: Route) -> None:
        await asyncio.sleep(0.8)
        await route.continue_()

    # Sent while the file is still uploading: the reply waits for it and carries it.
    await page.route("**/uploads", slow_upload)
    await page.locator(".composer input[type=file]").set_input_files(
        files=[{"name": "label.png", "mimeType": "image/png", "buffer": PNG}]
    )
    await expect(page.locator(".chip.busy")).to_contain_text("label.png")
    box = page.get_by_label("Message", exact=True)
    await box.fill("Ini labelnya")
    await box.press("Control+Enter")
    await expect(page.locator(".chip")).to_have_count(0)
    bubble = page.locator(".msg.outbound")
    await expect(bubble).to_have_count(1)
    await expect(bubble.locator("img.media-img")).to_have_attribute("src", BLOB, timeout=10_000)
    await expect(bubble).to_have_attribute("data-status", "delivered", timeout=6000)
    sends = await world.sends()
    assert sends[0]["body"]["type"] == "image"
    assert sends[0]["body"]["image"]["caption"] == "Ini labelnya"
    uploads = (await world.sandbox("/requests", path="/media", method="POST"))["requests"]
    assert len(uploads) == 1
