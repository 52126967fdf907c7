"""Search in the inbox, in a real browser: type a query, see the highlighted result, open
the conversation at the matching message (older than the first page of the thread), in
English and Bahasa Indonesia."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import OpenPage, World, shot


def bubble(page: Page, n: int) -> Locator:
    """The bubble of message n (its text exactly: a bubble's text runs on into its time)."""
    return page.locator(".msg .text").filter(has_text=re.compile(rf"^Pesan biasa nomor {n}$"))


async def _long_conversation(world: World, sender: str, name: str) -> tuple[str, str]:
    """A conversation of 120 messages; the 11th says the rare word. Its id and that
    message's id."""
    await world.customer(sender, "Halo, saya mau tanya", name=name)
    conversation = await world.conversation_of(sender)
    start = datetime.now(UTC) - timedelta(hours=3)
    conn = await asyncpg.connect(world.stack.dsn)
    try:
        ids: list[UUID] = []
        for i in range(120):
            text = (
                "Dijanjikan voucher zamrud untuk pesanan 4711"
                if i == 10
                else f"Pesan biasa nomor {i}"
            )
            ids.append(
                await conn.fetchval(
                    "INSERT INTO messages (conversation_id, channel, direction, type, content, "
                    "status, created_at) VALUES ($1, 'whatsapp', 'inbound', 'text', "
                    "jsonb_build_object('text', $2::text), 'received', $3) RETURNING id",
                    UUID(conversation["id"]),
                    text,
                    start + timedelta(minutes=i),
                )
            )
    finally:
        await conn.close()
    return conversation["id"], str(ids[10])


async def test_search_opens_the_conversation_at_the_matching_message(
    world: World, open_page: OpenPage
) -> None:
    conversation_id, hit_id = await _long_conversation(world, "6281200003456", "Sari Zamrud")
    page = await open_page(world.admin)
    box = page.get_by_label("Search messages, notes and contacts")
    await box.fill("zamru")
    await box.press("Enter")

    result = page.locator(".search-row")
    await expect(result).to_have_count(1)
    await expect(result.locator(".conv-name")).to_have_text("Sari Zamrud")
    await expect(result.locator(".search-snippet mark")).to_have_text("zamrud")
    await expect(result.locator(".search-snippet")).to_contain_text(
        "Dijanjikan voucher zamrud untuk pesanan 4711"
    )
    await expect(page.locator(".conv-list")).to_be_hidden()  # results take the list's place
    await shot(page, "search-results")

    await result.locator("button").click()
    await expect(page).to_have_url(f"{world.stack.url}/#/inbox/{conversation_id}")
    hit = page.locator(f"#msg-{hit_id}")
    await expect(hit).to_have_class("msg inbound status-received search-hit")
    await expect(hit).to_be_in_viewport()
    await expect(hit).to_contain_text("voucher zamrud")
    # Around the hit, not the newest page: newer messages come on request.
    await expect(bubble(page, 119)).to_have_count(0)
    await page.get_by_role("button", name="Show newer messages").click()
    await expect(bubble(page, 40)).to_have_count(1)
    await shot(page, "search-opened")

    # A phone fragment finds the contact; closing the results brings the list back.
    await box.fill("3456")
    await box.press("Enter")
    await expect(page.locator(".search-row[data-kind=contact] mark")).to_have_text("3456")
    await page.get_by_role("button", name="Close search").click()
    await expect(page.locator(".conv-list")).to_be_visible()


async def test_a_note_hit_opens_at_the_note(world: World, open_page: OpenPage) -> None:
    conversation_id, _ = await _long_conversation(world, "6281200007777", "Rina Catatan")
    # Written (as the API writes it: now) then dated among the old messages, before the
    # first page of the thread.
    note = await world.call(
        "POST",
        f"/api/v1/conversations/{conversation_id}/notes",
        json={"body": "Pelanggan dijanjikan ongkir gratis bulan depan"},
    )
    conn = await asyncpg.connect(world.stack.dsn)
    try:
        await conn.execute(
            "UPDATE conversation_notes SET created_at = (SELECT created_at FROM messages "
            "WHERE conversation_id = $1 ORDER BY created_at LIMIT 1 OFFSET 20) WHERE id = $2",
            UUID(conversation_id),
            UUID(note["id"]),
        )
    finally:
        await conn.close()
    page = await open_page(world.admin)
    box = page.get_by_label("Search messages, notes and contacts")
    await box.fill("ongkir gratis")
    await box.press("Enter")
    result = page.locator(".search-row[data-kind=note]")
    await expect(result.locator(".search-kind")).to_have_text("Note")
    await expect(result.locator("mark")).to_have_text(["ongkir", "gratis"])
    await result.locator("button").click()
    hit = page.locator(f"#note-{note['id']}")
    await expect(hit).to_have_class("note search-hit")
    await expect(hit).to_be_in_viewport()
    # The messages around the note are there, the newest ones not yet.
    await expect(bubble(page, 21)).to_have_count(1)
    await expect(bubble(page, 119)).to_have_count(0)


async def test_search_speaks_bahasa_indonesia(world: World, open_page: OpenPage) -> None:
    await world.customer("6281299990001", "Apakah barang ini ready stok?", name="Budi")
    await world.conversation_of("6281299990001")
    page = await open_page(world.admin, lang="id")
    box = page.get_by_label("Cari pesan, catatan, dan kontak")
    await expect(box).to_have_attribute("placeholder", "Cari di semua pesan dan catatan…")
    await box.fill("barang")
    await box.press("Enter")
    await expect(page.locator(".search-row .search-kind")).to_have_text("Pesan")
    await expect(page.locator(".search-row mark")).to_have_text("barang")
    await box.fill("tidakada")
    await box.press("Enter")
    await expect(page.get_by_text("Tidak ada yang cocok.")).to_be_visible()
    await expect(page.get_by_role("button", name="Tutup pencarian")).to_be_visible()
