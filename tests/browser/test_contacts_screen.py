"""The contacts screen in a real browser: an admin defines a list attribute in Settings ›
Contact attributes, finds a contact by searching the Contacts table, sets the attribute
(a select of the options) and a number attribute on the contact's page, and sees both saved
after a reload; a refused value is shown at its input."""

from __future__ import annotations

import secrets

from playwright.async_api import expect

from tests.browser.conftest import OpenPage, World


async def test_the_contact_page_edits_an_attribute_and_it_stays_saved(
    world: World, open_page: OpenPage
) -> None:
    tag = secrets.token_hex(2)
    tier, visits = f"tier_{tag}", f"visits_{tag}"
    await world.call(
        "POST", "/api/v1/contact-attributes",
        json={"key": visits, "label": f"Visits {tag}", "type": "number"},
    )  # fmt: skip
    name = f"Wulan {tag}"
    contact = await world.call("POST", "/api/v1/contacts", json={"name": name})
    page = await open_page(world.admin)

    # Settings › Contact attributes: a list attribute with two options.
    await page.goto(f"{world.stack.url}/#/settings/contactAttributes")
    await page.get_by_role("button", name="New attribute").click()
    await page.get_by_label("Key").fill(tier)
    await page.get_by_label("Label").fill(f"Tier {tag}")
    await page.get_by_label("Type").select_option("list")
    await page.get_by_label("Options (one per line, for a list)").fill("gold\nsilver")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("table.data code", has_text=tier)).to_be_visible()

    # The Contacts table: search, open the contact with the keyboard.
    await page.get_by_role("link", name="Contacts").click()
    search = page.get_by_role("searchbox", name="Search by name, phone, email or channel id")
    await expect(search).to_be_focused()
    await search.fill(name)
    link = page.get_by_role("link", name=f"Open {name}")
    await expect(link).to_have_count(1)
    await link.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name=name)).to_be_visible()

    select = page.get_by_label(f"Tier {tag}")
    number = page.get_by_label(f"Visits {tag}")
    await select.select_option("gold")
    await number.fill("42")
    await page.locator("form.contacts-attributes").get_by_role("button", name="Save").click()
    await expect(page.locator("#toasts")).to_contain_text("saved")
    saved = await world.call("GET", f"/api/v1/contacts/{contact['id']}")
    assert saved["attributes"] == {tier: "gold", visits: 42}

    await page.reload()
    await expect(page.get_by_role("heading", name=name)).to_be_visible()
    await expect(page.get_by_label(f"Tier {tag}")).to_have_value("gold")
    await expect(page.get_by_label(f"Visits {tag}")).to_have_value("42")

    # The admin removes the option meanwhile: saving "silver" is refused at its input.
    await world.call("PATCH", f"/api/v1/contact-attributes/{(await _definition(world, tier))['id']}",
                     json={"options": ["gold", "silver", "bronze"]})  # fmt: skip
    # The page rereads the definitions live: the new option shows before the agent picks.
    await expect(
        page.get_by_label(f"Tier {tag}").locator("option", has_text="bronze")
    ).to_have_count(1)
    await page.get_by_label(f"Tier {tag}").select_option("silver")
    await world.call("PATCH", f"/api/v1/contact-attributes/{(await _definition(world, tier))['id']}",
                     json={"options": ["gold", "bronze"]})  # fmt: skip
    await page.locator("form.contacts-attributes").get_by_role("button", name="Save").click()
    error = page.locator(f"[data-field='attributes.{tier}'] .field-error")
    await expect(error).to_contain_text("gold")
    saved = await world.call("GET", f"/api/v1/contacts/{contact['id']}")
    assert saved["attributes"][tier] == "gold"


async def _definition(world: World, key: str) -> dict[str, str]:
    found = [a for a in await world.call("GET", "/api/v1/contact-attributes") if a["key"] == key]
    return found[0]
