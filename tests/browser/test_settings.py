"""Settings in a real browser: what each role sees, admins creating agents and
integrations, and the server's field errors shown next to the fields."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect

from tests.browser.conftest import WA_ACCOUNT, OpenPage, World, shot


async def settings(page: Page, section: str) -> None:
    await page.get_by_role("link", name="Settings").click()
    await (
        page.get_by_role("navigation", name="Settings sections")
        .get_by_role("link", name=section)
        .click()
    )
    await expect(page.get_by_role("heading", level=1, name=section)).to_be_visible()


async def test_an_admin_creates_an_agent_who_can_sign_in(world: World, open_page: OpenPage) -> None:
    division = await world.division("Support")
    page = await open_page(world.admin)
    await settings(page, "Agents")
    await page.get_by_role("button", name="New agent").click()
    dialog = page.get_by_role("dialog", name="New agent")
    await dialog.get_by_label("Name").fill("Putri Ayu")
    await dialog.get_by_label("Email").fill("putri.ayu@example.com")
    await dialog.get_by_label("Role").select_option("supervisor")
    await dialog.get_by_label("Password").fill("a long enough password")
    support = await world.call("GET", f"/api/v1/divisions/{division}")
    await dialog.get_by_label(support["name"]).check()
    await dialog.get_by_role("button", name="Create agent").click()
    await expect(dialog).to_have_count(0)
    created = page.get_by_role("row", name="Putri Ayu")
    await expect(created).to_contain_text("putri.ayu@example.com")
    await expect(created).to_contain_text("Supervisor")
    await expect(created).to_contain_text(support["name"])
    await shot(page, "settings-agents")

    # She can sign in, and sees the division's settings read-only (supervisor).
    page2 = await open_page(None)
    await page2.get_by_label("Email").fill("putri.ayu@example.com")
    await page2.get_by_label("Password").fill("a long enough password")
    await page2.get_by_role("button", name="Sign in").click()
    await expect(page2.locator(".me-name")).to_have_text("Putri Ayu")
    await settings(page2, "Divisions")
    await expect(page2.get_by_role("button", name="New division")).to_have_count(0)

    # Edit: deactivate her; the list says so.
    await page.get_by_role("button", name="Edit Putri Ayu").click()
    dialog = page.get_by_role("dialog", name="Edit Putri Ayu")
    await dialog.get_by_label("Active (may sign in)").uncheck()
    await dialog.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("row", name="Putri Ayu")).to_contain_text("Deactivated")


async def test_an_admin_creates_an_integration_and_tests_it(
    world: World, open_page: OpenPage
) -> None:
    # A second WhatsApp number at "Meta" (the sandbox), with its own token.
    await world.sandbox_post(
        "/accounts",
        {
            "channel": "whatsapp",
            "external_id": "109000000000088",
            "waba_id": "209000000000088",
            "access_token": "second-number-token",
            "app_secret": "second-secret",
        },
    )
    page = await open_page(world.admin)
    await settings(page, "Integrations")
    await page.get_by_role("button", name="New integration").click()
    dialog = page.get_by_role("dialog", name="New integration")
    await dialog.get_by_label("Channel").select_option("whatsapp")
    await dialog.get_by_role("textbox", name="Name", exact=True).fill("WhatsApp Toko Kedua")
    await dialog.get_by_label("Access token").fill("second-number-token")
    await dialog.get_by_label("App secret").fill("second-secret")
    await dialog.get_by_label("Webhook verify token").fill("verify-me")
    await dialog.get_by_label("WhatsApp Business Account id").fill("209000000000088")
    await dialog.get_by_label("Graph API URL").fill(world.stack.sandbox_url)
    account = dialog.get_by_role("textbox", name="Account id", exact=True)
    await account.fill(WA_ACCOUNT)  # already the first integration's number: refused
    await dialog.get_by_role("button", name="Create integration").click()
    await expect(dialog.locator("[data-field=external_id] .field-error")).to_contain_text(
        "already an account"
    )
    await account.fill("109000000000088")
    await dialog.get_by_role("button", name="Create integration").click()
    await expect(dialog).to_have_count(0)
    card = page.get_by_role("article", name="WhatsApp Toko Kedua")
    await expect(card).to_contain_text("109000000000088")
    await expect(card).to_contain_text("Not checked")
    await card.get_by_role("button", name="Test connection").click()
    await expect(card.locator(".test-result")).to_contain_text("Healthy")
    await expect(card.locator(".pill", has_text="Healthy")).to_be_visible()
    await shot(page, "settings-integrations")

    # Credentials are write-only: the edit form shows whether each is set, never the value.
    await card.get_by_role("button", name="Edit", exact=True).click()
    dialog = page.get_by_role("dialog", name="Edit WhatsApp Toko Kedua")
    token = dialog.get_by_label("Access token")
    await expect(token).to_have_value("")
    await expect(token).to_have_attribute("type", "password")
    await expect(dialog).to_contain_text("Set (hidden)")
    assert "second-number-token" not in await page.content()
    await dialog.get_by_role("button", name="Cancel").click()

    # Deleting asks first (and leaves the other tests one WhatsApp integration).
    page.once("dialog", lambda confirm: confirm.accept())
    await card.get_by_role("button", name="Delete", exact=True).click()
    await expect(card).to_have_count(0)


async def test_bad_input_shows_the_servers_field_errors(world: World, open_page: OpenPage) -> None:
    page = await open_page(world.admin)
    await settings(page, "Agents")
    await page.get_by_role("button", name="New agent").click()
    dialog = page.get_by_role("dialog", name="New agent")
    await dialog.get_by_label("Name").fill("Tanpa Email")
    await dialog.get_by_label("Email").fill("not-an-email")
    await dialog.get_by_label("Password").fill("short")
    await dialog.get_by_role("button", name="Create agent").click()
    email = dialog.locator("[data-field=email]")
    password = dialog.locator("[data-field=password]")
    await expect(email.locator(".field-error")).to_contain_text("email")
    await expect(password.locator(".field-error")).to_contain_text("at least 8 characters")
    await expect(email.locator("input")).to_have_attribute("aria-invalid", "true")
    await expect(dialog.locator("[data-field=name] .field-error")).to_have_count(0)
    await shot(page, "settings-field-errors")
    await dialog.get_by_role("button", name="Cancel").click()

    await settings(page, "Integrations")
    await page.get_by_role("button", name="New integration").click()
    dialog = page.get_by_role("dialog", name="New integration")
    await dialog.get_by_role("textbox", name="Name", exact=True).fill("Rusak")
    await dialog.get_by_label("Graph API URL").fill("ftp://graph.example.com")
    await dialog.get_by_label("WhatsApp Business Account id").fill("not digits!")
    await dialog.get_by_role("button", name="Create integration").click()
    await expect(
        dialog.locator("[data-field='credentials.base_url'] .field-error")
    ).to_contain_text("http:// or https://")
    await expect(dialog.locator("[data-field='credentials.waba_id'] .field-error")).to_be_visible()
    await dialog.get_by_role("button", name="Cancel").click()

    # A contact's phone in the inbox's contact panel.
    await world.customer("6281200000091", "Halo", name="Tono")
    await world.conversation_of("6281200000091")
    await page.get_by_role("link", name="Inbox").click()
    await page.locator(".conv-row", has_text="Tono").click()
    await page.get_by_role("button", name="Edit contact").click()
    await page.get_by_label("Email").fill("bukan email")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator(".contact-form [data-field=email] .field-error")).to_be_visible()
    await page.get_by_label("Email").fill("tono@example.com")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator(".contact-pane")).to_contain_text("tono@example.com")


async def test_server_errors_are_said_in_bahasa_indonesia(
    world: World, open_page: OpenPage
) -> None:
    taken = await world.agent()
    division = await world.call("GET", f"/api/v1/divisions/{await world.division('Gudang')}")
    page = await open_page(world.admin)
    await page.get_by_label("Language").select_option("id")
    await page.get_by_role("link", name="Pengaturan").click()
    sections = page.get_by_role("navigation", name="Bagian pengaturan")
    await sections.get_by_role("link", name="Agen").click()
    await page.get_by_role("button", name="Agen baru").click()
    dialog = page.get_by_role("dialog", name="Agen baru")
    await dialog.locator("[data-field=email] input").fill("bukan-email")
    await dialog.locator("[data-field=password] input").fill("pendek")
    await dialog.get_by_role("button", name="Buat agen").click()
    # The generic field errors (by their pydantic type) in the page's language...
    await expect(dialog.locator("[data-field=name] .field-error")).to_have_text("Wajib diisi.")
    email = dialog.locator("[data-field=email] .field-error")
    await expect(email).to_have_text("Alamat email tidak valid.")
    await expect(dialog.locator("[data-field=password] .field-error")).to_have_text(
        "Minimal 8 karakter."
    )
    await shot(page, "settings-field-errors-bahasa")
    # ...and the server's own checks by their type too (a duplicate is "taken").
    await dialog.locator("[data-field=name] input").fill("Dua Kali")
    await dialog.locator("[data-field=email] input").fill(taken.email)
    await dialog.locator("[data-field=password] input").fill("a long enough password")
    await dialog.get_by_role("button", name="Buat agen").click()
    await expect(email).to_have_text("Sudah dipakai.")
    await dialog.get_by_role("button", name="Batal").click()

    # A problem without a field (the division was deleted meanwhile): by its type.
    await sections.get_by_role("link", name="Divisi").click()
    remove = page.get_by_role("button", name=f"Hapus {division['name']}")
    await expect(remove).to_be_visible()
    await world.call("DELETE", f"/api/v1/divisions/{division['id']}")
    page.once("dialog", lambda confirm: asyncio.ensure_future(confirm.accept()))
    await remove.click()
    await expect(page.locator(".toast.error")).to_have_text(
        "Data tidak ada, atau Anda tidak berhak melihatnya."
    )


async def test_a_plain_agent_sees_no_admin_settings_and_the_api_refuses(
    world: World, open_page: OpenPage
) -> None:
    agent = await world.agent(name="Agen Biasa")
    page = await open_page(agent)
    await page.get_by_role("link", name="Settings").click()
    nav = page.get_by_role("navigation", name="Settings sections")
    await expect(nav.get_by_role("link")).to_have_text(
        ["My profile", "Quick replies", "Templates", "Scheduled messages"]
    )
    for hidden in ("agents", "divisions", "integrations", "activity"):
        await page.goto(f"{world.stack.url}/#/settings/{hidden}")
        await expect(page.get_by_role("heading", level=1)).to_have_text("My profile")
    statuses = await page.evaluate(
        """async () => {
            const headers = {Authorization: "Bearer " + localStorage.getItem("omnistream.access")};
            const call = async (method, path) => (await fetch(path, {method, headers})).status;
            return [await call("GET", "/api/v1/agents"), await call("GET", "/api/v1/integrations"),
                    await call("GET", "/api/v1/activity"), await call("POST", "/api/v1/divisions")];
        }"""
    )
    assert statuses == [403, 403, 403, 403]
    await page.goto(f"{world.stack.url}/#/settings/quickReplies")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Quick replies")
    await expect(page.get_by_role("button", name="New quick reply")).to_have_count(0)
    await shot(page, "settings-agent-profile")


async def test_admin_settings_pages(world: World, open_page: OpenPage) -> None:
    sales = await world.division("Sales")
    await world.agent(name="Rudi Sales", divisions=[sales])
    name = (await world.call("GET", f"/api/v1/divisions/{sales}"))["name"]
    page = await open_page(world.admin)
    await settings(page, "Divisions")
    await page.get_by_role("button", name=f"Members of {name}").click()
    members = page.locator(".members-panel")
    await expect(members).to_contain_text("Rudi Sales")
    await shot(page, "settings-divisions")
    await settings(page, "Activity log")
    await expect(page.get_by_role("cell", name="Created agent").first).to_be_visible()
    await page.get_by_label("Action").select_option(label="Added division member")
    rows = page.locator("table.data tbody tr")
    await expect(rows.first).to_contain_text("Added division member")
    await expect(rows.first).to_contain_text(f"Division: {name}")
    actions = await rows.locator("td:nth-child(3)").all_text_contents()
    assert actions and set(actions) == {"Added division member"}, actions
    await shot(page, "settings-activity")
    await settings(page, "My profile")
    await shot(page, "settings-profile")


async def test_reply_tool_settings(world: World, open_page: OpenPage) -> None:
    integration = (await world.call("GET", "/api/v1/integrations"))["items"][0]
    await world.call("POST", f"/api/v1/integrations/{integration['id']}/templates/sync")
    page = await open_page(world.admin)
    await settings(page, "Quick replies")
    await page.get_by_role("button", name="New quick reply").click()
    dialog = page.get_by_role("dialog", name="New quick reply")
    await dialog.get_by_label("Title").fill("Ongkir")
    await dialog.get_by_label("Text").fill("Ongkir ke {{contact.city}} gratis")
    await dialog.get_by_role("button", name="Create quick reply").click()
    await expect(dialog.locator("[data-field=body] .field-error")).to_contain_text("contact.city")
    await dialog.get_by_label("Text").fill("Ongkir untuk {{contact.name}} gratis")
    await dialog.get_by_role("button", name="Create quick reply").click()
    await expect(dialog).to_have_count(0)
    reply = page.get_by_role("row", name="Ongkir")
    await expect(reply).to_contain_text("Everyone")
    await reply.get_by_role("button", name="Favourite: Ongkir").click()
    await expect(page.get_by_role("button", name="Favourite: Ongkir")).to_have_attribute(
        "aria-pressed", "true"
    )
    await shot(page, "settings-quick-replies")
    await settings(page, "Templates")
    await expect(page.get_by_role("row", name="welcome_offer").first).to_contain_text("APPROVED")
    await shot(page, "settings-templates")
    await settings(page, "Scheduled messages")
    await shot(page, "settings-scheduled")
