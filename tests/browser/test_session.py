"""Signing in and staying signed in: clear errors, the lockout, silent token refresh that
keeps the page, an ended session back to the sign-in page, signing out."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import LOGIN_MAX_FAILURES, OpenPage, World, shot, sign_in


async def test_wrong_password_then_lockout_with_the_minutes_left(
    world: World, open_page: OpenPage
) -> None:
    agent = await world.agent(name="Lupa Sandi")
    page = await open_page(None)
    await sign_in(page, agent.email, "not the password")
    alert = page.get_by_role("alert")
    await expect(alert).to_have_text("Wrong email or password.")
    for _ in range(LOGIN_MAX_FAILURES - 1):
        await sign_in(page, agent.email, "still not it")
        await expect(alert).to_have_text("Wrong email or password.")
    await sign_in(page, agent.email, agent.password)  # locked: even the right one waits
    # The 15-minute window, in minutes rounded up (tests/browser/test_error_messages.py).
    await expect(alert).to_have_text(
        "Too many failed sign-ins for this email. Try again in 15 minutes."
    )
    await shot(page, "login-locked")


async def test_empty_fields_are_caught_before_the_server(open_page: OpenPage) -> None:
    page = await open_page(None)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Enter your email and password.")


async def test_silent_refresh_keeps_the_page_and_shares_one_refresh(
    world: World, open_page: OpenPage
) -> None:
    await world.customer("6281200000101", "Halo", name="Rahmat")
    await world.conversation_of("6281200000101")
    page = await open_page(world.admin)
    refreshes: list[str] = []
    page.on(
        "request", lambda r: refreshes.append(r.url) if r.url.endswith("/auth/refresh") else None
    )
    before = await page.evaluate("localStorage.getItem('omnistream.refresh')")
    # The access token goes bad (expired, or signed with an old key): the next requests get
    # 401, trade the refresh token once for new tokens, and carry on.
    await page.evaluate("localStorage.setItem('omnistream.access', 'expired.token.value')")
    await page.evaluate("window.__samePage = true")
    await page.locator(".conv-row", has_text="Rahmat").click()  # five requests at once
    await expect(page.locator(".msg.inbound .text")).to_have_text(["Halo"])
    await expect(page.locator(".contact-name")).to_have_text("Rahmat")
    assert len(refreshes) == 1, refreshes
    after = await page.evaluate("localStorage.getItem('omnistream.refresh')")
    assert after and after != before  # rotated
    assert await page.evaluate("window.__samePage") is True
    box = page.get_by_label("Message", exact=True)
    await box.fill("Masih di halaman yang sama")
    await box.press("Control+Enter")
    await expect(page.locator(".msg.outbound")).to_have_count(1)


async def test_an_ended_session_goes_back_to_sign_in(world: World, open_page: OpenPage) -> None:
    agent = await world.agent(name="Sesi Habis")
    page = await open_page(agent)
    # The session is ended on the server (signed out elsewhere, revoked): the live socket is
    # closed, the refresh is refused, and the page returns to the sign-in form by itself.
    token = await page.evaluate("localStorage.getItem('omnistream.access')")
    await world.call("POST", "/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_text(
        "Your session has ended. Please sign in again."
    )
    assert await page.evaluate("localStorage.getItem('omnistream.refresh')") is None
    await sign_in(page, agent.email, agent.password)
    await expect(page.locator(".me-name")).to_have_text("Sesi Habis")


async def test_sign_out(world: World, open_page: OpenPage) -> None:
    page = await open_page(world.admin)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert await page.evaluate("localStorage.getItem('omnistream.refresh')") is None
    await page.reload()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
