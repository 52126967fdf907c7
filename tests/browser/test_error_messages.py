"""Errors speak to people, in the web app: every bad field of a form at once in plain words
(in Bahasa Indonesia too), the upload refusal naming the type and what is allowed, the
lockout in minutes, a time "in the past" in the agent's time zone, and Indonesian labels
that fit."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import LOGIN_MAX_FAILURES, OpenPage, World, shot, sign_in

# Whether a control's text is cut off. A select's scrollWidth never says so: its chosen text
# is measured in its font against the room inside it, less Chromium's arrow (about 20 px).
CUT_OFF = """el => {
  const style = getComputedStyle(el);
  if (el.tagName !== "SELECT") return [el.innerText.trim(), el.scrollWidth > el.clientWidth];
  const text = el.options[el.selectedIndex].text;
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = style.font;
  const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return [text, ctx.measureText(text).width > room - ARROW];
}""".replace("ARROW", "20")


async def open_conversation(page: Page, name: str) -> None:
    await page.locator(".conv-row", has_text=name).click()
    await expect(page.locator(".thread-title")).to_have_text(name)


async def in_bahasa(page: Page) -> None:
    await page.get_by_label("Language").select_option("id")


async def contact_form(world: World, open_page: OpenPage, lang: str) -> tuple[Page, Locator]:
    await world.customer("6281200000711", "Halo", name="Sari")
    await world.conversation_of("6281200000711")
    page = await open_page(world.admin)
    if lang == "id":
        await in_bahasa(page)
    await open_conversation(page, "Sari")
    edit = "Edit contact" if lang == "en" else "Ubah kontak"
    await page.locator(".contact-pane").get_by_role("button", name=edit).click()
    form = page.locator("form.contact-form")
    await form.locator("[data-field=phone] input").fill("12345")
    await form.locator("[data-field=email] input").fill("sari@")
    await form.locator("button[type=submit]").click()
    return page, form


async def test_every_bad_field_of_a_form_at_once_in_plain_words(
    world: World, open_page: OpenPage
) -> None:
    page, form = await contact_form(world, open_page, "en")
    # The phone (read in the server's region) is reported with the email, not after it.
    await expect(form.locator("[data-field=phone] .field-error")).to_have_text(
        "Not a valid phone number (for example +62 812-345-678)"
    )
    await expect(form.locator("[data-field=email] .field-error")).to_have_text(
        "Not a valid email address"
    )
    await shot(page, "errors-contact-fields")

    await page.get_by_role("link", name="Settings").click()
    sections = page.get_by_role("navigation", name="Settings sections")
    await sections.get_by_role("link", name="Agents").click()
    await page.get_by_role("button", name="New agent").click()
    dialog = page.get_by_role("dialog", name="New agent")
    await dialog.locator("[data-field=email] input").fill("someone@example.com")
    await dialog.locator("[data-field=name] input").fill("   ")
    await dialog.locator("[data-field=password] input").fill("short")
    await dialog.get_by_role("button", name="Create agent").click()
    await expect(dialog.locator("[data-field=name] .field-error")).to_have_text("Required")
    await expect(dialog.locator("[data-field=password] .field-error")).to_have_text(
        "Must be at least 8 characters"
    )
    await expect(dialog.locator(".field-error")).to_have_count(2)


async def test_the_same_field_errors_in_bahasa_indonesia(world: World, open_page: OpenPage) -> None:
    page, form = await contact_form(world, open_page, "id")
    await expect(form.locator("[data-field=phone] .field-error")).to_have_text(
        "Nomor telepon tidak valid (contoh: +62 812-345-678)."
    )
    await expect(form.locator("[data-field=email] .field-error")).to_have_text(
        "Alamat email tidak valid."
    )
    await shot(page, "errors-contact-fields-bahasa")


async def test_indonesian_labels_are_not_cut_off(world: World, open_page: OpenPage) -> None:
    page = await open_page(world.admin)
    await in_bahasa(page)
    channel = page.locator("select[data-filter=channel]")
    await expect(channel).to_have_value("")
    await expect(channel.locator("option:checked")).to_have_text("Semua kanal")
    measured = [
        await control.evaluate(CUT_OFF)
        for control in await page.locator(
            ".list-pane select:visible, .list-pane .tab:visible"
        ).all()
    ]
    await shot(page, "errors-bahasa-list-labels")
    assert [text for text, cut in measured if cut] == [], measured


async def test_an_upload_refusal_names_the_type_and_what_is_allowed(
    world: World, open_page: OpenPage
) -> None:
    await world.customer("6281200000712", "Kirim filenya ya", name="Bayu")
    await world.conversation_of("6281200000712")
    page = await open_page(world.admin)
    await open_conversation(page, "Bayu")
    program = {"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}
    error = page.locator(".composer-error")
    await page.locator(".composer input[type=file]").set_input_files(files=[program])
    await expect(error).to_have_text(
        "Files of type application/x-msdownload can't be sent. "
        "Allowed: images, video, audio, PDF, text and Office documents."
    )
    await in_bahasa(page)
    await open_conversation(page, "Bayu")
    await page.locator(".composer input[type=file]").set_input_files(files=[program])
    await expect(error).to_have_text(
        "Berkas berjenis application/x-msdownload tidak dapat dikirim. "
        "Yang diizinkan: gambar, video, audio, PDF, teks dan dokumen Office."
    )
    await shot(page, "errors-upload-refused-bahasa")


async def test_the_lockout_is_said_in_minutes_in_both_languages(
    world: World, open_page: OpenPage
) -> None:
    agent = await world.agent(name="Terkunci")
    page = await open_page(None)
    alert = page.get_by_role("alert")
    for _ in range(LOGIN_MAX_FAILURES):
        await sign_in(page, agent.email, "not the password")
        await expect(alert).to_have_text("Wrong email or password.")
    await sign_in(page, agent.email, agent.password)
    # The 15-minute window, rounded up: never "900 seconds".
    await expect(alert).to_have_text(
        "Too many failed sign-ins for this email. Try again in 15 minutes."
    )
    await page.get_by_label("Language").select_option("id")
    await page.get_by_label("Email").fill(agent.email)
    await page.get_by_label("Kata sandi").fill(agent.password)
    await page.get_by_role("button", name="Masuk").click()
    await expect(alert).to_have_text(
        "Terlalu banyak percobaan masuk yang gagal untuk email ini. Coba lagi dalam 15 menit."
    )
    await shot(page, "errors-lockout-minutes-bahasa")


async def test_a_time_in_the_past_is_shown_in_the_browsers_time_zone(
    world: World, open_page: OpenPage
) -> None:
    zone = ZoneInfo("America/Sao_Paulo")  # UTC-3 all year: far from the API's UTC
    await world.customer("6281200000713", "Bisa dikirim nanti?", name="Wati")
    await world.conversation_of("6281200000713")
    page = await open_page(world.admin, timezone="America/Sao_Paulo")
    await open_conversation(page, "Wati")
    await page.get_by_label("Message", exact=True).fill("Paket dikirim besok.")
    await page.get_by_role("button", name="Schedule").click()
    dialog = page.get_by_role("dialog", name="Schedule")
    yesterday = (datetime.now(zone) - timedelta(days=1)).replace(hour=9, minute=30)
    await dialog.get_by_label("Send at (time zone America/Sao_Paulo)").fill(
        yesterday.strftime("%Y-%m-%dT%H:%M")
    )
    await dialog.get_by_role("button", name="Schedule").click()
    error = dialog.locator("[data-field=scheduled_at] .field-error")
    # 9:30 in São Paulo, not the API's 12:30 UTC.
    await expect(error).to_contain_text("Is in the past (")
    await expect(error).to_contain_text("9:30")
    await expect(error).not_to_contain_text("12:30")
    await expect(error).to_contain_text("Choose a later time.")
    await shot(page, "errors-scheduled-in-the-past")
