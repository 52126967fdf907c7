"""Settings › Webhooks in a real browser: an admin creates an endpoint pointing at a real
HTTP receiver on loopback, copies the one-time secret, and the test event that arrives
verifies with that secret (the Standard Webhooks reference verifier); a failing delivery
shows its error, and redelivered from the page it succeeds; the list follows live events;
the page speaks Bahasa Indonesia; a plain agent never sees it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect
from standardwebhooks import Webhook

from tests.browser.conftest import OpenPage, World, shot

# Deliveries have no live event: the page's log reads itself again every 3 s.
LOG_WAIT = 12_000


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST; `failing` makes it answer 500."""

    url: str
    calls: list[Call] = field(default_factory=list)
    failing: bool = False


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = 500 if state.failing else 200
            with lock:
                state.calls.append(Call(self.path, dict(self.headers), body, status))
            text = b"receiver down for maintenance" if status == 500 else b"thanks"
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: pytest shows the assertion instead

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


async def until(check: Callable[[], bool], within: float = 15, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        await asyncio.sleep(0.1)


def accept_next_confirm(page: Page) -> None:
    page.once("dialog", lambda confirm: asyncio.ensure_future(confirm.accept()))


def detail(card: Locator, label: str) -> Locator:
    """The value next to a label in an endpoint's card."""
    return card.locator(".kv", has=card.page.locator(f"dt:text-is('{label}')")).locator("dd")


async def open_webhooks(page: Page) -> None:
    await page.get_by_role("link", name="Settings").click()
    await (
        page.get_by_role("navigation", name="Settings sections")
        .get_by_role("link", name="Webhooks")
        .click()
    )
    await expect(page.get_by_role("heading", level=1, name="Webhooks")).to_be_visible()


async def test_an_admin_creates_a_webhook_tests_it_and_redelivers_a_failure(
    world: World, open_page: OpenPage, receiver: Receiver
) -> None:
    url = f"{receiver.url}/hooks/crm"
    page = await open_page(world.admin)
    await page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=world.stack.url
    )
    try:
        await _create_and_test(world, page, receiver, url)
    finally:
        for hook in (await world.call("GET", "/api/v1/webhooks"))["items"]:
            if hook["url"].startswith(receiver.url):
                await world.call("DELETE", f"/api/v1/webhooks/{hook['id']}")


async def _create_and_test(world: World, page: Page, receiver: Receiver, url: str) -> None:
    await open_webhooks(page)
    await page.get_by_role("button", name="New webhook").click()
    dialog = page.get_by_role("dialog", name="New webhook")
    # The server's own URL check, next to the field it names.
    await dialog.get_by_label("URL").fill("ftp://crm.example.com/hook")
    await dialog.get_by_label("Description").fill("CRM sync")
    await dialog.get_by_label("All events").uncheck()
    await dialog.get_by_label("conversation.created", exact=True).check()
    await dialog.get_by_label("message.created", exact=True).check()
    await dialog.get_by_role("button", name="Create webhook").click()
    await expect(dialog.locator("[data-field=url] .field-error")).to_contain_text("https://")
    await expect(dialog.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    await dialog.get_by_label("URL").fill(url)
    await dialog.get_by_role("button", name="Create webhook").click()

    # The signing secret, this once, copied to the clipboard.
    shown = page.get_by_role("dialog", name="The webhook's signing secret")
    await expect(shown).to_contain_text("shown only this once")
    secret = await shown.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_"), secret
    await shown.get_by_role("button", name="Copy").click()
    await expect(shown.get_by_role("status")).to_have_text("Copied to the clipboard.")
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    await shot(page, "settings-webhooks-secret")
    await shown.get_by_role("button", name="I have stored it").click()
    await expect(shown).to_have_count(0)

    card = page.get_by_role("article", name=url)
    await expect(card).to_contain_text("CRM sync")
    await expect(card.locator(".pill")).to_have_text("Active")
    await expect(detail(card, "Events")).to_have_text("conversation.created, message.created")
    await expect(detail(card, "Pending deliveries")).to_have_text("0")

    # The test event reaches the receiver, signed with the secret the page showed.
    await card.get_by_role("button", name="Send test event").click()
    await until(lambda: len(receiver.calls) == 1, what="the test event at the receiver")
    ping = receiver.calls[0]
    assert ping.path == "/hooks/crm"
    event = Webhook(secret).verify(ping.body, ping.headers)
    assert event["type"] == "webhook.ping" and event["seq"] == 0
    log = page.get_by_role("region", name="Delivery log")
    await expect(log.get_by_role("heading", name=f"Deliveries to {url}")).to_be_visible()
    rows = log.locator("tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("webhook.ping")
    await expect(rows.first).to_contain_text("Succeeded", timeout=LOG_WAIT)
    await expect(rows.first).to_contain_text("HTTP 200")
    await shot(page, "settings-webhooks-log")

    # A failing receiver: two deliveries wait for their retry with the error, then fail
    # when the endpoint is disabled (their next try would be 5 minutes away).
    receiver.failing = True
    await card.get_by_role("button", name="Send test event").click()
    await expect(rows).to_have_count(2, timeout=LOG_WAIT)
    await card.get_by_role("button", name="Send test event").click()
    await expect(rows).to_have_count(3, timeout=LOG_WAIT)
    newer, older = rows.nth(0), rows.nth(1)
    for row in (newer, older):
        await expect(row).to_contain_text("HTTP 500", timeout=LOG_WAIT)
        await expect(row).to_contain_text("Pending")
    await expect(detail(card, "Pending deliveries")).to_have_text("2", timeout=LOG_WAIT)
    # Each second attempt comes ~5 s later; after it the next is minutes away.
    await until(lambda: len(receiver.calls) == 5, what="the retries of the failing deliveries")
    for row in (newer, older):
        await expect(row.locator("td").nth(3)).to_have_text("2", timeout=LOG_WAIT)
    accept_next_confirm(page)
    await card.get_by_role("button", name="Disable").click()
    await expect(card.locator(".pill")).to_have_text("Disabled")
    for row in (newer, older):
        await expect(row).to_contain_text("Failed", timeout=LOG_WAIT)
        await expect(row).to_contain_text("disabled")
    await expect(detail(card, "Failed in the last 24 h")).to_have_text("2", timeout=LOG_WAIT)
    await page.get_by_label("Status").select_option("failed")
    await expect(rows).to_have_count(2)

    # Its attempts and payload; redelivery is refused while the endpoint is disabled.
    await newer.get_by_role("button", name="Details").click()
    delivery = page.get_by_role("dialog", name="Delivery of webhook.ping")
    event_id = await delivery.locator("code").first.text_content()
    attempts = delivery.locator("tbody tr")
    await expect(attempts).to_have_count(2)
    await expect(attempts.first).to_contain_text("500")
    await expect(attempts.first).to_contain_text("receiver down for maintenance")
    await expect(delivery.locator("pre.payload")).to_contain_text('"type": "webhook.ping"')
    await shot(page, "settings-webhooks-delivery")
    await delivery.get_by_role("button", name="Redeliver").click()
    await expect(page.locator(".toast.error")).to_contain_text("enable it first")
    await delivery.get_by_role("button", name="Close").click()

    # Healthy again and enabled: one redelivered from its dialog, the other with every
    # failed one since a time; both succeed.
    receiver.failing = False
    await card.get_by_role("button", name="Enable").click()
    await expect(card.locator(".pill")).to_have_text("Active")
    await newer.get_by_role("button", name="Details").click()
    await delivery.get_by_role("button", name="Redeliver").click()
    await expect(delivery).to_have_count(0)
    await page.get_by_label("Status").select_option("")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_contain_text("Succeeded", timeout=LOG_WAIT)
    await until(lambda: len(receiver.calls) == 6, what="the redelivery")
    again = receiver.calls[-1]
    assert again.answered == 200 and again.headers["webhook-id"] == event_id
    assert Webhook(secret).verify(again.body, again.headers)["type"] == "webhook.ping"
    await page.get_by_role("button", name="Redeliver failed").click()
    await expect(page.locator(".toast").last).to_have_text("Failed deliveries sent again: 1.")
    await expect(rows.nth(1)).to_contain_text("Succeeded", timeout=LOG_WAIT)
    await until(lambda: len(receiver.calls) == 7, what="the redelivery of every failed one")
    assert Webhook(secret).verify(receiver.calls[-1].body, receiver.calls[-1].headers)
    await expect(rows.filter(has_text="Succeeded")).to_have_count(3)

    # A new secret: shown once; the old one stays valid (both sign) for 24 hours.
    accept_next_confirm(page)
    await card.get_by_role("button", name="Rotate secret").click()
    rotated = page.get_by_role("dialog", name="The new signing secret")
    await expect(rotated).to_contain_text("stays valid for 24 hours")
    fresh = await rotated.get_by_label("Signing secret").input_value()
    assert fresh.startswith("whsec_") and fresh != secret
    await rotated.get_by_role("button", name="I have stored it").click()
    await expect(detail(card, "Previous secret valid until")).to_be_visible()
    count = len(receiver.calls)
    await card.get_by_role("button", name="Send test event").click()
    await until(lambda: len(receiver.calls) > count, what="the test event after the rotation")
    last = receiver.calls[-1]
    for key in (fresh, secret):
        assert Webhook(key).verify(last.body, last.headers)["type"] == "webhook.ping"

    # The list follows live events: an endpoint made, changed and deleted elsewhere.
    other = await world.call(
        "POST",
        "/api/v1/webhooks",
        json={"url": f"{receiver.url}/hooks/other", "events": ["contact.updated"]},
    )
    other_card = page.get_by_role("article", name=other["url"])
    await expect(other_card).to_contain_text("contact.updated")
    await world.call(
        "PATCH", f"/api/v1/webhooks/{other['id']}", json={"description": "Changed by API"}
    )
    await expect(other_card).to_contain_text("Changed by API")
    await world.call("DELETE", f"/api/v1/webhooks/{other['id']}")
    await expect(other_card).to_have_count(0)

    # Bahasa Indonesia: the heading, labels and the webhook field error.
    await page.get_by_label("Language").select_option("id")
    await expect(page.get_by_role("heading", level=1, name="Webhook")).to_be_visible()
    card = page.get_by_role("article", name=url)
    await expect(card.get_by_role("button", name="Kirim event uji")).to_be_visible()
    await expect(card.get_by_role("button", name="Log pengiriman")).to_be_visible()
    await expect(card.locator(".pill")).to_have_text("Aktif")
    await expect(card.locator("dt").nth(1)).to_have_text("Pengiriman tertunda")
    await page.get_by_role("button", name="Webhook baru").click()
    dialog = page.get_by_role("dialog", name="Webhook baru")
    await expect(dialog.get_by_label("Semua event")).to_be_checked()
    await dialog.get_by_label("URL").fill("ftp://contoh.id/hook")
    await dialog.get_by_role("button", name="Buat webhook").click()
    await expect(dialog.locator("[data-field=url] .field-error")).to_contain_text(
        "URL ini tidak dapat dipakai untuk webhook"
    )
    await shot(page, "settings-webhooks-bahasa")
    await dialog.get_by_role("button", name="Batal").click()
    await page.get_by_label("Bahasa").select_option("en")

    # Deleted from the page, after confirming: gone, and its log closes.
    await expect(card).to_be_visible()
    accept_next_confirm(page)
    await card.get_by_role("button", name="Delete").click()
    await expect(card).to_have_count(0)
    await expect(log).to_have_count(0)
    await expect(page.locator(".cards")).to_contain_text("No webhook yet")


async def test_a_plain_agent_sees_no_webhooks(world: World, open_page: OpenPage) -> None:
    agent = await world.agent(name="Agen Tanpa Webhook")
    page = await open_page(agent)
    await page.get_by_role("link", name="Settings").click()
    nav = page.get_by_role("navigation", name="Settings sections")
    await expect(nav.get_by_role("link", name="My profile")).to_be_visible()
    await expect(nav.get_by_role("link", name="Webhooks")).to_have_count(0)
    await page.goto(f"{world.stack.url}/#/settings/webhooks")
    await expect(page.get_by_role("heading", level=1)).to_have_text("My profile")
    status = await page.evaluate(
        """async () => (await fetch("/api/v1/webhooks", {headers: {Authorization: "Bearer "
            + localStorage.getItem("omnistream.access")}})).status"""
    )
    assert status == 403
