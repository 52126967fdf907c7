"""The contacts screen follows live events, in two browser contexts: an admin saves an
attribute and adds a note on a contact's page and a supervisor's open page of that contact
shows both without a reload, yet a value the supervisor is editing is not overwritten
until saved; the admin's Contacts table redraws a contact renamed elsewhere,
drops one merged away, shows a new one, and a delete both empties the row and tells the
supervisor's page the contact is gone."""

from __future__ import annotations

import secrets

from playwright.async_api import expect

from tests.browser.conftest import OpenPage, World


async def test_the_contacts_screen_follows_other_agents_changes(
    world: World, open_page: OpenPage
) -> None:
    tag = secrets.token_hex(3)
    visits = f"visits_{tag}"
    await world.call(
        "POST", "/api/v1/contact-attributes",
        json={"key": visits, "label": f"Visits {tag}", "type": "number"},
    )  # fmt: skip
    kept = await world.call("POST", "/api/v1/contacts", json={"name": f"Kept {tag}"})
    other = await world.call("POST", "/api/v1/contacts", json={"name": f"Other {tag}"})
    supervisor = await world.agent("supervisor")
    admin, watcher = await open_page(world.admin), await open_page(supervisor)

    for page in (admin, watcher):
        await page.goto(f"{world.stack.url}/#/contacts/{kept['id']}")
        await expect(page.get_by_role("heading", name=f"Kept {tag}")).to_be_visible()

    # The admin saves an attribute and a note: the supervisor's page shows them, unreloaded.
    await admin.get_by_label(f"Visits {tag}").fill("42")
    await admin.locator("form.contacts-attributes").get_by_role("button", name="Save").click()
    await expect(watcher.get_by_label(f"Visits {tag}")).to_have_value("42")
    note = f"Prefers WhatsApp {tag}"
    await admin.get_by_label("A note about this contact").fill(note)
    await admin.get_by_role("button", name="Add note").click()
    await expect(watcher.locator(".contacts-notes")).to_contain_text(note)
    # Renamed elsewhere while the supervisor has an unsaved value: the value is not
    # overwritten (the admin's page shows the event came); once saved, the page follows.
    await watcher.get_by_label(f"Visits {tag}").fill("7")
    await world.call("PATCH", f"/api/v1/contacts/{kept['id']}", json={"name": f"Kept {tag} B"})
    await expect(admin.get_by_role("heading", name=f"Kept {tag} B")).to_be_visible()
    await watcher.wait_for_timeout(300)
    await expect(watcher.get_by_label(f"Visits {tag}")).to_have_value("7")
    await watcher.locator("form.contacts-attributes").get_by_role("button", name="Save").click()
    await expect(watcher.get_by_role("heading", name=f"Kept {tag} B")).to_be_visible()
    await expect(admin.get_by_label(f"Visits {tag}")).to_have_value("7")

    # The admin's table follows renames, merges and new contacts.
    await admin.goto(f"{world.stack.url}/#/contacts")
    await admin.get_by_role("searchbox").fill(tag)
    rows = admin.locator(".contacts-table tbody tr[data-contact-id]")
    await expect(rows).to_have_count(2)
    await world.call("PATCH", f"/api/v1/contacts/{other['id']}", json={"name": f"Other {tag} B"})
    await expect(admin.get_by_role("link", name=f"Open Other {tag} B")).to_be_visible()
    await world.call(
        "POST", f"/api/v1/contacts/{kept['id']}/merge", json={"other_contact_id": other["id"]}
    )
    await expect(rows).to_have_count(1)
    await expect(admin.get_by_role("link", name=f"Open Other {tag} B")).to_have_count(0)
    await world.call("POST", "/api/v1/contacts", json={"name": f"New {tag}"})
    await expect(admin.get_by_role("link", name=f"Open New {tag}")).to_be_visible()
    await expect(rows).to_have_count(2)

    # Deleted elsewhere: the row leaves the table and the open page says so.
    await world.call("DELETE", f"/api/v1/contacts/{kept['id']}")
    await expect(watcher.locator(".contacts-page [role=alert]")).to_have_text(
        "This contact was deleted."
    )
    await expect(admin.get_by_role("link", name=f"Open Kept {tag} B")).to_have_count(0)
    await expect(rows).to_have_count(1)
