"""The email channel in a real browser (issue 16): a customer's mail, delivered into a real
Dovecot over IMAP APPEND, appears live in the open inbox; the agent reads it (subject, from,
trimmed body, the full message, an HTML mail whose remote image loads only after "Show
images", its inline image and attachments), replies with a CC and an attachment, the reply
reaches a real SMTP server (aiosmtpd) threaded, and the customer's answer lands in the same
conversation; "New email" starts one; a bounce fails a reply; a malformed mail shows what
could be read. A stack of its own (email_stack.py), not the shared one of conftest.py."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, Page, Route, expect

from tests.browser.conftest import ARTIFACTS, PASSWORD, sign_in
from tests.browser.email_stack import (
    ADMIN,
    CUSTOMER,
    PDF,
    REMOTE_IMAGE,
    SUPPORT,
    UPLOAD_MAX,
    EmailStack,
    png,
    running_email_stack,
)
from tests.channels.email.dovecot import Dovecot, running_dovecot
from tests.channels.email.importing import CORPUS
from tests.channels.email.smtp_server import RecordingSmtpServer, running_smtp_server


@pytest.fixture(scope="module")
def mail_servers() -> Iterator[tuple[Dovecot, RecordingSmtpServer]]:
    with running_dovecot() as dovecot, running_smtp_server() as smtp:
        yield dovecot, smtp


@pytest.fixture(scope="module")
async def email_stack(
    chromium: str,
    admin_dsn: str,
    tmp_path_factory: pytest.TempPathFactory,
    mail_servers: tuple[Dovecot, RecordingSmtpServer],
) -> AsyncIterator[EmailStack]:
    dovecot, smtp = mail_servers
    data = tmp_path_factory.mktemp("email-browser")
    async with running_email_stack(admin_dsn, data, dovecot, smtp) as stack:
        yield stack


@pytest.fixture
async def page(browser: Browser, email_stack: EmailStack) -> AsyncIterator[Page]:
    """The admin signed in on the inbox, live events connected; errors in the page fail."""
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, locale="en-US", timezone_id="Asia/Jakarta"
    )
    await context.add_init_script("localStorage.setItem('omnistream.lang', 'en')")
    errors: list[str] = []
    opened = await context.new_page()
    opened.on("pageerror", lambda e: errors.append(str(e)))
    await opened.goto(email_stack.url)
    await sign_in(opened, ADMIN, PASSWORD)
    await expect(opened.locator(".live-status[data-status=live]")).to_be_visible()
    try:
        yield opened
    finally:
        await opened.screenshot(path=str(ARTIFACTS / "email-last.png"))
        await context.close()
    assert errors == [], errors


async def test_an_emailed_question_is_read_answered_and_the_answer_threads(
    page: Page, email_stack: EmailStack
) -> None:
    stack = email_stack
    remote: list[str] = []

    async def image(route: Route) -> None:
        remote.append(route.request.url)
        await route.fulfill(status=200, content_type="image/png", body=png())

    await page.context.route("https://images.example.test/**", image)

    # The question arrives live in the open inbox.
    first = await stack.deliver(
        "Pesanan #12 belum sampai",
        "Halo, pesanan #12 belum sampai. Bisa dicek?\n\n"
        "On Mon, 7 Dec 2026 at 08:00, Toko Support <support@omnistream.test> wrote:\n"
        "> Terima kasih sudah berbelanja di Toko.\n> Salam hangat\n",
    )
    row = page.locator(".conv-row", has_text="Budi Santoso")
    await expect(row).to_contain_text("pesanan #12 belum sampai", timeout=15_000)
    await row.click()
    details = page.locator(".contact-card + .details")  # the address once, not as an id too
    await expect(details.locator("dd", has_text=CUSTOMER)).to_have_count(1)

    # Subject, from, the trimmed body; the full message on request.
    bubble = page.locator(".msg.inbound").first
    await expect(bubble.locator(".email-subject")).to_have_text("Pesanan #12 belum sampai")
    await expect(bubble.locator(".email-meta")).to_contain_text(f"Budi Santoso <{CUSTOMER}>")
    await expect(bubble.locator(".email-meta")).to_contain_text(SUPPORT)
    await expect(bubble.locator(".email-body")).to_have_text(
        "Halo, pesanan #12 belum sampai. Bisa dicek?"
    )
    await bubble.get_by_role("button", name="Show full message").click()
    await expect(bubble.locator(".email-body")).to_contain_text("Terima kasih sudah berbelanja")
    await bubble.get_by_role("button", name="Show less").click()
    await expect(bubble).not_to_contain_text("Terima kasih sudah berbelanja")

    # An HTML mail in the same thread: its remote image waits for "Show images".
    second = await stack.deliver(
        "Re: Pesanan #12 belum sampai",
        "Ini foto paketnya.",
        html=f'<p>Ini <b>foto paketnya</b>.</p><img src="{REMOTE_IMAGE}" alt="paket">'
        '<img src="cid:logo@toko" alt="logo"><script>parent.document.title="hacked"</script>',
        in_reply_to=first,
        inline_png=png(),
        files={"faktur.pdf": PDF, "video-besar.pdf": PDF + b"%" * UPLOAD_MAX},
    )
    html_mail = page.locator(".msg.inbound").nth(1)
    await expect(html_mail.locator(".email-body")).to_have_text(
        "Ini foto paketnya.", timeout=15_000
    )
    await html_mail.get_by_role("button", name="Show full message").click()
    frame = page.frame_locator(".msg.inbound >> nth=1 >> iframe.email-html")
    await expect(frame.locator("b")).to_have_text("foto paketnya")
    # The inline (cid:) image comes from our media, fetched with the agent's token.
    await expect(frame.locator("img[alt=logo]")).to_have_attribute("src", re.compile("^blob:"))
    await expect(frame.locator("img[alt=logo]")).to_have_js_property("naturalWidth", 1)
    img = frame.locator("img[alt=paket]")
    await expect(img).to_have_attribute("data-remote-src", REMOTE_IMAGE)
    assert await img.get_attribute("src") is None
    await page.wait_for_timeout(300)
    assert remote == []
    assert await page.title() != "hacked"
    await html_mail.get_by_role("button", name="Show images").click()
    await expect(img).to_have_attribute("src", REMOTE_IMAGE)
    await expect(img).to_have_js_property("naturalWidth", 1)  # fetched, and shown
    assert remote == [REMOTE_IMAGE]
    # The frame is as tall as the mail (a line and two tiny images), not a fixed box.
    box = await page.locator(".msg.inbound >> nth=1 >> iframe.email-html").bounding_box()
    assert box is not None and 40 < box["height"] < 160, box
    # Its attachments: one to download, one over the size limit with the reason.
    files = html_mail.locator(".email-files")
    await expect(files.locator(".email-file")).to_have_count(2)  # not the inline logo
    await expect(files.locator(".skipped")).to_contain_text(
        f"video-besar.pdf Not imported: larger than {UPLOAD_MAX} bytes"
    )
    async with page.expect_download() as download:
        await files.get_by_role("link", name="faktur.pdf").click()
    saved = await (await download.value).path()
    assert saved.read_bytes() == PDF

    # The reply, with a CC and an attachment, reaches the SMTP server threaded.
    composer = page.locator("form.composer")
    cc = composer.get_by_role("textbox", name="CC")
    await composer.locator("input[type=file]").set_input_files(
        files=[{"name": "resi.png", "mimeType": "image/png", "buffer": png()}]
    )
    await expect(composer.locator(".chip", has_text="resi.png")).to_be_visible()
    await composer.get_by_role("textbox", name="Message").fill(
        "Paket Anda sudah dikirim, ini resinya."
    )
    # Not an address: said on the field, nothing sent; one the server refuses: its 422 there.
    await cc.fill("boss@example.id, bukan-alamat")
    await composer.get_by_role("button", name="Send").click()
    await expect(composer.locator("[data-field=cc] .field-error")).to_contain_text("bukan-alamat")
    await cc.fill("boss@toko.invalid")
    await composer.get_by_role("button", name="Send").click()
    await expect(composer.locator("[data-field=cc] .field-error")).to_be_visible()
    await expect(cc).to_have_attribute("aria-invalid", "true")
    await expect(page.locator(".msg.outbound")).to_have_count(0)
    await cc.fill("boss@example.id, gudang@example.id")
    await composer.get_by_role("button", name="Send").click()
    await expect(composer.locator(".field-error")).to_have_count(0)
    await expect(page.locator(".msg.outbound")).to_contain_text("Paket Anda sudah dikirim")
    await expect(page.locator(".msg.outbound .email-files")).to_contain_text("resi.png")
    sent = await stack.sent_mail(CUSTOMER, 1)
    mail = sent.message()
    assert mail["In-Reply-To"] == second
    assert first in mail["References"] and second in mail["References"]
    assert mail["Subject"] == "Re: Pesanan #12 belum sampai"
    assert {"boss@example.id", "gudang@example.id"} <= set(sent.rcpt_tos)
    assert "boss@example.id" in mail["Cc"]
    attached = {part.get_filename(): part.get_content() for part in mail.iter_attachments()}
    assert attached == {"resi.png": png()}
    await expect(page.locator(".msg.outbound[data-status=sent]")).to_be_visible(timeout=10_000)

    # The customer's answer to it lands in the same conversation, live.
    url = page.url
    await stack.deliver(
        "Re: Pesanan #12 belum sampai",
        "Sudah saya terima, terima kasih!",
        in_reply_to=str(mail["Message-ID"]),
    )
    await expect(page.locator(".msg.inbound").nth(2)).to_contain_text(
        "Sudah saya terima", timeout=15_000
    )
    assert page.url == url
    await expect(page.locator(".conv-row")).to_have_count(1)
    await expect(page.locator(".conv-row")).to_contain_text("Sudah saya terima")
    # An out-of-office answer is marked as one.
    await stack.deliver(
        "Otomatis: Re: Pesanan #12 belum sampai",
        "Saya sedang cuti sampai Senin.",
        in_reply_to=str(mail["Message-ID"]),
        headers={"Auto-Submitted": "auto-replied"},
    )
    auto = page.locator(".msg.inbound").nth(3)
    await expect(auto.locator(".email-auto")).to_have_text("Automatic reply", timeout=15_000)
    await expect(page.locator(".msg.inbound .email-auto")).to_have_count(1)


async def test_new_email_starts_a_conversation(page: Page, email_stack: EmailStack) -> None:
    login = {"email": ADMIN, "password": PASSWORD}
    token = (await email_stack.http.post("/api/v1/auth/login", json=login)).json()["access_token"]
    division = f"Gudang {secrets.token_hex(2)}"  # made after the inbox opened
    r = await email_stack.http.post(
        "/api/v1/divisions", json={"name": division}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 201, r.text
    await page.get_by_role("button", name="New email").click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_role("combobox", name="Division").select_option(label=division)
    await expect(dialog.get_by_role("combobox", name="From")).to_contain_text(SUPPORT)
    await dialog.get_by_role("textbox", name="To", exact=True).fill("siti@example.id")
    await dialog.get_by_role("textbox", name="CC", exact=True).fill("bukan-alamat")
    await dialog.get_by_role("textbox", name="Message", exact=True).fill(
        "Halo Siti, pesanan Anda siap diambil."
    )
    await dialog.get_by_role("button", name="Send email").click()
    # Checked here first: the subject is required, the CC must be addresses.
    await expect(dialog.locator("[data-field=subject] .field-error")).to_be_visible()
    await expect(dialog.locator("[data-field=cc] .field-error")).to_contain_text("bukan-alamat")
    await dialog.get_by_role("textbox", name="CC", exact=True).fill("")
    await dialog.get_by_role("textbox", name="Subject", exact=True).fill("Pesanan siap diambil")
    # An address the server refuses: its 422 on the To field, nothing made.
    await dialog.get_by_role("textbox", name="To", exact=True).fill("siti@toko.invalid")
    await dialog.get_by_role("button", name="Send email").click()
    await expect(dialog.locator("[data-field=to] .field-error")).to_be_visible()
    await expect(dialog.locator("[data-field=subject] .field-error")).to_have_count(0)
    assert not [m for m in email_stack.smtp.received if "siti@toko.invalid" in m.rcpt_tos]
    await dialog.get_by_role("textbox", name="To", exact=True).fill("siti@example.id")
    await dialog.get_by_role("button", name="Send email").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator(".thread-title")).to_have_text("siti@example.id")
    await expect(page.locator(".thread-sub")).to_contain_text(division)
    await expect(page.locator(".msg.outbound .email-subject")).to_have_text("Pesanan siap diambil")
    sent = await email_stack.sent_mail("siti@example.id", 1)
    assert sent.message()["Subject"] == "Pesanan siap diambil"
    assert "pesanan Anda siap diambil" in sent.message().get_body(("plain",)).get_content()
    # A plain follow-up: the thread's subject, and no header of its own in the bubble.
    composer = page.locator("form.composer")
    await composer.get_by_role("textbox", name="Message").fill("Kami buka sampai jam 5.")
    await composer.get_by_role("button", name="Send").click()
    follow_up = page.locator(".msg.outbound").nth(1)
    await expect(follow_up.locator(".email-body")).to_have_text("Kami buka sampai jam 5.")
    await expect(follow_up.locator(".email-head")).to_have_count(0)
    again = (await email_stack.sent_mail("siti@example.id", 2)).message()
    assert again["Subject"] == "Re: Pesanan siap diambil"
    assert again["In-Reply-To"] == sent.message()["Message-ID"]

    # It bounces: the mail server's report marks it failed, with the reason, live.
    bounce = (CORPUS / "bounce.eml").read_text()
    bounce = bounce.replace("<reply-7f3a9c@support.omnistream.test>", str(again["Message-ID"]))
    bounce = bounce.replace("nobody@example.org", "siti@example.id")
    bounce = bounce.replace("20261209101500.4F2A1C0123", secrets.token_hex(6))
    await email_stack.dovecot.append(bounce.replace("\n", "\r\n").encode(), email_stack.user)
    await expect(follow_up.locator(".failure")).to_contain_text(
        "Recipient address rejected: User unknown", timeout=15_000
    )
    await expect(follow_up).to_have_attribute("data-status", "failed")

    # In Bahasa Indonesia: the email sentences (a bundle of their own) follow the language.
    await page.locator(".lang-select").select_option("id")
    await expect(page.get_by_role("button", name="Email baru")).to_be_visible()
    await expect(page.get_by_role("textbox", name="Subjek baru (opsional)")).to_be_visible()


async def test_a_malformed_mail_shows_what_could_be_read(
    page: Page, email_stack: EmailStack
) -> None:
    raw = (CORPUS / "malformed_no_boundary.eml").read_bytes()
    await email_stack.dovecot.append(raw, email_stack.user)
    await page.locator(".conv-row", has_text="Broken Mailer").click(timeout=15_000)
    bubble = page.locator(".msg.inbound")
    await expect(bubble.locator(".email-subject")).to_have_text("Pesanan say and caf\ufffd")
    await expect(bubble.locator(".email-body")).to_have_text(
        "No boundary parameter at all, so this multipart has no parts."
    )
    await expect(bubble.locator(".email-defects")).to_have_text(
        "Parts of this mail could not be read; it shows what could."
    )
    assert "NoBoundaryInMultipartDefect" in (
        await bubble.locator(".email-defects").get_attribute("title") or ""
    )
    await expect(bubble.locator(".email-meta")).not_to_contain_text("Date")
