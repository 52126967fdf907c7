"""A reply whose worker died is shown as "Retrying after a restart" (docs/crash-safety.md):
live, as soon as another worker's takeover pass notices, in both languages; and gone once a
worker sends it. The dead worker is played by a connection holding a liveness lock, closed."""

from __future__ import annotations

import asyncpg
import pytest
from playwright.async_api import expect

from omnistream.workers import queries as worker_queries
from tests.browser.conftest import OpenPage, World

DEAD_KEY = 424242


@pytest.mark.parametrize(
    ("lang", "label"),
    [("en", "Retrying after a restart"), ("id", "Dikirim ulang setelah mulai ulang")],
)
async def test_a_reply_of_a_dead_worker_says_it_is_retried_then_goes_out(
    world: World, open_page: OpenPage, lang: str, label: str
) -> None:
    sender = "6281200000777" if lang == "en" else "6281200000778"
    await world.customer(sender, "Halo, pesanan saya?", name=f"Wulan {lang}")
    conversation = await world.conversation_of(sender)
    worker = await asyncpg.connect(world.stack.dsn)  # a worker's liveness lock
    assert await worker_queries.try_lock(worker, DEAD_KEY)
    conn = await asyncpg.connect(world.stack.dsn)
    try:
        # The worker claimed this reply (its lease runs 5 minutes) and is about to die.
        message_id = await conn.fetchval(
            "INSERT INTO messages (conversation_id, channel, direction, type, content, status, "
            "attempts, next_attempt_at, claimed_by) VALUES ($1, 'whatsapp', 'outbound', 'text', "
            "'{\"text\": \"Sedang kami cek\"}', 'pending', 1, now() + interval '5 minutes', $2) "
            "RETURNING id",
            conversation["id"],
            DEAD_KEY,
        )
        page = await open_page(world.admin)
        if lang != "en":
            await page.evaluate(f"localStorage.setItem('omnistream.lang', '{lang}')")
            await page.reload()
            await expect(page.locator(".live-status[data-status=live]")).to_be_visible()
        await page.locator(".conv-row", has_text=f"Wulan {lang}").click()
        bubble = page.locator(f"#msg-{message_id}")
        await expect(bubble).to_have_attribute("data-status", "pending")
        await expect(bubble.locator(".recovering")).to_have_count(0)  # its worker is alive

        worker.terminate()  # SIGKILL: the server ends the session and frees the lock
        await expect(bubble.locator(".recovering")).to_have_text(label, timeout=10_000)
        # The grace passes (fast-forwarded): the stack's worker sends it.
        await conn.execute(
            "UPDATE messages SET recovering_since = now() - interval '1 hour' WHERE id = $1",
            message_id,
        )
        await expect(bubble).not_to_have_attribute("data-status", "pending", timeout=10_000)
        await expect(bubble.locator(".recovering")).to_have_count(0)
        sends = [s for s in await world.sends() if s["body"].get("to") == sender]
        assert len(sends) == 1
    finally:
        worker.terminate()
        await conn.close()
