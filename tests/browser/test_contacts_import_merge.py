"""The contacts screen's dialogs in a real browser: a CSV import whose bad rows are listed
with their lines (nothing imported), then the corrected file imported; a merge showing the
API's preview before it moves anything; a delete naming the number of conversations."""

from __future__ import annotations

import secrets

from playwright.async_api import expect

from tests.browser.conftest import OpenPage, World


async def test_import_with_row_errors_then_merge_and_delete(
    world: World, open_page: OpenPage
) -> None:
    tag = secrets.token_hex(3)
    digits = str(int(tag, 16) % 10_000).zfill(4)
    page = await open_page(world.admin)
    await page.get_by_role("link", name="Contacts").click()
    await page.get_by_role("button", name="Import CSV").click()
    dialog = page.locator("dialog[open]")
    bad = f"name,phone,email\nAni {tag},0812-5555-{digits},\nBayu {tag},12345,bayu@\n"
    await dialog.locator("input[type=file]").set_input_files(
        files=[{"name": "c.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    await dialog.get_by_role("button", name="Check file").click()
    errors = dialog.locator(".contacts-import-errors li")
    await expect(errors).to_have_count(2)
    await expect(errors.first).to_contain_text("Line 3, phone")
    await expect(dialog.get_by_role("button", name="Import 2 contacts")).to_be_hidden()
    page_of = await world.call("GET", "/api/v1/contacts", params={"q": tag})
    assert page_of["items"] == []  # nothing was imported

    good = f"name,phone,email\nAni {tag},0812-5555-{digits},\nAni S {tag},,ani.{tag}@example.com\n"
    await dialog.locator("input[type=file]").set_input_files(
        files=[{"name": "c.csv", "mimeType": "text/csv", "buffer": good.encode()}]
    )
    await dialog.get_by_role("button", name="Check file").click()
    await dialog.get_by_role("button", name="Import 2 contacts").click()
    await expect(page.locator("#toasts")).to_contain_text("2 contacts imported")
    await expect(page.locator("dialog[open]")).to_have_count(0)

    # Merge "Ani S" into "Ani": the preview names what moves, the merge does it.
    search = page.get_by_role("searchbox", name="Search by name, phone, email or channel id")
    await search.fill(f"Ani {tag}")
    await page.get_by_role("link", name=f"Open Ani {tag}").click()
    await expect(page.get_by_role("heading", name=f"Ani {tag}")).to_be_visible()
    await page.get_by_role("button", name="Merge another contact into this one").click()
    merge = page.locator("dialog[open]")
    await merge.get_by_role("searchbox").fill(f"ani.{tag}")
    await merge.get_by_role("button", name=f"Ani S {tag}").click()
    await expect(merge.locator(".contacts-merge-preview")).to_contain_text(
        f"email: ani.{tag}@example.com"
    )
    await merge.get_by_role("button", name="Merge", exact=True).click()
    await expect(page.locator("#toasts")).to_contain_text("Contacts merged")
    await expect(
        page.locator(".contacts-card dd", has_text=f"ani.{tag}@example.com")
    ).to_be_visible()
    left = await world.call("GET", "/api/v1/contacts", params={"q": tag})
    assert [c["name"] for c in left["items"]] == [f"Ani {tag}"]

    # Delete: the dialog says how many conversations go with it.
    await page.get_by_role("button", name="Delete", exact=True).click()
    confirm = page.locator("dialog[open]")
    await expect(confirm).to_contain_text("0 conversations and 0 notes")
    await confirm.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("heading", name="Contacts")).to_be_visible()
    gone = await world.call("GET", "/api/v1/contacts", params={"q": tag})
    assert gone["items"] == []
