"""The sign-in page claims only what works: in English and in Bahasa Indonesia, what Chromium
shows names no feature that has not shipped (the claim table is tests/web/claims.py), and
the web app offers an integration for every shipped channel, email included."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import OpenPage, World
from tests.web.claims import unshipped_claims


@pytest.mark.parametrize(("lang", "button"), [("en", "Sign in"), ("id", "Masuk")])
async def test_the_sign_in_page_names_only_shipped_features(
    open_page: OpenPage, lang: str, button: str
) -> None:
    page = await open_page(None, lang=lang)
    await expect(page.get_by_role("button", name=button)).to_be_visible()
    text = await page.locator("body").inner_text()
    assert "WhatsApp" in text  # the channels that work are named
    assert unshipped_claims(text) == []


async def test_every_shipped_channel_is_offered(world: World, open_page: OpenPage) -> None:
    """Email too, since the API creates email integrations (AVAILABLE_CHANNELS)."""
    page = await open_page(world.admin)
    await page.goto(f"{world.stack.url}/#/settings/integrations")
    await page.get_by_role("button", name="New integration").click()
    channel = page.get_by_role("dialog").get_by_label("Channel")
    options = await channel.locator("option").all_inner_texts()
    assert options == ["WhatsApp", "Messenger", "Instagram", "Email"]
