"""Campaigns in a real browser, against the real API, worker and Graph API sandbox: an admin
builds a campaign in the wizard from a CSV file (the rejected rows shown by line and
reason), starts it and watches it complete live, on its page and in a second tab that
never reloads; a draft made elsewhere is finished with a contacts audience (its live count),
scheduled, cancelled and deleted; opt-outs; a running one is paused and resumed. A
supervisor's campaigns and the wizard's address are in test_campaign_wizard.py; what agents
see of campaigns (no page; the campaign in a conversation; opt-outs in the contact panel) is
in test_campaign_inbox.py."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import OpenPage, World, shot

# Sends, their statuses and the recount (at most once a second) take a few seconds.
LIVE_WAIT = 20_000
FAILING = "6281234500003"  # the sandbox fails this number's template sends (131026)
CSV = (
    "phone,name,discount\n"
    "+62 812-3450-0001,Budi,10%\n"  # line 2
    "081234500002,Sari,15%\n"  # 3
    f"{FAILING},Gagal Kirim,20%\n"  # 4
    "12345,Nomor Rusak,5%\n"  # 5: invalid number
    ",Tanpa Nomor,5%\n"  # 6: no phone
    "0812 3450 0002,Sari Lagi,15%\n"  # 7: the same number as line 3, a duplicate
    "081234500004,Tanpa Diskon,\n"  # 8: the discount column is empty
)


async def _whatsapp(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stack's WhatsApp integration, its templates synced, and welcome_offer (NAMED:
    {{name}}, {{discount}}, two quick-reply buttons)."""
    integrations = (await world.call("GET", "/api/v1/integrations"))["items"]
    integration = next(i for i in integrations if i["name"] == "Toko Test WhatsApp")
    await world.call("POST", f"/api/v1/integrations/{integration['id']}/templates/sync")
    page = await world.call(
        "GET",
        "/api/v1/templates",
        params={"integration_id": integration["id"], "q": "welcome_offer", "status": "APPROVED"},
    )
    return integration, page["items"][0]


def count(page: Page, label: str) -> Locator:
    """A number in the campaign's counts, by its label."""
    return page.locator(".count", has=page.locator(f"dt:text-is('{label}')")).locator("dd")


def accept_next_confirm(page: Page) -> None:
    page.once("dialog", lambda confirm: asyncio.ensure_future(confirm.accept()))


async def test_an_admin_sends_a_csv_campaign_and_watches_it_complete(
    world: World, open_page: OpenPage
) -> None:
    _, template = await _whatsapp(world)
    await world.sandbox_post(
        "/faults",
        {"kind": "failed_status", "recipient": FAILING, "code": 131026, "message_type": "template"},
    )
    name = f"Promo Desember {secrets.token_hex(2)}"
    # A second tab on the list, never reloaded: the campaign appears and completes in it
    # from live events only.
    watcher = await open_page(world.admin)
    await watcher.get_by_role("link", name="Campaigns").click()
    await expect(watcher.get_by_role("heading", level=1, name="Campaigns")).to_be_visible()

    page = await open_page(world.admin)
    await page.get_by_role("link", name="Campaigns").click()
    await page.get_by_role("link", name="New campaign").click()
    steps = page.get_by_role("list", name="Steps")
    await expect(steps.locator("[aria-current=step]")).to_have_text("Basics")

    # 1. Basics: a name is required; the number's approved templates only.
    basics = page.get_by_role("form", name="Basics")
    await basics.get_by_role("button", name="Next").click()
    await expect(basics.locator("[data-field=name] .field-error")).to_have_text("Required.")
    await basics.get_by_label("Name").fill(name)
    await basics.get_by_label("WhatsApp number").select_option(
        label="Toko Test · Toko Test WhatsApp"
    )
    choices = basics.get_by_label("Template").locator("option")
    await expect(choices.filter(has_text="welcome_offer (en_US)")).to_have_count(1)
    for not_approved in ("summer_sale", "old_promo", "appointment_reminder"):
        await expect(choices.filter(has_text=not_approved)).to_have_count(0)
    await basics.get_by_label("Template").select_option(template["id"])
    await basics.get_by_role("button", name="Next").click()

    # 2. The variables from columns; the server's preview shows where they go.
    message = page.get_by_role("form", name="Message")
    preview = message.get_by_role("region", name="Preview")
    for variable, column in (("name", "name"), ("discount", "discount")):
        await message.get_by_label(f"Source of Body {{{{{variable}}}}}").select_option("column")
        await message.get_by_label(f"Body {{{{{variable}}}}}", exact=True).fill(column)
    await expect(preview).to_contain_text("Hi [name], enjoy [discount] off your next order!")
    await message.get_by_role("button", name="Save draft and continue").click()

    # 3. The CSV: counts, and each rejected row with its line and reason.
    audience = page.get_by_role("region", name="Audience")
    csv_field = audience.locator("[data-field=file]")
    await audience.get_by_role("button", name="Upload").click()
    await expect(csv_field.locator(".field-error")).to_have_text("Choose a CSV file first.")
    # A file refused as a whole: the server's problem, next to the field.
    await audience.get_by_label(re.compile("^CSV file")).set_input_files(
        {"name": "lama.csv", "mimeType": "text/csv", "buffer": b"phone,name\n0812345,Budi\n"}
    )
    await audience.get_by_role("button", name="Upload").click()
    await expect(csv_field.locator(".field-error")).to_contain_text("No column named discount")
    await expect(audience.get_by_label(re.compile("^CSV file"))).to_have_attribute(
        "aria-invalid", "true"
    )
    await audience.get_by_label(re.compile("^CSV file")).set_input_files(
        {"name": "pelanggan.csv", "mimeType": "text/csv", "buffer": CSV.encode()}
    )
    await audience.get_by_role("button", name="Upload").click()
    report = audience.locator(".audience-report")
    await expect(report.locator(".kv", has_text="Rows read").locator("dd")).to_have_text("7")
    await expect(report.locator(".kv", has_text="Recipients").locator("dd")).to_have_text("3")
    await expect(report.locator(".kv", has_text="Duplicates").locator("dd")).to_have_text("1")
    await expect(report.locator(".kv", has_text="Rejected rows").locator("dd")).to_have_text("3")
    rejected = report.get_by_role("table", name="Rejected rows").locator("tbody tr")
    await expect(rejected).to_have_count(3)
    for row, (line, reason) in enumerate(
        (("5", "Invalid number"), ("6", "No phone number"), ("8", "Variable missing"))
    ):
        await expect(rejected.nth(row).locator("td").nth(0)).to_have_text(line)
        await expect(rejected.nth(row).locator("td").nth(1)).to_have_text(reason)
    await expect(rejected.nth(0)).to_contain_text("12345")
    await expect(rejected.nth(2)).to_contain_text("discount")
    await shot(page, "campaigns-wizard-audience")
    await audience.get_by_role("button", name="Next").click()

    # 4. Now; 5. the review, then Start.
    when = page.get_by_role("form", name="When")
    await expect(when.get_by_label("Now")).to_be_checked()
    await when.get_by_role("button", name="Next").click()
    review = page.get_by_role("form", name="Review")
    await expect(review.locator(".kv", has_text="Recipients").first.locator("dd")).to_have_text("3")
    await expect(review.get_by_role("region", name="Preview")).to_contain_text(
        re.compile(r"Hi (Budi|Sari|Gagal Kirim), enjoy \d+% off your next order!")
    )
    await shot(page, "campaigns-wizard-review")
    await review.get_by_role("button", name="Start campaign").click()

    # Its page: the counts move live to the end; the failure is grouped by its code.
    await expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
    status = page.locator(".page-head .pill")
    await expect(status).to_have_text("Completed", timeout=LIVE_WAIT)
    await expect(count(page, "Total")).to_have_text("3")
    await expect(count(page, "Waiting")).to_have_text("0", timeout=LIVE_WAIT)
    await expect(count(page, "Failed")).to_have_text("1", timeout=LIVE_WAIT)
    await expect(count(page, "Read")).to_have_text("2", timeout=LIVE_WAIT)
    bar = page.get_by_role("progressbar", name="Progress")
    await expect(bar).to_have_attribute("aria-valuetext", "3 of 3 handled · 1 failed")
    failures = page.get_by_role("region", name="Why sends failed")
    await expect(failures.locator("tbody tr")).to_have_count(1, timeout=LIVE_WAIT)
    await expect(failures.locator("tbody tr")).to_contain_text("131026")
    await expect(failures.locator("tbody tr td").nth(2)).to_have_text("1")
    recipients = page.get_by_role("region", name="Recipients", exact=True)
    await expect(recipients.locator("tbody tr")).to_have_count(3)
    await recipients.get_by_label("Recipient status").select_option("failed")
    await expect(recipients.locator("tbody tr")).to_have_count(1)
    await expect(recipients.locator("tbody tr")).to_contain_text(FAILING)
    await expect(recipients.locator("tbody tr")).to_contain_text("Gagal Kirim")
    await expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    await expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    await shot(page, "campaigns-detail")

    # Export CSV: fetched with the token, saved as a file.
    async with page.expect_download() as downloading:
        await recipients.get_by_role("button", name="Export CSV").click()
    exported = (await downloading.value).path
    text = (await exported()).read_text()
    assert FAILING in text and "6281234500001" not in text, text  # the failed ones only

    # The tab that never reloaded: the row came and completed by live events.
    row = watcher.get_by_role("row", name=re.compile(re.escape(name)))
    await expect(row.locator(".pill")).to_have_text("Completed", timeout=LIVE_WAIT)
    await expect(row.get_by_role("progressbar")).to_have_attribute(
        "aria-valuetext", "3 of 3 handled · 1 failed", timeout=LIVE_WAIT
    )
    await expect(row).to_contain_text("welcome_offer (en_US)")
    await shot(watcher, "campaigns-list")

    # Bahasa Indonesia.
    await page.get_by_label("Language").select_option("id")
    nav = page.get_by_role("navigation", name="Utama")
    await expect(nav.get_by_role("link", name="Kampanye", exact=True)).to_be_visible()
    await expect(status).to_have_text("Selesai")
    await expect(count(page, "Gagal")).to_have_text("1")
    await expect(page.get_by_role("button", name="Ekspor CSV")).to_be_visible()
    await page.get_by_label("Bahasa").select_option("en")


async def test_a_draft_gets_a_contacts_audience_is_scheduled_cancelled_and_deleted(
    world: World, open_page: OpenPage
) -> None:
    integration, template = await _whatsapp(world)
    account = integration["accounts"][0]
    await world.customer("6281277700001", "Halo, ada promo?", name="Wulan Promo")
    await world.customer("6281277700002", "Pesanan saya?", name="Wulan Lain")
    await world.conversation_of("6281277700002")
    name = f"Draf {secrets.token_hex(2)}"
    draft = await world.call(
        "POST",
        "/api/v1/campaigns",
        json={
            "name": name,
            "integration_account_id": account["id"],
            "template_id": template["id"],
            "variables": {"name": {"column": "name"}, "discount": {"value": "25%"}},
        },
    )
    page = await open_page(world.admin)
    await page.goto(f"{world.stack.url}/#/campaigns/{draft['id']}")
    await expect(page.locator(".page-head .pill")).to_have_text("Draft")
    await page.get_by_role("link", name="Continue setting up").click()

    # The wizard holds what the draft has.
    basics = page.get_by_role("form", name="Basics")
    await expect(basics.get_by_label("Name")).to_have_value(name)
    await expect(basics.get_by_label("Template")).to_have_value(template["id"])
    await basics.get_by_role("button", name="Next").click()
    message = page.get_by_role("form", name="Message")
    await expect(message.get_by_label("Body {{discount}}", exact=True)).to_have_value("25%")
    await expect(message.get_by_role("region", name="Preview")).to_contain_text(
        "Hi [name], enjoy 25% off your next order!"
    )
    await message.get_by_role("button", name="Save draft and continue").click()

    # Contacts: the count follows the filter as it is typed.
    audience = page.get_by_role("region", name="Audience")
    await audience.get_by_role("button", name="Next").click()
    await expect(audience.get_by_role("alert")).to_contain_text("no recipient yet")
    await audience.get_by_label("Choose from contacts").check()
    matching = audience.locator(".audience-count")
    await audience.get_by_label("Name, phone or email contains").fill("Wulan")
    await expect(matching).to_have_text("Matching contacts: 2.")
    await audience.get_by_label("Name, phone or email contains").fill("Wulan Promo")
    await expect(matching).to_have_text("Matching contacts: 1.")
    await audience.get_by_role("button", name="Use these contacts").click()
    report = audience.locator(".audience-report")
    await expect(report.locator(".kv", has_text="Contacts matched").locator("dd")).to_have_text("1")
    await audience.get_by_role("button", name="Next").click()

    # Tomorrow at 09:30 in the agent's zone (Asia/Jakarta).
    when = page.get_by_role("form", name="When")
    await when.get_by_label("At a date and time").check()
    tomorrow = (datetime.now(UTC) + timedelta(hours=7) + timedelta(days=1)).date()
    await when.get_by_label("Date and time (time zone Asia/Jakarta)").fill(
        f"{tomorrow.isoformat()}T09:30"
    )
    await when.get_by_role("button", name="Next").click()
    review = page.get_by_role("form", name="Review")
    await expect(review).to_contain_text("Hi Wulan Promo, enjoy 25% off your next order!")
    await review.get_by_role("button", name="Schedule campaign").click()

    await expect(page.locator(".page-head .pill")).to_have_text("Scheduled")
    scheduled = await world.call("GET", f"/api/v1/campaigns/{draft['id']}")
    expected = datetime.fromisoformat(f"{tomorrow.isoformat()}T02:30:00+00:00")
    assert datetime.fromisoformat(scheduled["scheduled_at"]) == expected
    await expect(page.get_by_role("link", name="Edit")).to_be_visible()
    await expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    accept_next_confirm(page)
    await page.get_by_role("button", name="Cancel campaign").click()
    await expect(page.locator(".page-head .pill")).to_have_text("Cancelled")
    await expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    accept_next_confirm(page)
    await page.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("heading", level=1, name="Campaigns")).to_be_visible()
    await expect(page.get_by_role("link", name=name)).to_have_count(0)


async def test_opt_outs_are_listed_added_and_removed(world: World, open_page: OpenPage) -> None:
    page = await open_page(world.admin)
    await page.goto(f"{world.stack.url}/#/campaigns/opt-outs")
    form = page.get_by_role("form", name="Add number")
    await form.get_by_label("Phone").fill("0812-9990-0077")
    await form.get_by_label("Note").fill("Asked by phone")
    await form.get_by_role("button", name="Add number").click()
    row = page.get_by_role("row", name=re.compile("6281299900077"))
    await expect(row).to_contain_text("Added here or through the API")
    await expect(row).to_contain_text("Asked by phone")
    await form.get_by_label("Phone").fill("6281299900077")
    await form.get_by_role("button", name="Add number").click()
    await expect(form.locator(".form-error")).to_contain_text("opted out already")
    accept_next_confirm(page)
    await row.get_by_role("button", name="Remove").click()
    await expect(row).to_have_count(0)
    # Added and removed elsewhere (the API, a customer's STOP): the open list follows live.
    other = page.get_by_role("row", name=re.compile("6281299900078"))
    await world.call("POST", "/api/v1/campaign-opt-outs", json={"phone": "+6281299900078"})
    await expect(other).to_contain_text("Added here or through the API", timeout=LIVE_WAIT)
    await world.http.delete("/api/v1/campaign-opt-outs/6281299900078", headers=world.admin.headers)
    await expect(other).to_have_count(0, timeout=LIVE_WAIT)


async def test_a_running_campaign_is_paused_and_resumed_from_its_page(
    world: World, open_page: OpenPage
) -> None:
    """At one send a second the campaign runs long enough to watch: its counts move live,
    Pause stops it, Resume sends the rest."""
    integration, template = await _whatsapp(world)
    account = integration["accounts"][0]
    accounts = f"/api/v1/integrations/{integration['id']}/accounts/{account['id']}"
    rows = "".join(f"08123456710{n},Pelanggan {n}\n" for n in range(8))
    draft = await world.call(
        "POST",
        "/api/v1/campaigns",
        json={
            "name": f"Pelan {secrets.token_hex(2)}",
            "integration_account_id": account["id"],
            "template_id": template["id"],
            "variables": {"name": {"column": "name"}, "discount": {"value": "5%"}},
        },
    )
    base = f"/api/v1/campaigns/{draft['id']}"
    await world.call(
        "PUT",
        f"{base}/audience/csv",
        files={"file": ("pelan.csv", f"phone,name\n{rows}".encode(), "text/csv")},
    )
    page = await open_page(world.admin)
    await page.goto(f"{world.stack.url}/#/campaigns/{draft['id']}")
    await expect(count(page, "Total")).to_have_text("8")
    await world.call("PATCH", accounts, json={"send_rate_per_second": 1})
    try:
        await world.call("POST", f"{base}/schedule", json={})
        status = page.locator(".page-head .pill")
        await expect(status).to_have_text("Running")
        waiting = count(page, "Waiting")
        await expect(waiting).to_have_text(re.compile("^[1-6]$"), timeout=LIVE_WAIT)
        await page.get_by_role("button", name="Pause").click()
        await expect(status).to_have_text("Paused")
        await expect(page.get_by_role("button", name="Pause")).to_have_count(0)
        await asyncio.sleep(2.5)  # a send claimed before the pause may still finish
        left = int(await waiting.text_content() or "0")
        assert left > 0
        await asyncio.sleep(2)
        await expect(waiting).to_have_text(str(left))  # nothing more while paused
        await page.get_by_role("button", name="Resume").click()
        await expect(status).to_have_text("Running")
        await expect(status).to_have_text("Completed", timeout=LIVE_WAIT)
        await expect(waiting).to_have_text("0")
        await expect(page.get_by_role("progressbar", name="Progress")).to_have_attribute(
            "aria-valuetext", "8 of 8 handled"
        )
    finally:
        await world.call(
            "PATCH", accounts, json={"send_rate_per_second": account["send_rate_per_second"]}
        )
