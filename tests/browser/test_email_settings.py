"""Settings › Integrations for email in a real browser: an admin connects a mailbox (a real
Dovecot for IMAP, aiosmtpd for SMTP, both on loopback) and the connection test shows the
IMAP and SMTP sides, each OK or the step that failed; the form in Bahasa Indonesia."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import OpenPage, World, shot
from tests.browser.test_settings import settings
from tests.channels.email.dovecot import Dovecot, running_dovecot
from tests.channels.email.smtp_server import TEST_PASSWORD, TEST_USER, running_smtp_server


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot() as server:
        yield server


async def _side(card: Locator, side: str) -> Locator:
    return card.locator(f".test-result [data-side={side}]")


async def _delete(page: Page, card: Locator) -> None:
    """The other tests expect the stack's WhatsApp integration to be the only one."""
    page.once("dialog", lambda confirm: confirm.accept())
    await card.get_by_role("button", name="Delete", exact=True).click()
    await expect(card).to_have_count(0)


async def test_an_admin_connects_a_mailbox_and_tests_both_sides(
    world: World, open_page: OpenPage, dovecot: Dovecot
) -> None:
    user = dovecot.add_user()
    name = f"Support mailbox {secrets.token_hex(2)}"
    with running_smtp_server(auth_required=True) as smtp:
        page = await open_page(world.admin)
        await settings(page, "Integrations")
        await page.get_by_role("button", name="New integration").click()
        dialog = page.get_by_role("dialog", name="New integration")
        await dialog.get_by_label("Channel").select_option("email")
        await expect(dialog.get_by_role("group", name="Incoming mail (IMAP)")).to_be_visible()
        await expect(dialog.get_by_role("group", name="Outgoing mail (SMTP)")).to_be_visible()
        # Defaults as the server applies them: TLS for IMAP, STARTTLS for SMTP, their ports.
        await expect(dialog.get_by_label("IMAP encryption")).to_have_value("implicit")
        await expect(dialog.get_by_label("SMTP encryption")).to_have_value("starttls")
        await expect(dialog.get_by_label("IMAP port")).to_have_attribute("placeholder", "993")
        await expect(dialog.get_by_label("SMTP port")).to_have_attribute("placeholder", "587")
        await expect(dialog.get_by_label("IMAP folder")).to_have_attribute("placeholder", "INBOX")
        backfill = "Import mail of the last N days on first connection"
        await expect(dialog.get_by_label(backfill)).to_have_attribute("placeholder", "7")
        await expect(dialog.get_by_label("IMAP password")).to_have_attribute("type", "password")

        await dialog.get_by_role("textbox", name="Name", exact=True).fill(name)
        await dialog.get_by_label("IMAP host").fill(dovecot.host)
        await dialog.get_by_label("IMAP encryption").select_option("none")
        await expect(dialog.get_by_label("IMAP port")).to_have_attribute("placeholder", "143")
        await dialog.get_by_label("IMAP port").fill(str(dovecot.port))
        await dialog.get_by_label("IMAP user").fill(user.name)
        await dialog.get_by_label("IMAP password").fill(user.password)
        await dialog.get_by_label("SMTP host").fill(smtp.host)
        await dialog.get_by_label("SMTP encryption").select_option("none")
        await dialog.get_by_label("SMTP port").fill(str(smtp.port))
        await dialog.get_by_label("SMTP user").fill(TEST_USER)
        await dialog.get_by_label("SMTP password").fill(TEST_PASSWORD)
        await dialog.get_by_label("Sender name").fill("Acme Support")
        await dialog.get_by_label(backfill).fill("0")  # only new mail: 0 is kept, not "unset"
        await dialog.get_by_label("Mailbox address").fill("Support@Omnistream.test")
        await dialog.get_by_role("button", name="Create integration").click()
        await expect(dialog).to_have_count(0)

        card = page.get_by_role("article", name=name)
        try:
            await expect(card).to_contain_text("support@omnistream.test")
            await card.get_by_role("button", name="Test connection").click()
            imap, smtp_side = await _side(card, "imap"), await _side(card, "smtp")
            await expect(imap).to_contain_text("Incoming mail (IMAP)")
            await expect(imap).to_contain_text("OK")
            await expect(smtp_side).to_contain_text("Outgoing mail (SMTP)")
            await expect(smtp_side).to_contain_text("OK")
            await expect(card.locator(".test-result")).to_contain_text("Healthy")
            # The card reloads with the stored health; the sides stay shown.
            await expect(card.locator("header .pill", has_text="Healthy")).to_be_visible()
            await expect(await _side(card, "smtp")).to_contain_text("OK")
            await shot(page, "settings-email-integration")

            # Write-only passwords; the plain values come back into the edit form.
            await card.get_by_role("button", name="Edit", exact=True).click()
            edit = page.get_by_role("dialog", name=f"Edit {name}")
            await expect(edit.get_by_label("IMAP host")).to_have_value(dovecot.host)
            await expect(edit.get_by_label("IMAP encryption")).to_have_value("none")
            await expect(edit.get_by_label("SMTP port")).to_have_value(str(smtp.port))
            await expect(edit.get_by_label("Sender name")).to_have_value("Acme Support")
            await expect(edit.get_by_label(backfill)).to_have_value("0")
            await expect(edit.get_by_label("IMAP password")).to_have_value("")
            await expect(edit).to_contain_text("Set (hidden)")
            assert user.password not in await page.content()
            assert TEST_PASSWORD not in await page.content()

            # A wrong IMAP password: the IMAP login step fails, SMTP still works.
            await edit.get_by_label("IMAP password").fill("not-the-password")
            await edit.get_by_role("button", name="Save").click()
            await expect(edit).to_have_count(0)
            await card.get_by_role("button", name="Test connection").click()
            imap, smtp_side = await _side(card, "imap"), await _side(card, "smtp")
            await expect(imap).to_have_attribute("data-ok", "false")
            await expect(imap).to_contain_text("Failed: login")
            await expect(smtp_side).to_have_attribute("data-ok", "true")
            await expect(smtp_side).to_contain_text("OK")
            await expect(card.locator(".test-result")).to_contain_text("Login rejected")
            await expect(card.locator("header .pill", has_text="Login rejected")).to_be_visible()
            await expect(card).to_contain_text("IMAP login failed")  # the stored problem
            await expect(await _side(card, "imap")).to_contain_text("Failed: login")
            await shot(page, "settings-email-integration-failed")
            assert [m.login for m in smtp.received] == []  # the test sends no mail
        finally:
            await _delete(page, card)


async def test_the_email_form_in_bahasa_indonesia(world: World, open_page: OpenPage) -> None:
    page = await open_page(world.admin, lang="id")
    await page.get_by_role("link", name="Pengaturan").click()
    await page.get_by_role("link", name="Integrasi").click()
    await page.get_by_role("button", name="Integrasi baru").click()
    dialog = page.get_by_role("dialog", name="Integrasi baru")
    await dialog.get_by_label("Kanal").select_option("email")
    await expect(dialog.get_by_role("group", name="Email masuk (IMAP)")).to_be_visible()
    await expect(dialog.get_by_role("group", name="Email keluar (SMTP)")).to_be_visible()
    await expect(dialog.get_by_label("Enkripsi IMAP")).to_be_visible()
    await expect(dialog.get_by_label("Alamat kotak surat")).to_have_attribute("type", "email")
    await expect(dialog).to_contain_text("Kosong: 587 dengan STARTTLS")
    await expect(dialog.get_by_label("Nama pengirim")).to_be_visible()
    days = dialog.get_by_label("Impor email N hari terakhir saat pertama kali terhubung")
    await expect(days).to_have_attribute("type", "number")
