"""A Messenger customer in a real browser: the worker looks their profile up in the sandbox,
and the inbox shows the name instead of "Unknown customer"; a picture that cannot be shown
gives way to the initials."""

from __future__ import annotations

import asyncio
import re
import secrets

from playwright.async_api import Route, expect

from tests.browser.conftest import OpenPage, World, shot

PSID = "7300000000000001"


async def test_a_messenger_customer_is_shown_by_their_profile_name(
    world: World, open_page: OpenPage
) -> None:
    page_id = "3" + "".join(secrets.choice("0123456789") for _ in range(14))
    token, secret = f"page-token-{secrets.token_hex(8)}", secrets.token_hex(16)
    await world.sandbox_post(
        "/accounts",
        {
            "channel": "messenger",
            "external_id": page_id,
            "access_token": token,
            "app_secret": secret,
            "name": "Toko Test Page",
        },
    )
    integration = await world.call(
        "POST",
        "/api/v1/integrations",
        json={
            "channel": "messenger",
            "name": "Toko Test Messenger",
            "credentials": {
                "page_access_token": token,
                "app_secret": secret,
                "verify_token": "browser-verify-page",
                "base_url": world.stack.sandbox_url,
            },
        },
    )
    try:
        await world.call(
            "POST",
            f"/api/v1/integrations/{integration['id']}/accounts",
            json={"external_id": page_id, "display_name": "Toko Test Page"},
        )
        page = await open_page(world.admin)

        # The new row is fetched when its conversation's event arrives. Played here: that
        # fetch was answered before the lookup named the customer, and the answer comes after
        # the profile's contact.updated (a slow network or server): the row must still end up
        # with the name.
        async def late(route: Route) -> None:
            answer = await route.fetch()
            body = await answer.json()
            if "contact" in body:
                body["contact"] |= {"name": None, "updated_at": "2000-01-01T00:00:00+00:00"}
            await asyncio.sleep(2)
            await route.fulfill(response=answer, json=body)

        await page.route(re.compile(r".*/api/v1/conversations/[0-9a-f-]{36}$"), late)
        sent = await world.sandbox_post(
            "/customers/send",
            {"account": page_id, "from": PSID, "name": "Ana Lima", "text": "Ship to Bandung?"},
        )
        assert sent["delivered"], sent
        # The webhook carries no name: it arrives by the profile lookup, live.
        conversation = page.locator(".conv-row", has_text="Ship to Bandung?")
        await expect(conversation.locator(".conv-name")).to_have_text("Ana Lima")
        # (Scoped to this row: a conversation of another test's customer may still arrive.)
        await expect(conversation).not_to_contain_text("Unknown customer")
        await page.unroute(re.compile(r".*/api/v1/conversations/[0-9a-f-]{36}$"), late)
        await conversation.click()
        card = page.locator(".contact-card")
        await expect(card.locator(".contact-name")).to_have_text("Ana Lima")
        await expect(page.locator(".thread-title")).to_have_text("Ana Lima")
        # The sandbox's picture is plain http, which the page may not load (as an expired
        # Meta URL would fail): the initials stand in, no broken image.
        await expect(card.locator("div.avatar.big")).to_have_text("AL")
        await expect(card.locator("img")).to_have_count(0)
        listed = await world.call("GET", "/api/v1/conversations", params={"channel": "messenger"})
        contact = await world.call("GET", f"/api/v1/contacts/{listed['items'][0]['contact_id']}")
        assert contact["profile_pic_url"] == f"{world.stack.sandbox_url}/cdn/profile/{PSID}.png"
        await shot(page, "contact-profile-name")
    finally:
        await world.call("DELETE", f"/api/v1/integrations/{integration['id']}")
