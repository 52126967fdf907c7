"""CSAT in the web app (docs/csat.md, docs/web-app.md): the survey and the customer's answer
and feedback read as such in the timeline, live, while the conversation stays resolved;
Settings › Satisfaction surveys (channels, texts per language, the server's field errors,
reset to the defaults); Settings › Satisfaction responses with a filter by score, the
average of the rows listed, and a new answer arriving live.

CSAT settings are global and the stack is shared by every browser test: each test switches
surveys on through the API and off again (the defaults) when it ends."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import OpenPage, World, shot

SETTINGS = "/api/v1/csat/settings"


@pytest.fixture
async def csat_off(world: World) -> AsyncIterator[None]:
    """Surveys off and the default texts again after the test, whatever it changed."""
    yield
    await world.call("PUT", SETTINGS, json={"channels": []})


async def surveys_on(world: World, **settings: Any) -> None:
    await world.call("PUT", SETTINGS, json={"channels": ["whatsapp"], "language": "en", **settings})


async def survey_of(world: World, conversation_id: str, within: float = 10) -> dict[str, Any]:
    """The conversation's survey once the stack's worker has made it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await world.call("GET", f"/api/v1/conversations/{conversation_id}/csat")
        if found:
            return dict(found[0])
        await asyncio.sleep(0.1)
    raise AssertionError(f"no survey for {conversation_id}")


async def tap(world: World, sender: str, survey: dict[str, Any], score: int) -> None:
    """The customer taps a row of the survey's WhatsApp list."""
    await world.customer(
        sender,
        "",
        type="interactive",
        interactive_type="list_reply",
        reply_id=f"csat:{survey['id']}:{score}",
        reply_title=f"{score} - Score",
    )


async def answered(
    world: World, sender: str, name: str, score: int, feedback: str | None = None
) -> dict[str, Any]:
    """A customer writes, the conversation is resolved, they answer the survey (and comment)."""
    await world.customer(sender, "Halo, pesanan saya?", name=name)
    conversation = await world.conversation_of(sender)
    await world.call("POST", f"/api/v1/conversations/{conversation['id']}/resolve")
    survey = await survey_of(world, conversation["id"])
    await tap(world, sender, survey, score)
    if feedback:
        await world.customer(sender, feedback, name=name)
    deadline = time.monotonic() + 10
    while True:
        got = (await world.call("GET", f"/api/v1/conversations/{conversation['id']}/csat"))[0]
        if got["score"] == score and (feedback is None or got["feedback"] == feedback):
            return dict(got)
        assert time.monotonic() < deadline, got
        await asyncio.sleep(0.1)


async def test_the_survey_and_its_answer_appear_in_the_timeline_live(
    world: World, open_page: OpenPage, csat_off: None
) -> None:
    await surveys_on(world)
    sender = "16505550141"
    await world.customer(sender, "Where is my order?", name="Rina Rating")
    conversation = await world.conversation_of(sender)
    cid = conversation["id"]
    page = await open_page(world.admin)
    await page.locator(".conv-row", has_text="Rina Rating").click()
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.locator(".status-badge")).to_have_text("Resolved")

    # The survey message arrives live and says what it is, with its question.
    survey_msg = page.locator(".msg.csat-survey")
    await expect(survey_msg).to_contain_text("Satisfaction survey sent", timeout=10_000)
    await expect(survey_msg).to_contain_text("How would you rate the help you received?")
    survey = await survey_of(world, cid)
    await page.evaluate("window.__samePage = true")
    # Inbound times are the channel's, in whole seconds: a second apart, the timeline's order
    # (survey, answer, thanks, feedback) is the real one in the screenshot.
    await asyncio.sleep(1.1)

    # The customer taps 4, then writes a comment: both read as such, without a reload.
    await tap(world, sender, survey, 4)
    answer = page.locator(".msg.csat-answer")
    await expect(answer).to_contain_text("Rated 4 / 5")
    await expect(answer.locator(".csat-stars")).to_have_text("★★★★★")  # 4 lit, 1 off
    await expect(answer.locator(".csat-off")).to_have_text("★")
    await expect(page.locator(".msg.csat-thanks")).to_contain_text("Thank you for your rating!")
    await asyncio.sleep(1.1)
    await world.customer(sender, "Fast and friendly, thanks!", name="Rina Rating")
    feedback = page.locator(".msg.csat-feedback .text")
    await expect(feedback).to_have_text("Feedback: Fast and friendly, thanks!")
    await expect(page.locator(".status-badge")).to_have_text("Resolved")
    assert await page.evaluate("window.__samePage") is True
    await shot(page, "csat-timeline")
    got = await world.call("GET", f"/api/v1/conversations/{cid}")
    assert got["status"] == "resolved"

    # A reload reads the same from GET /conversations/{id}/csat.
    await page.reload()
    await expect(page.locator(".msg.csat-answer")).to_contain_text("Rated 4 / 5")
    await expect(feedback).to_have_text("Feedback: Fast and friendly, thanks!")
    await expect(page.locator(".msg.csat-survey")).to_contain_text("Satisfaction survey sent")

    # A second tap changes nothing (the first answer counts), and says so.
    await tap(world, sender, survey, 1)
    await expect(page.locator(".msg.csat-ignored")).to_contain_text("Tapped 1 / 5: not counted")
    await expect(page.locator(".msg.csat-answer")).to_have_count(1)


async def test_a_skipped_survey_says_why(world: World, open_page: OpenPage, csat_off: None) -> None:
    await surveys_on(world)
    sender = "16505550142"
    await world.customer(sender, "Hello", name="Sari Skip")
    conversation = await world.conversation_of(sender)
    # The customer wrote more than 24 hours ago: no survey may go out.
    conn = await asyncpg.connect(world.stack.dsn)
    try:
        await conn.execute(
            "UPDATE conversations SET last_inbound_at = now() - interval '25 hours' WHERE id = $1",
            conversation["id"],
        )
    finally:
        await conn.close()
    page = await open_page(world.admin)
    await page.locator(".conv-row", has_text="Sari Skip").click()
    await page.get_by_role("button", name="Resolve").click()
    # No event announces a skip: the timeline reads the surveys again after a live resolve.
    line = page.locator(".csat-line > span")
    await expect(line).to_have_text("No survey: the 24-hour window was closed", timeout=10_000)
    await page.reload()
    await expect(line).to_have_text("No survey: the 24-hour window was closed")
    await expect(page.locator(".msg.csat-survey")).to_have_count(0)


def field(page: Page, name: str) -> Any:
    return page.locator(f'[data-field="{name}"]')


async def test_settings_page_saves_channels_and_texts_and_shows_field_errors(
    world: World, open_page: OpenPage, csat_off: None
) -> None:
    page = await open_page(world.admin)
    await page.goto(f"{world.stack.url}/#/settings/csat")
    await expect(page.get_by_role("heading", name="Satisfaction surveys")).to_be_visible()
    # The defaults until first saved: every channel off (email too), the default texts.
    await expect(page.get_by_label("Messenger", exact=True)).not_to_be_checked()
    await expect(page.get_by_label("Email", exact=True)).not_to_be_checked()
    question_id = field(page, "texts.id.question").locator("textarea")
    await expect(question_id).to_have_value(re.compile(r"^Terima kasih telah menghubungi kami!"))
    await expect(field(page, "texts.en.options.3").locator("input")).to_have_value("4 - Good")

    await page.get_by_label("Messenger", exact=True).check()
    await question_id.fill("Bagaimana layanan kami hari ini?")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator(".toast", has_text="Saved.")).to_be_visible()
    await page.reload()
    await expect(page.get_by_label("Messenger", exact=True)).to_be_checked()
    await expect(page.get_by_label("WhatsApp", exact=True)).not_to_be_checked()
    await expect(question_id).to_have_value("Bagaimana layanan kami hari ini?")
    saved = await world.call("GET", SETTINGS)
    assert saved["channels"] == ["messenger"]
    assert saved["texts"]["id"]["question"] == "Bagaimana layanan kami hari ini?"
    assert saved["texts"]["en"]["question"].startswith("Thanks for contacting us!")

    # Bad values: the server's errors at their fields, nothing saved.
    await field(page, "interval_days").locator("input").fill("400")
    await (
        field(page, "texts.en.options.1")
        .locator("input")
        .evaluate(
            "(el) => { el.removeAttribute('maxlength'); el.value = 'A label far too long for a row'; }"
        )
    )
    await page.get_by_role("button", name="Save").click()
    await expect(field(page, "interval_days").locator(".field-error")).to_contain_text("365")
    await expect(field(page, "interval_days").locator("input")).to_have_attribute(
        "aria-invalid", "true"
    )
    await expect(field(page, "texts.en.options.1").locator(".field-error")).to_contain_text("20")
    await page.get_by_label("Add the survey page's link to the survey").check()
    await field(page, "interval_days").locator("input").fill("3")
    await field(page, "texts.en.options.1").locator("input").fill("2 - Poor")
    await page.get_by_role("button", name="Save").click()
    await expect(field(page, "public_url").locator(".field-error")).to_contain_text("required")
    await shot(page, "csat-settings-errors")
    assert (await world.call("GET", SETTINGS))["interval_days"] == 7

    # Reset to the defaults: the texts come back (saved), the channels stay.
    page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await page.get_by_role("button", name="Reset texts to defaults").click()
    await expect(
        page.locator(".toast", has_text="The texts are the defaults again.")
    ).to_be_visible()
    await expect(question_id).to_have_value(re.compile(r"^Terima kasih telah menghubungi kami!"))
    await expect(page.get_by_label("Messenger", exact=True)).to_be_checked()
    saved = await world.call("GET", SETTINGS)
    assert saved["texts"]["id"]["question"].startswith("Terima kasih telah menghubungi kami!")

    # In Bahasa Indonesia.
    await page.get_by_label("Language", exact=True).select_option("id")
    await expect(page.get_by_role("heading", name="Survei kepuasan")).to_be_visible()
    await expect(
        page.get_by_text("Email biasa di utas yang sama; pelanggan membalas dengan angkanya.")
    ).to_be_visible()
    await expect(page.get_by_label("Email: cara menjawab (setelah nilai)").first).to_be_visible()


async def test_an_admin_turns_on_email_surveys(
    world: World, open_page: OpenPage, csat_off: None
) -> None:
    page = await open_page(world.admin)
    await page.goto(f"{world.stack.url}/#/settings/csat")
    await expect(page.get_by_role("heading", name="Satisfaction surveys")).to_be_visible()
    email = page.get_by_role("checkbox", name="Email")
    await expect(email).to_be_enabled()
    await expect(page.locator("[data-field='channel.email']")).to_contain_text(
        "the customer replies with the number"
    )
    reply = page.get_by_label("Email: how to answer (after the scores)").first
    await expect(reply).to_have_value(
        "Just reply to this email with a number from 1 to 5 (5 is best). "
        "You can add a comment below the number."
    )
    await email.check()
    await reply.fill("Reply with one number, 1 (bad) to 5 (great).")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator(".toast", has_text="Saved.")).to_be_visible()
    saved = await world.call("GET", "/api/v1/csat/settings")
    assert saved["channels"] == ["email"]
    assert saved["texts"]["en"]["email_reply"] == "Reply with one number, 1 (bad) to 5 (great)."
    await page.reload()
    await expect(page.get_by_role("checkbox", name="Email")).to_be_checked()


async def test_responses_list_filters_by_score_and_follows_new_answers(
    world: World, open_page: OpenPage, csat_off: None
) -> None:
    await surveys_on(world)
    await answered(world, "16505550151", "Tono Top", 5, feedback="Great help")
    await answered(world, "16505550152", "Wati Weak", 2)
    supervisor = await world.agent("supervisor", name="Sekar Supervisor")
    page = await open_page(supervisor)
    await page.goto(f"{world.stack.url}/#/settings/csatResponses")
    await expect(page.get_by_role("heading", name="Satisfaction responses")).to_be_visible()
    # Supervisors read responses; the settings are the admins'.
    await expect(page.get_by_role("link", name="Satisfaction surveys")).to_have_count(0)
    rows = page.locator("table.data tbody tr")
    await expect(rows).to_have_count(2)
    # (Newest answer first; the two may share a second, the channel's timestamps' unit.)
    await expect(rows.filter(has_text="Wati Weak")).to_contain_text("2 / 5")
    tono = rows.filter(has_text="Tono Top")
    for cell in ("5 / 5", "Great help", "Unassigned", "No division", "WhatsApp"):
        await expect(tono).to_contain_text(cell)
    summary = page.locator(".csat-summary")
    await expect(summary).to_have_text(
        "Matching responses: 2 · average 3.5 / 5 · satisfied (4–5): 50%"
    )

    await page.get_by_label("Score").select_option("5")
    await expect(rows).to_have_count(1)
    await expect(rows.nth(0)).to_contain_text("Tono Top")
    await expect(summary).to_have_text(
        "Matching responses: 1 · average 5.0 / 5 · satisfied (4–5): 100%"
    )

    # A new answer arrives live: listed when it matches the filter, not otherwise.
    await page.evaluate("window.__samePage = true")
    await answered(world, "16505550153", "Yuni Yes", 5)
    await answered(world, "16505550154", "Zaki Zero", 1)
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="Yuni Yes")).to_contain_text("5 / 5")
    await expect(summary).to_have_text(
        "Matching responses: 2 · average 5.0 / 5 · satisfied (4–5): 100%"
    )
    await page.get_by_label("Score").select_option("")
    await expect(rows).to_have_count(4)
    await expect(summary).to_have_text(
        "Matching responses: 4 · average 3.3 / 5 · satisfied (4–5): 50%"
    )
    assert await page.evaluate("window.__samePage") is True
    await shot(page, "csat-responses")

    # An agent has neither page.
    agent = await world.agent()
    other = await open_page(agent)
    await other.goto(f"{world.stack.url}/#/settings/csatResponses")
    await expect(other.get_by_role("link", name="My profile")).to_be_visible()
    await expect(other.get_by_role("link", name="Satisfaction responses")).to_have_count(0)
