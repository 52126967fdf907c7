"""Messenger and Instagram customers get names: the inbound batch marks a profile lookup
due, and the profile loop's tick (contacts/worker.py) asks the Meta Graph API sandbox (a
real server on loopback) with the receiving page's token, stores the name and picture,
and schedules or pauses the next lookup."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from omnistream.config import Settings
from omnistream.contacts.worker import MAX_ATTEMPTS, fetch_profiles
from omnistream.context import AppContext
from omnistream.db.migrate import load_migrations, migrate
from tests.inbound.test_inbound_media import connect
from tests.inbound.test_inbound_support import (
    _fresh_secrets,  # noqa: F401 - autouse
    deliver,
    drain,
    one,
    rows,
    value,
)
from tests.sandbox_fixture import Sandbox, SandboxAccount, sandbox_fixture  # noqa: F401

PSID = "7100000000000001"
IGSID = "8100000000000001"


@pytest.fixture
def fetch_settings(settings: Settings) -> Settings:
    """OMNISTREAM_ALLOW_PRIVATE_URLS=true: the sandbox listens on loopback."""
    return settings.model_copy(update={"allow_private_urls": True})


async def writes(
    ctx: AppContext,
    client: Any,
    sandbox: Sandbox,
    account: SandboxAccount,
    user: str,
    **fields: Any,
) -> dict[str, Any]:
    """The customer's message: built and signed by the sandbox, posted to our webhook, and
    applied by the inbound tick."""
    sent = await sandbox.send_customer(account, user, text=fields.pop("text", "hi"), **fields)
    await deliver(client, sent["payload"], account.app_secret)
    await drain(ctx)
    return sent


async def contact_of(ctx: AppContext, channel: str, user: str) -> Any:
    return await one(
        ctx,
        "SELECT k.*, i.profile_due_at, i.profile_not_before, i.profile_attempts, "
        "i.profile_error, i.profile_account_id FROM contact_identities i "
        "JOIN contacts k ON k.id = i.contact_id WHERE i.channel = $1 AND i.external_id = $2",
        channel,
        user,
    )


async def lookups(sandbox: Sandbox, user: str) -> list[dict[str, Any]]:
    return [r for r in await sandbox.requests(method="GET") if r["path"].endswith(f"/{user}")]


async def tick(ctx: AppContext, settings: Settings) -> int:
    return await fetch_profiles(ctx.pool, settings, ctx.box)


async def test_a_messenger_customer_gets_first_and_last_name_and_picture(
    ctx, client, sandbox, fetch_settings, admin
) -> None:
    page = await connect(ctx, sandbox, "messenger")
    await writes(ctx, client, sandbox, page, PSID, name="Ana Lima", text="Do you ship to Bandung?")
    # The batch stored the message and only marked the lookup: Meta was not asked.
    before = await contact_of(ctx, "messenger", PSID)
    assert before["name"] == "" and before["profile_due_at"] is not None
    assert await lookups(sandbox, PSID) == []
    assert await value(ctx, "SELECT count(*) FROM messages") == 1

    assert await tick(ctx, fetch_settings) == 1
    after = await contact_of(ctx, "messenger", PSID)
    assert after["name"] == "Ana Lima" and after["name_source"] == "channel"
    assert after["profile_pic_url"] == f"{sandbox.url}/cdn/profile/{PSID}.png"
    assert after["profile_error"] is None and after["profile_attempts"] == 0
    (asked,) = await lookups(sandbox, PSID)
    assert asked["query"]["fields"] == "first_name,last_name,profile_pic"
    assert asked["headers"]["authorization"] == f"Bearer {page.access_token}"
    # Open screens learn it live; the audit trail says the system renamed the contact.
    event = await one(
        ctx, "SELECT * FROM event_outbox WHERE type = 'contact.updated' ORDER BY pos DESC"
    )
    assert event["data"]["name"] == "Ana Lima" and event["actor"] == {"type": "system"}
    assert event["data"]["profile_pic_url"] == after["profile_pic_url"]
    audit = await one(ctx, "SELECT * FROM activity_logs WHERE action = 'update_contact'")
    assert audit["agent_id"] is None and audit["target_id"] == after["id"]
    assert audit["metadata_json"] == {
        "changes": {"name": "Ana Lima"},
        "source": "messenger_profile",
    }
    # The conversation list carries the name.
    r = await client.get("/api/v1/conversations", headers=admin.headers)
    assert [c["contact"]["name"] for c in r.json()["items"]] == ["Ana Lima"]
    # The next refresh is a day ahead (the customer is writing): nothing is due now.
    assert await value(
        ctx,
        "SELECT profile_due_at BETWEEN now() + interval '23 hours' AND now() + interval '25 hours'"
        " FROM contact_identities WHERE external_id = $1",
        PSID,
    )
    assert await tick(ctx, fetch_settings) == 0


async def test_instagram_takes_the_name_or_else_the_username(
    ctx, client, sandbox, fetch_settings
) -> None:
    ig = await connect(ctx, sandbox, "instagram")
    await writes(ctx, client, sandbox, ig, IGSID, name="Dewi Lestari")
    await writes(ctx, client, sandbox, ig, "8100000000000002", name="", username="toko.budi")
    assert await tick(ctx, fetch_settings) == 2
    named = await contact_of(ctx, "instagram", IGSID)
    unnamed = await contact_of(ctx, "instagram", "8100000000000002")
    assert (named["name"], unnamed["name"]) == ("Dewi Lestari", "toko.budi")
    assert unnamed["profile_pic_url"].endswith("/cdn/profile/8100000000000002.png")
    (asked, _) = [r for r in await sandbox.requests(method="GET") if "/81000" in r["path"]]
    assert asked["query"]["fields"] == "name,username,profile_pic"


async def test_the_message_is_stored_while_the_lookup_fails_and_it_is_retried(
    ctx, client, sandbox, fetch_settings
) -> None:
    page = await connect(ctx, sandbox, "messenger")
    await sandbox.add_fault("http_500", recipient=PSID, times=1)
    await writes(ctx, client, sandbox, page, PSID, name="Ana Lima", text="halo")
    assert await tick(ctx, fetch_settings) == 1
    failed = await contact_of(ctx, "messenger", PSID)
    assert failed["name"] == "" and failed["profile_attempts"] == 1
    assert failed["profile_error"].startswith("Meta could not answer now (Meta error 2")
    assert await value(ctx, "SELECT count(*) FROM messages WHERE content->>'text' = 'halo'") == 1
    assert await value(
        ctx, "SELECT profile_due_at > now() + interval '50 seconds' FROM contact_identities"
    )
    assert await tick(ctx, fetch_settings) == 0  # backing off
    await value(ctx, "UPDATE contact_identities SET profile_due_at = now()")
    assert await tick(ctx, fetch_settings) == 1
    fetched = await contact_of(ctx, "messenger", PSID)
    assert (fetched["name"], fetched["profile_error"]) == ("Ana Lima", None)
    assert len(await lookups(sandbox, PSID)) == 2


async def test_a_lookup_that_keeps_failing_is_given_up_until_the_customer_writes_again(
    ctx, client, sandbox, fetch_settings
) -> None:
    page = await connect(ctx, sandbox, "messenger")
    await sandbox.add_fault("error", recipient=PSID, code=2)
    await writes(ctx, client, sandbox, page, PSID)
    await value(ctx, "UPDATE contact_identities SET profile_attempts = $1", MAX_ATTEMPTS - 1)
    assert await tick(ctx, fetch_settings) == 1
    given_up = await contact_of(ctx, "messenger", PSID)
    assert given_up["profile_due_at"] is None
    assert f"(gave up after {MAX_ATTEMPTS} attempts)" in given_up["profile_error"]


async def test_an_agents_name_is_never_overwritten(
    ctx, client, sandbox, fetch_settings, admin
) -> None:
    page = await connect(ctx, sandbox, "messenger")
    await writes(ctx, client, sandbox, page, PSID, name="Ana Lima")
    contact_id = (await contact_of(ctx, "messenger", PSID))["id"]
    r = await client.patch(
        f"/api/v1/contacts/{contact_id}", json={"name": "Bu Ana (VIP)"}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert await tick(ctx, fetch_settings) == 1
    kept = await contact_of(ctx, "messenger", PSID)
    assert (kept["name"], kept["name_source"]) == ("Bu Ana (VIP)", "agent")
    assert kept["profile_pic_url"] == f"{sandbox.url}/cdn/profile/{PSID}.png"  # still stored
    # Cleared by the agent: the channel's name may fill it again.
    r = await client.patch(
        f"/api/v1/contacts/{contact_id}", json={"name": ""}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    await value(ctx, "UPDATE contact_identities SET profile_due_at = now()")
    assert await tick(ctx, fetch_settings) == 1
    assert (await contact_of(ctx, "messenger", PSID))["name"] == "Ana Lima"


async def test_a_contact_created_with_a_name_keeps_it(
    ctx, client, sandbox, fetch_settings, admin
) -> None:
    r = await client.post(
        "/api/v1/contacts",
        json={"name": "Pak Budi", "identities": [{"channel": "messenger", "external_id": PSID}]},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    page = await connect(ctx, sandbox, "messenger")
    await writes(ctx, client, sandbox, page, PSID, name="Budi Santoso")
    assert await tick(ctx, fetch_settings) == 1
    assert (await contact_of(ctx, "messenger", PSID))["name"] == "Pak Budi"


async def test_no_second_lookup_within_the_refresh_interval(
    ctx, client, sandbox, fetch_settings
) -> None:
    page = await connect(ctx, sandbox, "messenger")
    await writes(ctx, client, sandbox, page, PSID, name="Ana Lima")
    assert await tick(ctx, fetch_settings) == 1
    for n in range(3):
        await writes(ctx, client, sandbox, page, PSID, text=f"again {n}")
    assert await tick(ctx, fetch_settings) == 0
    assert len(await lookups(sandbox, PSID)) == 1
    # A customer quiet for longer than the refresh interval is looked up at their next
    # message, which brings the new name.
    await value(
        ctx, "UPDATE contact_identities SET profile_due_at = NULL, profile_not_before = now()"
    )
    await writes(ctx, client, sandbox, page, PSID, name="Ana Lima Santos", text="back again")
    assert await tick(ctx, fetch_settings) == 1
    assert (await contact_of(ctx, "messenger", PSID))["name"] == "Ana Lima Santos"
    assert len(await lookups(sandbox, PSID)) == 2


async def test_a_quiet_customer_is_not_refreshed_on_schedule(
    ctx, client, sandbox, fetch_settings
) -> None:
    page = await connect(ctx, sandbox, "messenger")
    await writes(ctx, client, sandbox, page, PSID)
    await value(ctx, "UPDATE conversations SET last_inbound_at = now() - interval '8 days'")
    assert await tick(ctx, fetch_settings) == 1
    quiet = await contact_of(ctx, "messenger", PSID)
    assert quiet["name"] and quiet["profile_due_at"] is None


async def test_a_user_meta_cannot_look_up_is_left_alone_for_a_long_while(
    ctx, client, sandbox, fetch_settings
) -> None:
    page = await connect(ctx, sandbox, "messenger")
    sent = await sandbox.send_customer(page, PSID, text="hi")
    # The same webhook from someone the sandbox has no profile for (blocked, deleted...).
    stranger = "7999999999999999"
    event = sent["payload"]["entry"][0]["messaging"][0]
    event["sender"]["id"] = stranger
    await deliver(client, sent["payload"], page.app_secret)
    await drain(ctx)
    assert await tick(ctx, fetch_settings) == 1
    refused = await contact_of(ctx, "messenger", stranger)
    assert (refused["name"], refused["profile_pic_url"]) == ("", None)
    assert "Meta error 100/2018218" in refused["profile_error"]
    assert refused["profile_due_at"] is None
    assert await value(
        ctx,
        "SELECT profile_not_before > now() + interval '6 days' FROM contact_identities "
        "WHERE external_id = $1",
        stranger,
    )
    event["message"]["mid"] = "m_stranger_again"
    await deliver(client, sent["payload"], page.app_secret)
    await drain(ctx)
    assert await value(ctx, "SELECT count(*) FROM messages") == 2  # stored all the same
    assert await tick(ctx, fetch_settings) == 0
    assert len(await lookups(sandbox, stranger)) == 1


async def test_a_refused_token_marks_the_integration_and_is_retried(
    ctx, client, sandbox, fetch_settings
) -> None:
    page = await connect(ctx, sandbox, "messenger")
    await writes(ctx, client, sandbox, page, PSID)
    await sandbox.add_fault("error", token=page.access_token, code=190, times=1)
    assert await tick(ctx, fetch_settings) == 1
    failed = await contact_of(ctx, "messenger", PSID)
    assert failed["profile_error"].startswith("the page access token was refused")
    assert failed["profile_due_at"] is not None and failed["name"] == ""
    health = await rows(ctx, "SELECT health FROM integrations WHERE channel = 'messenger'")
    assert [h["health"] for h in health] == ["auth_failed"]


async def test_a_merge_keeps_the_agents_name_from_the_merged_contact(
    ctx, client, sandbox, fetch_settings, admin
) -> None:
    page = await connect(ctx, sandbox, "messenger")
    await writes(ctx, client, sandbox, page, PSID, name="Ana Lima")
    survivor = (await contact_of(ctx, "messenger", PSID))["id"]
    r = await client.post("/api/v1/contacts", json={"name": "Bu Ana (VIP)"}, headers=admin.headers)
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/v1/contacts/{survivor}/merge",
        json={"other_contact_id": r.json()["id"]},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert await tick(ctx, fetch_settings) == 1
    kept = await contact_of(ctx, "messenger", PSID)
    assert (kept["name"], kept["name_source"]) == ("Bu Ana (VIP)", "agent")


async def test_the_migration_keeps_existing_page_contact_names(fresh_dsn: str) -> None:
    """Names on Messenger / Instagram contacts before 0012 were typed by people: kept."""
    every = load_migrations()
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await migrate(conn, [m for m in every if m.version < 12])
        await conn.execute(
            """
            WITH named AS (INSERT INTO contacts (name) VALUES ('Pak Budi') RETURNING id),
                 nameless AS (INSERT INTO contacts (name) VALUES ('') RETURNING id),
                 wa AS (INSERT INTO contacts (name, phone) VALUES ('Siti', '6281234500001'))
            INSERT INTO contact_identities (channel, external_id, contact_id)
            SELECT 'messenger', '7001', id FROM named
            UNION ALL SELECT 'instagram', '8001', id FROM nameless
            """
        )
        await migrate(conn, every)
        sources = await conn.fetch("SELECT name, name_source FROM contacts ORDER BY name")
        assert [tuple(r) for r in sources] == [
            ("", "channel"),
            ("Pak Budi", "agent"),
            ("Siti", "channel"),
        ]
    finally:
        await conn.close()
