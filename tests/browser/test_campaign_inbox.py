"""What agents see of campaigns, in a real browser against the real API, worker and Graph
API sandbox: no Campaigns page; a customer who answers a campaign lands in the inbox with
the campaign's message in the timeline, labelled with the campaign, before the answer;
the contact panel says whether the customer's number is opted out of campaigns (and why),
also after a reload and live when the customer writes STOP or an admin changes it, and
"Stop campaigns" opts it out."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from typing import Any

from playwright.async_api import Dialog, expect

from tests.browser.conftest import OpenPage, World, shot
from tests.browser.test_campaigns import LIVE_WAIT, _whatsapp


async def _completed(world: World, campaign_id: str, within: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        campaign = await world.call("GET", f"/api/v1/campaigns/{campaign_id}")
        if campaign["status"] == "completed":
            return dict(campaign)
        await asyncio.sleep(0.2)
    raise AssertionError(f"campaign {campaign_id} did not complete: {campaign}")


async def test_an_agent_sees_no_campaigns(world: World, open_page: OpenPage) -> None:
    agent = await world.agent(name="Agen Tanpa Kampanye")
    page = await open_page(agent)
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Settings")).to_be_visible()
    await expect(nav.get_by_role("link", name="Campaigns")).to_have_count(0)
    await page.goto(f"{world.stack.url}/#/campaigns")
    await expect(page.locator(".inbox")).to_be_visible()
    await expect(page.get_by_role("heading", level=1, name="Campaigns")).to_have_count(0)
    status = await page.evaluate(
        """async () => (await fetch("/api/v1/campaigns", {headers: {Authorization: "Bearer "
            + localStorage.getItem("omnistream.access")}})).status"""
    )
    assert status == 403


async def test_an_answer_to_a_campaign_shows_the_campaign_in_the_inbox(
    world: World, open_page: OpenPage
) -> None:
    """A one-recipient campaign for a division; the customer answers; the division's agent
    sees the conversation arrive and, opening it, the campaign's message labelled with the
    campaign, before the answer, and the campaign named in the header."""
    integration, template = await _whatsapp(world)
    division = await world.division("Promo Inbox")
    agent = await world.agent(name="Agen Promo", divisions=[division])
    phone, name = "6281288800201", f"Promo Kilat {secrets.token_hex(2)}"
    campaign = await world.call(
        "POST",
        "/api/v1/campaigns",
        json={
            "name": name,
            "integration_account_id": integration["accounts"][0]["id"],
            "template_id": template["id"],
            "variables": {"name": {"column": "name"}, "discount": {"value": "30%"}},
            "division_id": division,
        },
    )
    base = f"/api/v1/campaigns/{campaign['id']}"
    await world.call(
        "PUT",
        f"{base}/audience/csv",
        files={"file": ("satu.csv", f"phone,name\n{phone},Rina Promo\n".encode(), "text/csv")},
    )
    page = await open_page(agent)
    await world.call("POST", f"{base}/schedule", json={})
    await _completed(world, campaign["id"])
    await expect(page.locator(".conv-row")).to_have_count(0)  # a send opens no conversation

    await world.customer(phone, "Masih berlaku promonya?", name="Rina Promo")
    row = page.locator(".conv-row", has_text="Rina Promo")
    await expect(row).to_be_visible(timeout=LIVE_WAIT)
    await row.click()
    timeline = page.get_by_role("log", name="Messages")
    bubbles = timeline.locator("article.msg")
    await expect(bubbles).to_have_count(2, timeout=LIVE_WAIT)
    sent, answer = bubbles.nth(0), bubbles.nth(1)
    await expect(sent.locator(".campaign-tag")).to_have_text(f"Campaign: {name}")
    await expect(sent).to_contain_text("Hi Rina Promo, enjoy 30% off your next order!")
    await expect(answer).to_contain_text("Masih berlaku promonya?")
    await expect(answer.locator(".campaign-tag")).to_have_count(0)
    header = page.locator(".thread-head")
    await expect(header.locator(".campaign-tag")).to_have_text(f"Campaign: {name}")
    await shot(page, "inbox-campaign-reply")

    # The same after a reload, and in Bahasa Indonesia.
    await page.reload()
    await page.get_by_label("Language").select_option("id")
    timeline = page.get_by_role("log", name="Pesan")
    await expect(timeline.locator("article.msg").nth(0).locator(".campaign-tag")).to_have_text(
        f"Kampanye: {name}"
    )
    await expect(page.locator(".thread-head .campaign-tag")).to_have_text(f"Kampanye: {name}")
    await page.get_by_label("Bahasa").select_option("en")


async def test_an_agent_stops_campaigns_for_a_customer(world: World, open_page: OpenPage) -> None:
    phone = "6281288800301"
    agent = await world.agent(name="Agen Berhenti")
    await world.customer(phone, "Tolong jangan kirim promo lagi", name="Dewi Stop")
    conversation = await world.conversation_of(phone)
    url = f"{world.stack.url}/#/inbox/{conversation['id']}"
    try:
        # The button in Bahasa Indonesia.
        page_id = await open_page(agent)
        await page_id.get_by_label("Language").select_option("id")
        await page_id.goto(url)
        panel_id = page_id.get_by_role("complementary", name=re.compile("Kontak"))
        await expect(panel_id.get_by_role("button", name="Hentikan kampanye")).to_be_visible()

        page = await open_page(agent)
        await page.goto(url)
        panel = page.get_by_role("complementary", name=re.compile("Contact"))
        await expect(panel).to_contain_text("+6281288800301")
        asked: list[str] = []

        async def confirm(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await dialog.accept()

        page.once("dialog", confirm)
        await panel.get_by_role("button", name="Stop campaigns").click()
        said = panel.get_by_role("status")
        await expect(said).to_contain_text("Opted out of campaigns")
        await expect(said).to_contain_text("By an agent · Agen Berhenti")
        await expect(panel.get_by_role("button", name="Stop campaigns")).to_have_count(0)
        assert "+6281288800301" in asked[0], asked
        stored = await world.call("GET", "/api/v1/campaign-opt-outs", params={"q": phone})
        [opt_out] = [o for o in stored["items"] if o["phone"] == phone]
        assert opt_out["reason"] == "agent" and opt_out["created_by"] == agent.id, opt_out
        # The panel reads the state: a reload shows the same, never the button again.
        await page.reload()
        await expect(said).to_contain_text("By an agent · Agen Berhenti")
        await expect(panel.get_by_role("button", name="Stop campaigns")).to_have_count(0)
    finally:
        await world.http.delete(
            f"/api/v1/campaign-opt-outs/{phone}", headers=world.admin.headers
        )  # campaigns in later tests may reach the number again


async def test_the_contact_panel_shows_whether_the_number_is_opted_out(
    world: World, open_page: OpenPage
) -> None:
    """A number opted out through the API beforehand is said so when its conversation is
    opened (and after a reload, in Bahasa Indonesia); a number that is not gets the button,
    until the customer writes STOP: then the panel says so live."""
    out, still_in = "6281288800401", "6281288800402"
    agent = await world.agent(name="Agen Panel")
    await world.call(
        "POST", "/api/v1/campaign-opt-outs", json={"phone": f"+{out}", "note": "Minta via telepon"}
    )
    try:
        await world.customer(out, "Halo, saya sudah berhenti", name="Tono Keluar")
        await world.customer(still_in, "Halo, ada promo?", name="Tini Masih")
        page = await open_page(agent)
        panel = page.get_by_role("complementary", name=re.compile("Contact"))
        said = panel.get_by_role("status")

        await page.locator(".conv-row", has_text="Tono Keluar").click()
        await expect(panel).to_contain_text(f"+{out}")
        await expect(said).to_contain_text("Opted out of campaigns")
        await expect(said).to_contain_text("Through the API · Ada Admin")
        await expect(said).to_contain_text("Minta via telepon")
        await expect(panel.get_by_role("button", name="Stop campaigns")).to_have_count(0)
        await shot(page, "inbox-contact-opted-out")

        await page.locator(".conv-row", has_text="Tini Masih").click()
        await expect(panel).to_contain_text(f"+{still_in}")
        await expect(panel.get_by_role("button", name="Stop campaigns")).to_be_visible()
        await expect(said).to_have_count(0)
        # The customer taps STOP: the panel follows without a reload.
        await world.customer(still_in, "STOP", name="Tini Masih")
        await expect(said).to_contain_text("By the customer (STOP)", timeout=LIVE_WAIT)
        await expect(panel.get_by_role("button", name="Stop campaigns")).to_have_count(0)
        # An admin lets the number back in, then opts it out through the API: live too.
        await world.http.delete(
            f"/api/v1/campaign-opt-outs/{still_in}", headers=world.admin.headers
        )
        await expect(panel.get_by_role("button", name="Stop campaigns")).to_be_visible(
            timeout=LIVE_WAIT
        )
        await expect(said).to_have_count(0)
        await world.call("POST", "/api/v1/campaign-opt-outs", json={"phone": f"+{still_in}"})
        await expect(said).to_contain_text("Through the API · Ada Admin", timeout=LIVE_WAIT)

        # After a reload, in Bahasa Indonesia.
        await page.locator(".conv-row", has_text="Tono Keluar").click()
        await expect(panel).to_contain_text(f"+{out}")
        await page.reload()
        await page.get_by_label("Language").select_option("id")
        panel = page.get_by_role("complementary", name=re.compile("Kontak"))
        await expect(panel.get_by_role("status")).to_contain_text("Tidak menerima kampanye lagi")
        await expect(panel.get_by_role("status")).to_contain_text("Lewat API · Ada Admin")
        await expect(panel.get_by_role("button", name="Hentikan kampanye")).to_have_count(0)
        await page.get_by_label("Bahasa").select_option("en")
    finally:
        for phone in (out, still_in):
            await world.http.delete(
                f"/api/v1/campaign-opt-outs/{phone}", headers=world.admin.headers
            )
