"""The campaigns API: drafts checked against the template, who may manage which, editing
only before the start, the status machine, CSV and contacts audiences, stats, recipients,
and the CSV export (the opt-out list: test_opt_outs.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.conversations.visibility import Scope
from omnistream.kit.enums import Role
from tests.campaigns.support import create, csv_of, numbers, start, upload, whatsapp
from tests.conftest import fields, problem
from tests.sandbox_fixture import Sandbox, sandbox_fixture  # noqa: F401
from tests.templates.test_templates import private_fixture, template  # noqa: F401

BASE = "/api/v1/campaigns"


async def division(ctx: AppContext, name: str) -> UUID:
    async with ctx.pool.acquire() as conn:
        found: UUID = await conn.fetchval(
            "INSERT INTO divisions (name) VALUES ($1) RETURNING id", name
        )
    return found


async def fetch(ctx: AppContext, sql: str, *args: Any) -> list[Any]:
    async with ctx.pool.acquire() as conn:
        return list(await conn.fetch(sql, *args))


async def test_a_draft_is_checked_against_its_template(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings
) -> None:
    _, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    body = {
        "name": "Promo",
        "integration_account_id": str(account_id),
        "template_id": str(template_id),
    }
    # Both variables missing, each named.
    r = problem(await client.post(BASE, json=body, headers=admin.headers), 422)
    assert fields(r) == {"variables.name", "variables.discount"}
    r = problem(
        await client.post(
            BASE,
            json={
                **body,
                "variables": {
                    "name": {"column": "name"},
                    "discount": {"value": "5%"},
                    "extra": {"value": "x"},
                },
            },
            headers=admin.headers,
        ),
        422,
    )
    assert fields(r) == {"variables.extra"}
    both = {"name": {"value": "a", "column": "b"}, "discount": {"value": "5%"}}
    r = problem(
        await client.post(BASE, json={**body, "variables": both}, headers=admin.headers), 422
    )
    assert any(f.startswith("variables.name") for f in fields(r))
    # A template that is not approved, and one of another integration.
    paused = await template(ctx, "summer_sale")
    r = problem(
        await client.post(
            BASE, json={**body, "template_id": str(paused["id"])}, headers=admin.headers
        ),
        422,
    )
    assert fields(r) == {"template_id"} and "PAUSED" in r["detail"]
    r = problem(
        await client.post(BASE, json={**body, "template_id": str(uuid4())}, headers=admin.headers),
        422,
    )
    assert fields(r) == {"template_id"}
    r = problem(
        await client.post(
            BASE, json={**body, "integration_account_id": str(uuid4())}, headers=admin.headers
        ),
        422,
    )
    assert fields(r) == {"integration_account_id"}
    assert await fetch(ctx, "SELECT 1 FROM campaigns") == []
    created = await create(client, admin, account_id, template_id)
    assert created["status"] == "draft" and created["template_name"] == "welcome_offer"
    assert created["counts"]["total"] == 0
    # The preview renders a column as the recipient's value.
    r = await client.post(
        f"{BASE}/preview",
        json={
            "template_id": str(template_id),
            "variables": created["variables"],
            "row": {"name": "Ana"},
        },
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["text"] == "Hi Ana, enjoy 20% off your next order!"
    activity = await fetch(ctx, "SELECT action FROM activity_logs WHERE target_type = 'campaign'")
    assert [a["action"] for a in activity] == ["create_campaign"]


async def test_agents_are_refused_and_supervisors_manage_their_divisions_only(
    ctx: AppContext, client, admin, actors, sandbox: Sandbox, private: Settings
) -> None:
    _, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    sales, support = await division(ctx, "Sales"), await division(ctx, "Support")
    agent = await actors.make("agent", divisions=[sales])
    boss = await actors.make("supervisor", divisions=[sales])
    other = await actors.make("supervisor", divisions=[support])
    theirs = await create(client, admin, account_id, template_id, division_id=str(sales))
    mine = await create(client, admin, account_id, template_id)
    for method, path in (
        ("GET", BASE),
        ("POST", BASE),
        ("GET", f"{BASE}/{theirs['id']}"),
        ("POST", f"{BASE}/{theirs['id']}/pause"),
        ("GET", f"{BASE}/{theirs['id']}/stats"),
        ("GET", f"{BASE}/{theirs['id']}/recipients.csv"),
        ("GET", "/api/v1/campaign-opt-outs"),
    ):
        problem(await client.request(method, path, json={}, headers=agent.headers), 403)
    listed = await client.get(BASE, headers=boss.headers)
    assert [c["id"] for c in listed.json()["items"]] == [theirs["id"]]
    assert (await client.get(f"{BASE}/{mine['id']}", headers=boss.headers)).status_code == 404
    assert (await client.get(f"{BASE}/{theirs['id']}", headers=other.headers)).status_code == 404
    # A supervisor's campaign is for one of their own divisions.
    r = problem(
        await client.post(
            BASE,
            json={
                "name": "x",
                "integration_account_id": str(account_id),
                "template_id": str(template_id),
                "variables": theirs["variables"],
                "division_id": str(support),
            },
            headers=boss.headers,
        ),
        422,
    )
    assert fields(r) == {"division_id"}
    await create(client, boss, account_id, template_id, division_id=str(sales))
    # Events reach admins and the division's supervisors, never agents or other divisions.
    events = await fetch(
        ctx, "SELECT audience FROM event_outbox WHERE type = 'campaign.created' ORDER BY seq"
    )
    assert len(events) == 3
    scopes = {
        "admin": Scope(Role.ADMIN, admin.id, frozenset()),
        "boss": Scope(Role.SUPERVISOR, boss.id, frozenset({sales})),
        "other": Scope(Role.SUPERVISOR, other.id, frozenset({support})),
        "agent": Scope(Role.AGENT, agent.id, frozenset({sales})),
    }
    seen = [{n for n, s in scopes.items() if s.can_see_any(e["audience"])} for e in events]
    assert seen == [{"admin", "boss"}, {"admin"}, {"admin", "boss"}]


async def test_editing_only_before_the_start_and_the_status_machine(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings
) -> None:
    _, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    campaign = await create(client, admin, account_id, template_id)
    one = f"{BASE}/{campaign['id']}"
    # No audience yet: nothing to start.
    r = problem(await client.post(f"{one}/schedule", json={}, headers=admin.headers), 422)
    assert fields(r) == {"audience"}
    assert (await upload(client, admin, campaign["id"], csv_of(numbers(3)))).status_code == 200
    later = datetime.now(UTC) + timedelta(hours=2)
    scheduled = await start(client, admin, campaign["id"], scheduled_at=later.isoformat())
    assert scheduled["status"] == "scheduled"
    assert datetime.fromisoformat(scheduled["scheduled_at"]) == later
    r = await client.patch(one, json={"name": "Renamed"}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    problem(await client.post(f"{one}/pause", headers=admin.headers), 409)
    problem(await client.post(f"{one}/resume", headers=admin.headers), 409)
    problem(await client.delete(one, headers=admin.headers), 409)
    # Running (as the loop would make it): no edits, pause and resume.
    await fetch(ctx, "UPDATE campaigns SET status = 'running' WHERE id = $1", UUID(campaign["id"]))
    problem(await client.patch(one, json={"name": "Again"}, headers=admin.headers), 409)
    problem(await upload(client, admin, campaign["id"], csv_of(numbers(2))), 409)
    paused = await client.post(f"{one}/pause", headers=admin.headers)
    assert paused.json()["status"] == "paused"
    assert (await client.post(f"{one}/resume", headers=admin.headers)).json()["status"] == "running"
    cancelled = (await client.post(f"{one}/cancel", headers=admin.headers)).json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
    problem(await client.post(f"{one}/resume", headers=admin.headers), 409)
    problem(await client.post(f"{one}/schedule", json={}, headers=admin.headers), 409)
    actions = [
        a["action"]
        for a in await fetch(
            ctx,
            "SELECT action FROM activity_logs WHERE target_type = 'campaign' ORDER BY created_at",
        )
    ]
    assert actions == [
        "create_campaign",
        "set_campaign_audience",
        "schedule_campaign",
        "update_campaign",
        "pause_campaign",
        "resume_campaign",
        "cancel_campaign",
    ]
    assert (await client.delete(one, headers=admin.headers)).status_code == 204
    assert await fetch(ctx, "SELECT 1 FROM campaign_recipients") == []


async def test_csv_upload_counts_rejects_and_never_writes_half_a_file(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings
) -> None:
    _, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    campaign = await create(
        client,
        admin,
        account_id,
        template_id,
        variables={"name": {"column": "name"}, "discount": {"column": "discount"}},
    )
    r = await client.post(
        "/api/v1/campaign-opt-outs", json={"phone": "+1 650 555 0003"}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    text = (
        "\ufeffPhone;Name;Discount\r\n"
        "+16505550001;Ana;10%\r\n"
        '+1 650 555 0002;"Budi; Jr";15%\r\n'
        "+16505550003;Citra;5%\r\n"  # opted out
        "12;Dewi;5%\r\n"  # invalid
        "+16505550004;Eka;\r\n"  # missing variable
        "16505550001;Ana again;10%\r\n"  # duplicate
    )
    r = await upload(client, admin, campaign["id"], text)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["rows"], report["accepted"], report["duplicates"], report["rejected_count"]) == (
        6,
        2,
        1,
        3,
    )
    assert [(x["line"], x["reason"]) for x in report["rejected"]] == [
        (4, "opted_out"),
        (5, "invalid_number"),
        (6, "missing_variable"),
    ]
    rows = await fetch(ctx, "SELECT phone, name, variables FROM campaign_recipients ORDER BY line")
    assert [(x["phone"], x["name"], x["variables"]["discount"]) for x in rows] == [
        ("16505550001", "Ana", "10%"),
        ("16505550002", "Budi; Jr", "15%"),
    ]
    # A malformed, empty or binary file, or one without a mapped column: refused, and the
    # audience recorded before is kept as it was.
    for bad, status in (
        (b'phone,name\n"+16505550001,Ana\n', 422),
        (b"", 422),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 415),
        (b"phone,name\n+16505550009,Fajar\n", 422),
    ):
        body = problem(await upload(client, admin, campaign["id"], bad), status)
        assert fields(body) == {"file"}, body
    assert len(await fetch(ctx, "SELECT 1 FROM campaign_recipients")) == 2
    missing = problem(
        await client.put(
            f"{BASE}/{campaign['id']}/audience/csv",
            data={"x": "1"},
            files={"other": ("a", b"b")},
            headers=admin.headers,
        ),
        422,
    )
    assert fields(missing) == {"file"}


async def test_an_upload_over_the_limit_is_refused_while_it_arrives(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings
) -> None:
    _, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    campaign = await create(client, admin, account_id, template_id)
    limit = ctx.settings.campaign_csv_max_bytes
    huge = b"phone,name\n" + b"+16505550001,Ana\n" * (limit // 17 + 10)
    body = problem(await upload(client, admin, campaign["id"], huge), 413)
    assert body["max_bytes"] == limit


async def test_an_audience_from_contacts_leaves_out_opted_out_numbers(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings
) -> None:
    _, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO contacts (phone, name) SELECT p, 'Buyer ' || p FROM unnest($1::text[]) p",
            numbers(5),
        )
        await conn.execute(
            "INSERT INTO contacts (email, name) VALUES ('x@example.com', 'No phone')"
        )
    await client.post(
        "/api/v1/campaign-opt-outs", json={"phone": "+" + numbers(1)[0]}, headers=admin.headers
    )
    count = await client.post(f"{BASE}/audience-count", json={}, headers=admin.headers)
    assert count.json() == {"count": 4, "opted_out": 1}
    only = await client.post(
        f"{BASE}/audience-count", json={"q": numbers(5)[4]}, headers=admin.headers
    )
    assert only.json() == {"count": 1, "opted_out": 0}
    campaign = await create(client, admin, account_id, template_id)
    r = await client.put(
        f"{BASE}/{campaign['id']}/audience/contacts", json={}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["rejected_count"]) == (4, 1)
    got = await client.get(f"{BASE}/{campaign['id']}", headers=admin.headers)
    assert got.json()["counts"]["pending"] == 4 and got.json()["audience_source"] == "contacts"
    # A column contacts do not have cannot be mapped for a contacts audience.
    reading = await create(
        client,
        admin,
        account_id,
        template_id,
        variables={"name": {"column": "city"}, "discount": {"value": "1%"}},
    )
    r = problem(
        await client.put(
            f"{BASE}/{reading['id']}/audience/contacts", json={}, headers=admin.headers
        ),
        422,
    )
    assert fields(r) == {"variables"}


async def test_stats_recipients_pages_and_the_export(
    ctx: AppContext, client, admin, sandbox: Sandbox, private: Settings
) -> None:
    _, account_id, template_id = await whatsapp(ctx, client, admin, sandbox)
    campaign = await create(client, admin, account_id, template_id)
    await upload(client, admin, campaign["id"], csv_of(numbers(7)))
    cid = UUID(campaign["id"])
    async with ctx.pool.acquire() as conn:  # outcomes as the sender and receipts write them
        await conn.execute(
            "UPDATE campaign_recipients SET status = 'read', sent_at = now(), read_at = now(), "
            "replied_at = now() WHERE campaign_id = $1 AND line IN (2, 3)",
            cid,
        )
        await conn.execute(
            "UPDATE campaign_recipients SET status = 'failed', error_code = '131026', "
            "error_message = 'undeliverable', failed_at = now() WHERE line IN (4, 5, 6)"
        )
        await conn.execute(
            "UPDATE campaign_recipients SET status = 'delivered', sent_at = now() WHERE line = 7"
        )
    stats = (await client.get(f"{BASE}/{cid}/stats", headers=admin.headers)).json()
    assert stats["counts"] == {
        "total": 7,
        "pending": 1,
        "sent": 0,
        "delivered": 1,
        "read": 2,
        "failed": 3,
        "replied": 2,
    }
    assert stats["reply_rate"] == round(2 / 3, 4) and stats["delivery_rate"] == 1.0
    assert stats["failures"] == [{"error_code": "131026", "reason": "undeliverable", "count": 3}]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "status": "failed"}
        if cursor:
            params["cursor"] = cursor
        page = (
            await client.get(f"{BASE}/{cid}/recipients", params=params, headers=admin.headers)
        ).json()
        seen += [r["line"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [4, 5, 6]
    r = await client.get(f"{BASE}/{cid}/recipients.csv", headers=admin.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text.removeprefix("\ufeff"))))
    assert [(x["line"], x["status"]) for x in rows] == [
        ("2", "read"),
        ("3", "read"),
        ("4", "failed"),
        ("5", "failed"),
        ("6", "failed"),
        ("7", "delivered"),
        ("8", "pending"),
    ]
    assert rows[2]["error_code"] == "131026" and rows[0]["phone"] == numbers(1)[0]
