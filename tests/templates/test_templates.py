"""WhatsApp templates end to end against the Graph API sandbox over real HTTP: sync across
pages (on demand and the worker's tick), re-sync updates and removals, Graph errors, the
status webhook through POST /webhooks/meta and the inbound tick, list / filter / detail.
Template sends: tests/templates/test_templates_send.py (it shares the helpers here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx

from omnistream.context import AppContext
from omnistream.sandbox.webhooks import serialize
from omnistream.templates import graph
from omnistream.templates.components import row_of, spec_of, status_of
from tests.conftest import Actors, Agent, problem
from tests.inbound.test_inbound_support import (
    Account,
    _fresh_secrets,  # noqa: F401 - autouse
    audits,
    deliver,
    drain,
    integration,
    one,
    rows,
    value,
)
from tests.private_urls import private_fixture  # noqa: F401 - also for the modules importing it
from tests.sandbox_fixture import Sandbox, SandboxAccount, sandbox_fixture  # noqa: F401

ANA = "16505551234"
SEND = "template.parameters."


async def connect(ctx: AppContext, sandbox: Sandbox) -> tuple[SandboxAccount, Account]:
    """A sandbox WhatsApp account and an integration (its WABA) pointing at the sandbox."""
    remote = await sandbox.register_account("whatsapp")
    (local,) = await integration(
        ctx,
        "whatsapp",
        [remote.external_id],
        app_secret=remote.app_secret,
        access_token=remote.access_token,
        base_url=sandbox.url,
    )
    await value(
        ctx,
        "UPDATE integrations SET credentials_json = credentials_json || "
        "jsonb_build_object('waba_id', $2::text) WHERE id = $1",
        local.integration_id,
        remote.waba_id,
    )
    return remote, local


async def sync(client: httpx.AsyncClient, agent: Agent, account: Account) -> httpx.Response:
    url = f"/api/v1/integrations/{account.integration_id}/templates/sync"
    return await client.post(url, headers=agent.headers)


async def synced(client: httpx.AsyncClient, agent: Agent, account: Account) -> dict[str, Any]:
    r = await sync(client, agent, account)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def template(ctx: AppContext, name: str, language: str = "en_US") -> Any:
    return await one(
        ctx, "SELECT * FROM wa_templates WHERE name = $1 AND language = $2", name, language
    )


async def clear_sandbox_templates(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient() as http:
        (await http.delete(f"{sandbox.url}/_sandbox/templates")).raise_for_status()


# Sync -------------------------------------------------------------------------------------


async def test_sync_reads_every_page(ctx, client, admin, sandbox, private, monkeypatch) -> None:
    remote, account = await connect(ctx, sandbox)
    for i in range(45):  # with the 8 defaults: 53 templates, 6 pages of 10
        await sandbox.add_template(
            f"bulk_{i:02d}", components=[{"type": "BODY", "text": "Hi {{1}}"}]
        )
    monkeypatch.setattr(graph, "PAGE_SIZE", 10)
    result = await synced(client, admin, account)
    assert {k: result[k] for k in ("added", "updated", "removed", "unchanged", "total")} == {
        "added": 53, "updated": 0, "removed": 0, "unchanged": 0, "total": 53,
    }  # fmt: skip
    calls = await sandbox.requests(path=f"/{remote.waba_id}/message_templates", method="GET")
    assert len(calls) == 6
    assert calls[0]["query"] == {"limit": "10"} and "after" in calls[5]["query"]
    assert calls[0]["headers"]["authorization"] == f"Bearer {remote.access_token}"
    assert await value(ctx, "SELECT count(*) FROM wa_templates") == 53
    order = await template(ctx, "order_update")
    assert [order[k] for k in ("header_type", "category", "status")] == ["IMAGE", "UTILITY", "APPROVED"]  # fmt: skip
    assert order["body_text"] == "Hi {{1}}, your order {{2}} has shipped."
    assert order["components_json"][2]["type"] == "BUTTONS" and order["external_id"]
    hello = await template(ctx, "hello_world")
    assert hello["header_type"] == "TEXT" and hello["footer_text"].startswith("WhatsApp Business")
    assert (await template(ctx, "welcome_offer"))["parameter_format"] == "NAMED"
    # Events (admins and supervisors) and the activity log of the admin's sync.
    (event,) = await rows(ctx, "SELECT * FROM event_outbox WHERE type = 'template.synced'")
    assert event["audience"] == [] and event["data"]["added"] == 53
    assert event["data"]["trigger"] == "admin" and event["actor"]["id"] == str(admin.id)
    (log,) = await rows(ctx, "SELECT * FROM activity_logs WHERE action = 'sync_templates'")
    assert log["target_id"] == account.integration_id and log["metadata_json"]["added"] == 53
    # Again at once: nothing changed.
    again = await synced(client, admin, account)
    assert (again["added"], again["updated"], again["removed"], again["unchanged"]) == (0, 0, 0, 53)


async def test_resync_updates_and_marks_removed(ctx, client, admin, sandbox, private) -> None:
    _, account = await connect(ctx, sandbox)
    await synced(client, admin, account)
    kept = [t for t in await sandbox.templates() if t["name"] != "old_promo"]
    await clear_sandbox_templates(sandbox)
    for t in kept:
        fields_ = {
            k: t[k]
            for k in ("language", "category", "status", "parameter_format", "components", "id")
        }
        if t["name"] == "summer_sale":
            fields_["status"] = "APPROVED"
        if t["name"] == "hello_world":
            fields_["components"] = [{"type": "BODY", "text": "Hello again {{1}}"}]
        await sandbox.add_template(t["name"], **fields_)
    result = await synced(client, admin, account)
    counts = [result[k] for k in ("added", "updated", "removed", "unchanged")]
    assert counts == [0, 2, 1, 5]
    gone = await template(ctx, "old_promo")
    assert gone["removed_at_meta"] is not None and gone["status"] == "DISABLED"  # kept
    assert (await template(ctx, "summer_sale"))["status"] == "APPROVED"
    hello = await template(ctx, "hello_world")
    assert hello["body_text"] == "Hello again {{1}}" and hello["header_type"] is None
    updates = await rows(ctx, "SELECT data FROM event_outbox WHERE type = 'template.updated'")
    changes = {u["data"]["template"]["name"]: u["data"]["previous_status"] for u in updates}
    assert changes == {"summer_sale": "PAUSED", "hello_world": "APPROVED", "old_promo": "DISABLED"}
    # Listed again later: no longer removed.
    await sandbox.add_template("old_promo", category="MARKETING", status="DISABLED")
    result = await synced(client, admin, account)
    assert result["updated"] == 1 and (await template(ctx, "old_promo"))["removed_at_meta"] is None


async def test_graph_errors_are_reported_and_190_marks_auth_failed(
    ctx, client, admin, sandbox, private
) -> None:
    _, account = await connect(ctx, sandbox)
    await sandbox.add_fault("error", path_contains="message_templates", code=190, times=1)
    body = problem(await sync(client, admin, account), 502)
    assert body["type"] == "urn:omnistream:problem:graph-error"
    assert "access token was refused" in body["detail"] and "190" in body["detail"]
    assert body["graph_error_code"] == "190" and body["integration_auth_failed"] is True
    health = await one(ctx, "SELECT health, health_error FROM integrations")
    assert health["health"] == "auth_failed" and "190" in health["health_error"]
    attempt = await one(ctx, "SELECT * FROM wa_template_syncs")
    assert attempt["succeeded_at"] is None and attempt["error"].startswith("190:")
    (log,) = await rows(
        ctx, "SELECT metadata_json FROM activity_logs WHERE action = 'sync_templates'"
    )
    assert log["metadata_json"]["ok"] is False and log["metadata_json"]["error_code"] == "190"
    await value(
        ctx, 'UPDATE integrations SET credentials_json = credentials_json || \'{"waba_id": "999"}\''
    )
    body = problem(await sync(client, admin, account), 502)
    assert "check waba_id" in body["detail"] and body["integration_auth_failed"] is False
    assert await value(ctx, "SELECT count(*) FROM wa_templates") == 0


async def test_only_admins_sync(client, actors: Actors, ctx, sandbox) -> None:
    _, account = await connect(ctx, sandbox)
    for role in ("agent", "supervisor"):
        agent = await actors.make(role)
        assert problem(await sync(client, agent, account), 403)["type"].endswith("forbidden")
        assert (await client.get("/api/v1/templates", headers=agent.headers)).status_code == 200


# Status webhook ---------------------------------------------------------------------------


async def test_status_update_webhook_moves_the_status(ctx, client, admin, sandbox, private) -> None:
    remote, account = await connect(ctx, sandbox)
    await synced(client, admin, account)
    components = [{"type": "BODY", "text": "Welcome and congratulations!!"}]
    await sandbox.add_template("hello_world", status="PAUSED", components=components)
    (hook,) = await sandbox.wait_webhooks(1, kind="template_status", delivered=False)
    raw = serialize(hook["payload"])  # the exact bytes the sandbox signed
    assert hook["signature"].startswith("sha256=")
    await deliver(client, raw, remote.app_secret)
    assert await drain(ctx) == 1
    hello = await template(ctx, "hello_world")
    assert hello["status"] == "PAUSED" and hello["body_text"].startswith("Welcome and")
    (audit,) = await audits(ctx)
    assert (audit["status"], audit["error"]) == ("processed", None)
    (event,) = await rows(ctx, "SELECT * FROM event_outbox WHERE type = 'template.updated'")
    assert event["data"]["previous_status"] == "APPROVED" and event["audience"] == []
    assert event["data"]["template"]["status"] == "PAUSED"
    # The same webhook again changes nothing; an older one (before the status we hold) neither.
    await deliver(client, raw, remote.app_secret)
    value_ = hook["payload"]["entry"][0]["changes"][0]["value"]
    older = {"object": "whatsapp_business_account", "entry": [{
        "id": remote.waba_id, "time": int(datetime.now(UTC).timestamp()) - 3600,
        "changes": [{"field": "message_template_status_update", "value": {**value_, "event": "APPROVED"}}],
    }]}  # fmt: skip
    await deliver(client, older, remote.app_secret)
    await drain(ctx)
    assert (await template(ctx, "hello_world"))["status"] == "PAUSED"
    assert (
        await value(ctx, "SELECT count(*) FROM event_outbox WHERE type = 'template.updated'") == 1
    )
    # One system activity entry (no agent) for the one change; none for the repeats.
    (log,) = await rows(ctx, "SELECT * FROM activity_logs WHERE action = 'template_status_changed'")
    assert log["agent_id"] is None and log["target_id"] == hello["id"]
    assert log["target_type"] == "template"
    meta = log["metadata_json"]
    assert (meta["previous_status"], meta["status"], meta["event"]) == (
        "APPROVED",
        "PAUSED",
        "PAUSED",
    )
    # Deleted at Meta (matched by name + language; en-US as webhooks write it); then unknown.
    gone = {**value_, "event": "DELETED", "message_template_language": "en-US"}
    del gone["message_template_id"]
    unknown = {**value_, "message_template_id": 42, "message_template_name": "brand_new"}
    for change in (gone, unknown):
        await deliver(client, {"object": "whatsapp_business_account", "entry": [{
            "id": remote.waba_id, "changes": [{"field": "message_template_status_update", "value": change}],
        }]}, remote.app_secret)  # fmt: skip
    await drain(ctx)
    assert (await template(ctx, "hello_world"))["removed_at_meta"] is not None
    changes = await rows(
        ctx,
        "SELECT metadata_json FROM activity_logs WHERE action = 'template_status_changed' "
        "ORDER BY created_at",
    )
    assert [(c["metadata_json"]["event"], c["metadata_json"]["removed"]) for c in changes] == [
        ("PAUSED", False), ("DELETED", True)
    ]  # fmt: skip
    last = (await audits(ctx))[-1]
    assert last["status"] == "processed" and "brand_new (en_US) is not synced yet" in last["error"]


# List and detail --------------------------------------------------------------------------


async def test_list_filters_pages_and_detail(ctx, client, admin, actors, sandbox, private) -> None:
    _, account = await connect(ctx, sandbox)
    await synced(client, admin, account)
    agent = await actors.make("agent")

    async def names(query: str) -> list[str]:
        r = await client.get(f"/api/v1/templates?{query}", headers=agent.headers)
        assert r.status_code == 200, r.text
        return [f"{t['name']}/{t['language']}" for t in r.json()["items"]]

    assert await names("status=PAUSED") == ["summer_sale/en_US"]
    assert await names("category=MARKETING&status=APPROVED") == ["welcome_offer/en_US"]
    assert await names("language=pt_BR") == ["order_update/pt_BR"]
    assert await names("q=ORDER") == ["order_update/en_US", "order_update/pt_BR"]
    assert await names(f"integration_id={account.integration_id}&q=_%25") == []
    seen, cursor = [], ""
    while True:
        r = await client.get(f"/api/v1/templates?limit=3{cursor}", headers=agent.headers)
        page = r.json()
        seen += [t["name"] for t in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert len(seen) == 8 and seen == sorted(seen)
    order = await template(ctx, "order_update")
    r = await client.get(f"/api/v1/templates/{order['id']}", headers=agent.headers)
    detail = r.json()
    assert detail["components"][0] == {"type": "HEADER", "format": "IMAGE"}
    assert detail["parameters"] == {
        "format": "positional",
        "header": {"type": "image", "required": True, "name": None, "media_example_url": None},
        "body": [
            {"name": "1", "placeholder": "{{1}}", "example": None},
            {"name": "2", "placeholder": "{{2}}", "example": None},
        ],
        "buttons": [
            {"index": 0, "type": "QUICK_REPLY", "text": "Track", "sub_type": "quick_reply",
             "parameter": "optional", "takes": "payload", "url": None},
            {"index": 1, "type": "URL", "text": "Open", "sub_type": "url", "parameter": "required",
             "takes": "URL suffix", "url": "https://example.com/o/{{1}}"},
        ],
        "sendable": True,
        "not_sendable_because": None,
    }  # fmt: skip
    offer = (
        await client.get(
            f"/api/v1/templates/{(await template(ctx, 'welcome_offer'))['id']}",
            headers=agent.headers,
        )
    ).json()
    assert offer["parameters"]["format"] == "named"
    assert [p["placeholder"] for p in offer["parameters"]["body"]] == ["{{name}}", "{{discount}}"]
    code = (
        await client.get(
            f"/api/v1/templates/{(await template(ctx, 'login_code'))['id']}", headers=agent.headers
        )
    ).json()
    assert code["parameters"]["buttons"][0]["takes"] == "one-time code"
    paused = (
        await client.get(
            f"/api/v1/templates/{(await template(ctx, 'summer_sale'))['id']}", headers=agent.headers
        )
    ).json()
    assert (
        paused["parameters"]["sendable"] is False
        and "PAUSED" in paused["parameters"]["not_sendable_because"]
    )
    missing = await client.get(f"/api/v1/templates/{UUID(int=1)}", headers=agent.headers)
    assert problem(missing, 404)


# Reading Meta's template objects (pure) ------------------------------------------------------


def test_buttons_statuses_and_unsupported_shapes_are_read() -> None:
    buttons = [
        {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550100001"},
        {"type": "URL", "text": "Site", "url": "https://example.com"},
        {"type": "COPY_CODE", "example": "SAVE20"},
        {"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"},
        {"type": "FLOW", "text": "Book"},
    ]
    spec = spec_of([{"type": "BODY", "text": "{{2}} then {{1}}, {{1}}"},
                    {"type": "BUTTONS", "buttons": buttons}], "POSITIONAL")  # fmt: skip
    assert spec.body_params == ("1", "2") and not spec.header_needs and spec.unsupported is None
    assert [(b.sub_type, b.parameter) for b in spec.buttons] == [
        (None, "none"), (None, "none"), ("copy_code", "required"), ("url", "required"),
        ("flow", "optional"),
    ]  # fmt: skip
    carousel = spec_of([{"type": "BODY", "text": "x"}, {"type": "CAROUSEL", "cards": []}], "NAMED")
    assert carousel.unsupported == "it has a carousel component"
    assert [status_of(s) for s in ("APPROVED", "REINSTATED", "IN_APPEAL", "LIMIT_EXCEEDED")] == [
        "APPROVED", "APPROVED", "PENDING", "DISABLED",
    ]  # fmt: skip
    assert (
        status_of("DELETED") is None
        and row_of({"name": "x", "language": "en", "status": "ARCHIVED"}) is None
    )
    row = row_of({"name": "promo", "language": "en-US", "status": "IN_APPEAL", "category": "OTP",
                  "components": [{"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["https://x/a.jpg"]}},
                                 {"type": "BODY", "text": "Hi {{first_name}}"}]})  # fmt: skip
    assert row is not None and (row.language, row.category, row.status) == (
        "en_US",
        "AUTHENTICATION",
        "PENDING",
    )
    assert (row.status_reason, row.parameter_format, row.header_media_url) == (
        "IN_APPEAL",
        "NAMED",
        "https://x/a.jpg",
    )
