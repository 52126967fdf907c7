"""Integrations API: CRUD, sealed credentials that never leak, accounts and their default,
routing conflicts, and the connection test against a real Graph API peer on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.integrations import health
from omnistream.integrations.credentials import unseal
from omnistream.integrations.health import Health, HealthOutcome, record_health
from omnistream.kit.enums import Channel
from tests.conftest import Actors, Agent, fields, problem
from tests.sandbox_fixture import Sandbox, SandboxAccount, sandbox_fixture  # noqa: F401

INTEGRATIONS = "/api/v1/integrations"
WA_SECRETS = {
    "access_token": "EAAG-wa-access-token-8c1f",
    "app_secret": "wa-app-secret-77d2",
    "verify_token": "wa-verify-token-19ab",
}
PAGE_SECRETS = {
    "page_access_token": "EAAG-page-token-4e0d",
    "app_secret": "page-app-secret-a3b9",
    "verify_token": "page-verify-token-c5e1",
}
EMAIL_SECRETS = {"smtp_password": "smtp pass 5150 ", "imap_password": "imap-pass-6061"}
EMAIL_PLAIN = {"imap_host": "imap.example.com", "smtp_host": "smtp.example.com", "smtp_port": 587}
ALL_SECRETS = [*WA_SECRETS.values(), *PAGE_SECRETS.values(), *EMAIL_SECRETS.values()]
PHONE_ID = "106540352242922"
PAGE_ID = "112233445566778"


def wa_credentials(**over: Any) -> dict[str, Any]:
    return {**WA_SECRETS, "waba_id": "102290129340398", **over}


async def scalar(ctx: AppContext, sql: str, *args: Any) -> Any:
    async with ctx.pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def make(
    client: httpx.AsyncClient,
    admin: Agent,
    channel: str = "whatsapp",
    name: str = "Main number",
    **body: Any,
) -> dict[str, Any]:
    if "credentials" not in body:
        body["credentials"] = wa_credentials() if channel == "whatsapp" else dict(PAGE_SECRETS)
    r = await client.post(
        INTEGRATIONS, json={"channel": channel, "name": name, **body}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def add_account(
    client: httpx.AsyncClient,
    admin: Agent,
    integration: dict[str, Any],
    external_id: str,
    **body: Any,
) -> httpx.Response:
    return await client.post(
        f"{INTEGRATIONS}/{integration['id']}/accounts",
        json={"external_id": external_id, **body},
        headers=admin.headers,
    )


def assert_no_secret(text: str) -> None:
    for secret in ALL_SECRETS:
        assert secret not in text and secret.strip() not in text, secret


# CRUD and credentials -----------------------------------------------------------------------


async def test_crud(client, ctx, admin: Agent) -> None:
    r = await client.post(
        INTEGRATIONS,
        json={"channel": "whatsapp", "name": "  Sales line ", "credentials": wa_credentials()},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "Sales line" and created["channel"] == "whatsapp"
    assert created["is_active"] is True
    assert created["credentials"] == {
        "access_token": {"set": True},
        "app_secret": {"set": True},
        "verify_token": {"set": True},
        "waba_id": "102290129340398",
        "api_version": None,
        "base_url": None,
    }
    assert created["missing_credentials"] == [] and created["accounts"] == []
    assert created["health"] == "unknown" and created["health_checked_at"] is None
    url = f"{INTEGRATIONS}/{created['id']}"
    got = await client.get(url, headers=admin.headers)
    assert got.status_code == 200 and got.json() == created
    r = await client.patch(
        url,
        json={"name": "Support line", "credentials": {"api_version": "v22.0"}},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Support line" and r.json()["credentials"]["api_version"] == "v22.0"
    assert r.json()["credentials"]["access_token"] == {"set": True}
    listed = (await client.get(INTEGRATIONS, headers=admin.headers)).json()
    assert [i["id"] for i in listed["items"]] == [created["id"]] and listed["next_cursor"] is None
    r = await client.delete(url, headers=admin.headers)
    assert r.status_code == 204 and r.content == b""
    problem(await client.get(url, headers=admin.headers), 404)
    problem(await client.patch(url, json={"name": "x"}, headers=admin.headers), 404)
    problem(await client.delete(url, headers=admin.headers), 404)
    assert await scalar(ctx, "SELECT count(*) FROM integrations") == 0


async def test_secrets_are_sealed_and_never_returned(client, ctx, admin: Agent) -> None:
    texts: list[str] = []
    wa = await client.post(
        INTEGRATIONS,
        json={"channel": "whatsapp", "name": "WA", "credentials": wa_credentials()},
        headers=admin.headers,
    )
    page = await client.post(
        INTEGRATIONS,
        json={"channel": "messenger", "name": "Page", "credentials": PAGE_SECRETS},
        headers=admin.headers,
    )
    mail = await client.post(
        INTEGRATIONS,
        json={
            "channel": "email",
            "name": "Mail",
            "credentials": {**EMAIL_PLAIN, **EMAIL_SECRETS},
        },
        headers=admin.headers,
    )
    texts += [wa.text, page.text, mail.text]
    assert {wa.status_code, page.status_code, mail.status_code} == {201}
    assert mail.json()["credentials"]["smtp_password"] == {"set": True}
    wa_id = wa.json()["id"]
    texts.append((await client.get(f"{INTEGRATIONS}/{wa_id}", headers=admin.headers)).text)
    texts.append((await client.get(INTEGRATIONS, headers=admin.headers)).text)
    new_token = "EAAG-rotated-token-0000"
    r = await client.patch(
        f"{INTEGRATIONS}/{wa_id}",
        json={"credentials": {"access_token": new_token}},
        headers=admin.headers,
    )
    texts.append(r.text)
    # A refused request does not echo the values it was given either.
    r = await client.post(
        INTEGRATIONS,
        json={"channel": "whatsapp", "name": "Bad", "credentials": {**WA_SECRETS, "nope": 1}},
        headers=admin.headers,
    )
    problem(r, 422)
    texts.append(r.text)
    texts.append((await client.get("/api/v1/activity", headers=admin.headers)).text)
    for text in texts:
        assert_no_secret(text)
        assert new_token not in text
    # At rest: ciphertexts only, which open to the values given.
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, channel, credentials_json FROM integrations")
        raw = await conn.fetchval(
            "SELECT string_agg(credentials_json::text, ' ') FROM integrations"
        )
        activity = await conn.fetchval(
            "SELECT string_agg(metadata_json::text, ' ') FROM activity_logs"
        )
    assert_no_secret(raw)
    assert_no_secret(activity)
    assert new_token not in raw and new_token not in activity
    opened = {}
    for row in rows:
        stored = row["credentials_json"]
        for name, value in stored.items():
            if "token" in name or "secret" in name or "password" in name:
                assert value.startswith("v1."), (name, value)
        opened[row["channel"]] = unseal(ctx.box, Channel(row["channel"]), row["id"], stored)
    assert opened["whatsapp"] == wa_credentials(access_token=new_token)
    assert opened["messenger"] == PAGE_SECRETS
    assert opened["email"] == {**EMAIL_PLAIN, **EMAIL_SECRETS}
    assert set(opened) == {"whatsapp", "messenger", "email"}
    assert page.json()["credentials"]["page_access_token"] == {"set": True}


async def test_patch_only_given_fields_and_clearing(client, ctx, admin: Agent) -> None:
    created = await make(client, admin, is_active=False)
    url = f"{INTEGRATIONS}/{created['id']}"
    r = await client.patch(
        url,
        json={"credentials": {"verify_token": None, "base_url": "https://graph.example.com/"}},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    creds = r.json()["credentials"]
    assert creds["verify_token"] == {"set": False} and creds["access_token"] == {"set": True}
    assert (
        creds["base_url"] == "https://graph.example.com" and creds["waba_id"] == "102290129340398"
    )
    assert r.json()["missing_credentials"] == ["verify_token"]
    stored = await scalar(
        ctx, "SELECT credentials_json FROM integrations WHERE id = $1", UUID(created["id"])
    )
    assert "verify_token" not in stored
    # Clearing a field that is not set, and an empty patch, change nothing.
    r = await client.patch(url, json={"credentials": {"verify_token": None}}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["credentials"] == creds
    assert (await client.patch(url, json={}, headers=admin.headers)).json()["credentials"] == creds
    # Activating needs every required field.
    r = await client.patch(url, json={"is_active": True}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"credentials.verify_token"}
    r = await client.patch(
        url,
        json={"is_active": True, "credentials": {"verify_token": "new-verify"}},
        headers=admin.headers,
    )
    assert r.status_code == 200 and r.json()["is_active"] is True
    # Clearing a required field of an active integration is refused; nothing changes.
    r = await client.patch(url, json={"credentials": {"access_token": None}}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"credentials.access_token"}
    got = (await client.get(url, headers=admin.headers)).json()
    assert got["credentials"]["access_token"] == {"set": True}
    # Deactivate and clear in one call.
    r = await client.patch(
        url, json={"is_active": False, "credentials": {"access_token": ""}}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["credentials"]["access_token"] == {"set": False}


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        ({"foo": "x"}, "credentials.foo"),
        ({"page_access_token": "x"}, "credentials.page_access_token"),  # not WhatsApp's
        ({"base_url": "ftp://graph.facebook.com"}, "credentials.base_url"),
        ({"base_url": "graph.facebook.com"}, "credentials.base_url"),
        ({"base_url": "https://user:pw@graph.facebook.com"}, "credentials.base_url"),
        ({"base_url": "https://graph.facebook.com/?a=1"}, "credentials.base_url"),
        ({"api_version": "21"}, "credentials.api_version"),
        ({"access_token": 12345}, "credentials.access_token"),
        ({"waba_id": "+1 555 0100"}, "credentials.waba_id"),
    ],
)
async def test_credential_validation(
    client, ctx, admin: Agent, credentials: dict[str, Any], field: str
) -> None:
    body = {"channel": "whatsapp", "name": "X", "is_active": False, "credentials": credentials}
    r = await client.post(INTEGRATIONS, json=body, headers=admin.headers)
    assert field in fields(problem(r, 422)) and field in r.json()["detail"]
    created = await make(client, admin, is_active=False, credentials={})
    r = await client.patch(
        f"{INTEGRATIONS}/{created['id']}", json={"credentials": credentials}, headers=admin.headers
    )
    assert field in fields(problem(r, 422))
    assert await scalar(ctx, "SELECT count(*) FROM integrations") == 1


async def test_required_fields_and_other_input_rules(client, admin: Agent) -> None:
    r = await client.post(
        INTEGRATIONS,
        json={"channel": "whatsapp", "name": "X", "credentials": {"access_token": "t"}},
        headers=admin.headers,
    )
    assert fields(problem(r, 422)) == {
        "credentials.app_secret",
        "credentials.verify_token",
        "credentials.waba_id",
    }
    r = await client.post(
        INTEGRATIONS,
        json={"channel": "email", "name": "Mail", "credentials": {}},
        headers=admin.headers,
    )
    assert fields(problem(r, 422)) == {
        "credentials.imap_host",
        "credentials.imap_password",
        "credentials.smtp_host",
    }
    for bad in (
        {"channel": "fax", "name": "X"},
        {"channel": "messenger", "name": " "},
        {"name": "X"},
    ):
        problem(await client.post(INTEGRATIONS, json=bad, headers=admin.headers), 422)
    draft = await make(client, admin, "messenger", "Draft", is_active=False, credentials={})
    assert draft["is_active"] is False
    assert draft["missing_credentials"] == ["page_access_token", "app_secret", "verify_token"]
    url = f"{INTEGRATIONS}/{draft['id']}"
    # The channel is fixed at creation.
    assert fields(
        problem(await client.patch(url, json={"channel": "whatsapp"}, headers=admin.headers), 422)
    ) == {"channel"}
    r = await client.patch(url, json={"credentials": {"api_version": "22"}}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"credentials.api_version"}
    r = await client.patch(
        url,
        json={"is_active": True, "credentials": {**PAGE_SECRETS, "api_version": "v22.0"}},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["credentials"]["api_version"] == "v22.0" and r.json()["is_active"] is True


async def test_list_filters_and_pages(client, admin: Agent) -> None:
    names = {}
    for i, (channel, active) in enumerate(
        [
            ("whatsapp", True),
            ("whatsapp", False),
            ("messenger", True),
            ("instagram", True),
            ("messenger", False),
        ]
    ):
        made = await make(client, admin, channel, f"N{i}", is_active=active)
        names[made["name"]] = (channel, active)

    async def all_names(**params: Any) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            query = {"limit": 2, **params} | ({"cursor": cursor} if cursor else {})
            r = await client.get(INTEGRATIONS, params=query, headers=admin.headers)
            assert r.status_code == 200, r.text
            assert len(r.json()["items"]) <= 2
            seen += [i["name"] for i in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return seen

    assert await all_names() == ["N0", "N1", "N2", "N3", "N4"]
    assert await all_names(channel="messenger") == ["N2", "N4"]
    assert await all_names(is_active="false") == ["N1", "N4"]
    assert await all_names(channel="whatsapp", is_active="true") == ["N0"]
    problem(await client.get(INTEGRATIONS, params={"channel": "fax"}, headers=admin.headers), 422)
    r = await client.get(INTEGRATIONS, params={"cursor": "%%%"}, headers=admin.headers)
    assert fields(problem(r, 400)) == {"cursor"}


async def test_only_admins(client, actors: Actors, admin: Agent) -> None:
    integration = await make(client, admin)
    url = f"{INTEGRATIONS}/{integration['id']}"
    account = (await add_account(client, admin, integration, PHONE_ID)).json()
    calls = [
        ("GET", INTEGRATIONS, None),
        ("POST", INTEGRATIONS, {"channel": "messenger", "name": "X", "credentials": PAGE_SECRETS}),
        ("GET", url, None),
        ("PATCH", url, {"name": "Hacked"}),
        ("DELETE", url, None),
        ("POST", f"{url}/test", None),
        ("GET", f"{url}/accounts", None),
        ("POST", f"{url}/accounts", {"external_id": "999"}),
        ("GET", f"{url}/accounts/{account['id']}", None),
        ("PATCH", f"{url}/accounts/{account['id']}", {"display_name": "Hacked"}),
        ("DELETE", f"{url}/accounts/{account['id']}", None),
    ]
    for role in ("supervisor", "agent"):
        who = await actors.make(role)
        for method, path, body in calls:
            problem(await client.request(method, path, json=body, headers=who.headers), 403)
    for method, path, body in calls:
        problem(await client.request(method, path, json=body), 401)
    got = (await client.get(url, headers=admin.headers)).json()
    assert got["name"] == "Main number" and [a["display_name"] for a in got["accounts"]] == [""]
    assert len((await client.get(INTEGRATIONS, headers=admin.headers)).json()["items"]) == 1


async def test_activity_log(client, ctx, admin: Agent) -> None:
    integration = await make(client, admin)
    url = f"{INTEGRATIONS}/{integration['id']}"
    await client.patch(
        url,
        json={"name": "Renamed", "credentials": {"access_token": "EAAG-other", "waba_id": "5"}},
        headers=admin.headers,
    )
    account = (await add_account(client, admin, integration, PHONE_ID)).json()
    await client.patch(
        f"{url}/accounts/{account['id']}", json={"send_rate_per_second": 10}, headers=admin.headers
    )
    await client.delete(f"{url}/accounts/{account['id']}", headers=admin.headers)
    await client.delete(url, headers=admin.headers)
    r = await client.get(
        "/api/v1/activity",
        params={"target_type": "integration", "target_id": integration["id"]},
        headers=admin.headers,
    )
    rows = {a["action"]: a for a in r.json()["items"]}
    assert set(rows) == {
        "create_integration",
        "update_integration",
        "create_integration_account",
        "update_integration_account",
        "delete_integration_account",
        "delete_integration",
    }
    assert all(a["agent_id"] == str(admin.id) for a in rows.values())
    assert rows["create_integration"]["metadata"]["credentials_set"] == sorted(wa_credentials())
    update = rows["update_integration"]["metadata"]
    assert update["changes"] == {"name": "Renamed"}
    assert update["credentials_set"] == ["access_token", "waba_id"]
    assert rows["update_integration_account"]["metadata"]["changes"] == {"send_rate_per_second": 10}
    assert rows["delete_integration"]["metadata"]["name"] == "Renamed"
    assert_no_secret(r.text)
    assert "EAAG-other" not in r.text


async def test_delete_keeps_conversations(client, ctx, admin: Agent) -> None:
    integration = await make(client, admin)
    account = (await add_account(client, admin, integration, PHONE_ID)).json()
    async with ctx.pool.acquire() as conn:
        contact = await conn.fetchval(
            "INSERT INTO contacts (phone) VALUES ('6281234567') RETURNING id"
        )
        conversation = await conn.fetchval(
            "INSERT INTO conversations (contact_id, channel, integration_account_id) "
            "VALUES ($1, 'whatsapp', $2) RETURNING id",
            contact,
            UUID(account["id"]),
        )
    r = await client.delete(f"{INTEGRATIONS}/{integration['id']}", headers=admin.headers)
    assert r.status_code == 204, r.text
    assert await scalar(ctx, "SELECT count(*) FROM integration_accounts") == 0
    assert await scalar(
        ctx, "SELECT integration_account_id IS NULL FROM conversations WHERE id = $1", conversation
    )
    detached = await scalar(
        ctx,
        "SELECT metadata_json->>'conversations_detached' FROM activity_logs "
        "WHERE action = 'delete_integration'",
    )
    assert detached == "1"


# Accounts -----------------------------------------------------------------------------------


async def defaults(ctx: AppContext, integration: dict[str, Any]) -> list[str]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT external_id FROM integration_accounts WHERE integration_id = $1 AND is_default",
            UUID(integration["id"]),
        )
    return [r["external_id"] for r in rows]


async def test_account_crud_and_default_rule(client, ctx, admin: Agent) -> None:
    integration = await make(client, admin)
    base = f"{INTEGRATIONS}/{integration['id']}/accounts"
    r = await add_account(client, admin, integration, " 111 ", display_name="Sales")
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["external_id"] == "111" and first["is_default"] is True  # the first is default
    assert first["send_rate_per_second"] == 80 and first["display_name"] == "Sales"
    second = (await add_account(client, admin, integration, "222")).json()
    assert second["is_default"] is False
    third = (await add_account(client, admin, integration, "333", is_default=True)).json()
    assert third["is_default"] is True and await defaults(ctx, integration) == ["333"]
    listed = (await client.get(base, headers=admin.headers)).json()
    assert [a["external_id"] for a in listed] == ["111", "222", "333"]
    got = (await client.get(f"{INTEGRATIONS}/{integration['id']}", headers=admin.headers)).json()
    assert [a["id"] for a in got["accounts"]] == [a["id"] for a in listed]
    r = await client.patch(
        f"{base}/{second['id']}", json={"is_default": True}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["is_default"] is True
    assert await defaults(ctx, integration) == ["222"]
    # The default cannot be switched off; another account must take it.
    r = await client.patch(
        f"{base}/{second['id']}", json={"is_default": False}, headers=admin.headers
    )
    assert fields(problem(r, 409)) == {"is_default"}
    r = await client.patch(
        f"{base}/{first['id']}", json={"is_default": False}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["is_default"] is False
    r = await client.patch(
        f"{base}/{first['id']}",
        json={"display_name": "Renamed", "send_rate_per_second": 1000, "external_id": "1111"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert (
        r.json()["display_name"],
        r.json()["send_rate_per_second"],
        r.json()["external_id"],
    ) == (
        "Renamed",
        1000,
        "1111",
    )
    assert (await client.get(f"{base}/{first['id']}", headers=admin.headers)).json() == r.json()
    # Deleting the default promotes the oldest other account.
    assert (await client.delete(f"{base}/{second['id']}", headers=admin.headers)).status_code == 204
    assert await defaults(ctx, integration) == ["1111"]
    assert (await client.delete(f"{base}/{first['id']}", headers=admin.headers)).status_code == 204
    assert await defaults(ctx, integration) == ["333"]
    assert (await client.delete(f"{base}/{third['id']}", headers=admin.headers)).status_code == 204
    assert await defaults(ctx, integration) == []
    problem(await client.get(f"{base}/{third['id']}", headers=admin.headers), 404)
    problem(await client.delete(f"{base}/{third['id']}", headers=admin.headers), 404)
    fresh = (await add_account(client, admin, integration, "444")).json()
    assert fresh["is_default"] is True


async def test_account_validation_and_foreign_ids(client, admin: Agent) -> None:
    integration = await make(client, admin)
    other = await make(client, admin, name="Other")
    base = f"{INTEGRATIONS}/{integration['id']}/accounts"
    for body, field in (
        ({"external_id": "+1 555 0100"}, "external_id"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "1", "send_rate_per_second": 0}, "send_rate_per_second"),
        ({"external_id": "1", "send_rate_per_second": 1001}, "send_rate_per_second"),
        ({"external_id": "1", "surprise": True}, "surprise"),
    ):
        r = await client.post(base, json=body, headers=admin.headers)
        assert fields(problem(r, 422)) == {field}, body
    account = (await add_account(client, admin, integration, PHONE_ID)).json()
    # An account is reachable only under its own integration.
    problem(
        await client.get(
            f"{INTEGRATIONS}/{other['id']}/accounts/{account['id']}", headers=admin.headers
        ),
        404,
    )
    problem(
        await client.delete(
            f"{INTEGRATIONS}/{other['id']}/accounts/{account['id']}", headers=admin.headers
        ),
        404,
    )
    problem(await client.get(f"{INTEGRATIONS}/{uuid4()}/accounts", headers=admin.headers), 404)
    problem(await add_account(client, admin, {"id": str(uuid4())}, "1"), 404)


async def test_duplicate_external_ids(client, ctx, admin: Agent) -> None:
    first = await make(client, admin, name="First")
    second = await make(client, admin, name="Second")
    page = await make(client, admin, "messenger", "Page")
    assert (await add_account(client, admin, first, PHONE_ID)).status_code == 201
    body = problem(await add_account(client, admin, first, PHONE_ID), 409)
    assert fields(body) == {"external_id"}
    body = problem(await add_account(client, admin, second, PHONE_ID), 409)
    assert fields(body) == {"external_id"} and "First" in body["detail"]
    # Another channel may use the same id: routing is per channel.
    assert (await add_account(client, admin, page, PHONE_ID)).status_code == 201
    other = (await add_account(client, admin, second, "777")).json()
    r = await client.patch(
        f"{INTEGRATIONS}/{second['id']}/accounts/{other['id']}",
        json={"external_id": PHONE_ID},
        headers=admin.headers,
    )
    assert fields(problem(r, 409)) == {"external_id"}
    # Keeping its own id is not a conflict.
    r = await client.patch(
        f"{INTEGRATIONS}/{second['id']}/accounts/{other['id']}",
        json={"external_id": "777", "display_name": "Same"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    # Concurrent claims of one new id on two integrations: exactly one wins.
    results = await asyncio.gather(
        *(add_account(client, admin, integ, "555000") for integ in (first, second) * 3)
    )
    assert sorted(r.status_code for r in results) == [201] + [409] * 5
    assert (
        await scalar(ctx, "SELECT count(*) FROM integration_accounts WHERE external_id = '555000'")
        == 1
    )


async def test_concurrent_set_default(client, ctx, admin: Agent) -> None:
    integration = await make(client, admin)
    base = f"{INTEGRATIONS}/{integration['id']}/accounts"
    accounts = [
        (await add_account(client, admin, integration, str(900 + i))).json() for i in range(6)
    ]
    for _ in range(3):
        results = await asyncio.gather(
            *(
                client.patch(f"{base}/{a['id']}", json={"is_default": True}, headers=admin.headers)
                for a in accounts
            )
        )
        assert [r.status_code for r in results] == [200] * len(accounts), [r.text for r in results]
        assert len(await defaults(ctx, integration)) == 1
    # Creating accounts concurrently keeps one default as well.
    fresh = await make(client, admin, name="Fresh")
    results = await asyncio.gather(
        *(add_account(client, admin, fresh, str(800 + i), is_default=i % 2 == 0) for i in range(6))
    )
    assert [r.status_code for r in results] == [201] * 6
    assert len(await defaults(ctx, fresh)) == 1


# Connection test ------------------------------------------------------------------------------


class OddPeer:
    """What the sandbox does not pretend to be, on loopback under uvicorn: a server that is
    not a Graph API, and one that echoes the Authorization header in its error."""

    def __init__(self) -> None:
        self.port = 0
        self.app = Starlette(
            routes=[
                Route("/echo/{version}/{node}", self.echo),
                Route("/html/{version}/{node}", self.html),
            ]
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def echo(self, request: Request) -> Response:
        said = request.headers.get("authorization", "")
        return JSONResponse({"error": {"message": f"bad header {said}", "code": 100}}, 400)

    async def html(self, request: Request) -> Response:
        return PlainTextResponse("<html>hello</html>")


@pytest.fixture(scope="session")
async def odd_peer() -> AsyncIterator[OddPeer]:
    peer = OddPeer()
    server = uvicorn.Server(
        uvicorn.Config(peer.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    peer.port = server.servers[0].sockets[0].getsockname()[1]
    yield peer
    server.should_exit = True
    await task


@pytest.fixture
def private_urls(ctx: AppContext, settings: Settings) -> Iterator[None]:
    """OMNISTREAM_ALLOW_PRIVATE_URLS=true for one test (the peers listen on loopback)."""
    ctx.settings = settings.model_copy(update={"allow_private_urls": True})
    try:
        yield
    finally:
        ctx.settings = settings


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wa_integration(
    client: httpx.AsyncClient, admin: Agent, base_url: str, token: str, phone: str, **creds: Any
) -> dict[str, Any]:
    integration = await make(
        client, admin, credentials=wa_credentials(access_token=token, base_url=base_url, **creds)
    )
    assert (await add_account(client, admin, integration, phone)).status_code == 201
    return integration


async def sandbox_wa(
    client: httpx.AsyncClient, admin: Agent, sandbox: Sandbox, token: str | None = None
) -> tuple[dict[str, Any], SandboxAccount]:
    """A sandbox WhatsApp number, registered as an integration (with `token` if given)."""
    wa = await sandbox.register_account("whatsapp", name="Acme Support")
    integration = await wa_integration(
        client,
        admin,
        sandbox.url,
        token or wa.access_token,
        wa.external_id,
        app_secret=wa.app_secret,
        waba_id=wa.waba_id,
    )
    return integration, wa


async def run_test(
    client: httpx.AsyncClient, admin: Agent, integration: dict[str, Any], *secrets: str
) -> dict[str, Any]:
    r = await client.post(f"{INTEGRATIONS}/{integration['id']}/test", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert_no_secret(r.text)
    assert not any(secret in r.text for secret in secrets)
    result: dict[str, Any] = r.json()
    assert set(result) == {"ok", "health", "detail", "checked_at"}
    got = await client.get(f"{INTEGRATIONS}/{integration['id']}", headers=admin.headers)
    assert not any(secret in got.text for secret in secrets)
    got_body = got.json()
    assert got_body["health"] == result["health"]
    assert got_body["health_checked_at"] == result["checked_at"]
    assert got_body["health_error"] == (None if result["ok"] else result["detail"])
    return result


async def test_connection_whatsapp(
    client, ctx, admin: Agent, sandbox: Sandbox, private_urls: None
) -> None:
    good, wa = await sandbox_wa(client, admin, sandbox)
    result = await run_test(client, admin, good, wa.access_token, wa.app_secret)
    assert result["ok"] is True and result["health"] == "ok"
    assert "Acme Support" in result["detail"]
    probes = await sandbox.requests(method="GET")
    assert [(p["path"], p["status"]) for p in probes] == [(f"/v21.0/{wa.external_id}", 200)]
    # Webhook-only fields do not touch the health; what the probe uses resets it.
    url = f"{INTEGRATIONS}/{good['id']}"
    r = await client.patch(url, json={"credentials": {"verify_token": "v2"}}, headers=admin.headers)
    assert r.json()["health"] == "ok"
    r = await client.patch(
        url, json={"credentials": {"api_version": "v23.0"}}, headers=admin.headers
    )
    assert r.json()["health"] == "unknown"
    # The default account's id is the one probed, with the configured version: a number the
    # token does not own is Meta's error 100.
    other = (await add_account(client, admin, good, "404404", is_default=True)).json()
    assert other["is_default"]
    result = await run_test(client, admin, good, wa.access_token)
    assert (await sandbox.requests(method="GET"))[-1]["path"] == "/v23.0/404404"
    assert result["health"] == "misconfigured" and "(Meta error 100" in result["detail"]
    # A wrong token: Meta's error 190.
    bad, _ = await sandbox_wa(client, admin, sandbox, token="EAAG-wrong-token")
    result = await run_test(client, admin, bad, "EAAG-wrong-token")
    assert (result["ok"], result["health"]) == (False, "auth_failed")
    assert "Meta error 190" in result["detail"]
    # A new token makes the stored health unknown again.
    r = await client.patch(
        f"{INTEGRATIONS}/{bad['id']}",
        json={"credentials": {"access_token": "EAAG-another"}},
        headers=admin.headers,
    )
    body = r.json()
    assert (body["health"], body["health_error"], body["health_checked_at"]) == (
        "unknown",
        None,
        None,
    )
    healths = await scalar(
        ctx,
        "SELECT array_agg(metadata_json->>'health' ORDER BY created_at) FROM activity_logs "
        "WHERE action = 'test_integration'",
    )
    assert healths == ["ok", "misconfigured", "auth_failed"]


async def test_connection_messenger_and_instagram(
    client, admin: Agent, sandbox: Sandbox, private_urls: None
) -> None:
    for channel in ("messenger", "instagram"):
        page = await sandbox.register_account(channel, name="Acme Page")
        creds = {**PAGE_SECRETS, "page_access_token": page.access_token, "base_url": sandbox.url}
        good = await make(client, admin, channel, credentials=creds)
        since = len(await sandbox.requests())
        result = await run_test(client, admin, good, page.access_token)  # no account needed
        assert result["ok"] is True and "Acme Page" in result["detail"]
        assert page.external_id in result["detail"]  # shows the id to register as account
        probes = (await sandbox.requests())[since:]
        assert [p["path"] for p in probes] == ["/v21.0/me"]
        bad = await make(
            client, admin, channel, credentials={**creds, "page_access_token": "x-bad"}
        )
        result = await run_test(client, admin, bad, "x-bad")
        assert (result["ok"], result["health"]) == (False, "auth_failed")


async def test_connection_unreachable(
    client, admin: Agent, sandbox: Sandbox, odd_peer: OddPeer, private_urls: None, monkeypatch
) -> None:
    closed = await wa_integration(client, admin, f"http://127.0.0.1:{closed_port()}", "EAAG-t", "1")
    result = await run_test(client, admin, closed)
    assert (result["ok"], result["health"]) == (False, "unreachable")
    assert "cannot connect" in result["detail"]
    broken, wa = await sandbox_wa(client, admin, sandbox)
    await sandbox.add_fault("http_500", account=wa.external_id, http_status=503, times=1)
    result = await run_test(client, admin, broken, wa.access_token)
    assert result["health"] == "unreachable" and "503" in result["detail"]
    monkeypatch.setattr(health, "PROBE_TIMEOUT_SECONDS", 0.2)
    await sandbox.add_fault("slow", account=wa.external_id, delay_ms=1500, times=1)
    result = await run_test(client, admin, broken, wa.access_token)
    assert result["health"] == "unreachable" and "0.2 s" in result["detail"]
    html = await wa_integration(client, admin, f"{odd_peer.url}/html", "EAAG-t", "4")
    result = await run_test(client, admin, html)
    assert result["health"] == "misconfigured" and "base_url" in result["detail"]
    # A server that echoes the Authorization header cannot leak the token through us.
    token = "EAAG-echo-me-9f9f"
    echo = await wa_integration(client, admin, f"{odd_peer.url}/echo", token, "5")
    result = await run_test(client, admin, echo, token)
    assert "[redacted]" in result["detail"]


async def test_private_address_is_blocked_by_default(
    client, ctx, admin: Agent, sandbox: Sandbox
) -> None:
    assert ctx.settings.allow_private_urls is False
    integration, wa = await sandbox_wa(client, admin, sandbox)
    result = await run_test(client, admin, integration, wa.access_token)
    assert (result["ok"], result["health"]) == (False, "unreachable")
    assert "private or local address" in result["detail"]
    assert await sandbox.requests() == []  # the request never left


async def test_connection_preconditions(client, ctx, admin: Agent) -> None:
    no_account = await make(client, admin)
    r = await client.post(f"{INTEGRATIONS}/{no_account['id']}/test", headers=admin.headers)
    problem(r, 409)
    no_token = await make(client, admin, "messenger", is_active=False, credentials={})
    r = await client.post(f"{INTEGRATIONS}/{no_token['id']}/test", headers=admin.headers)
    assert fields(problem(r, 409)) == {"credentials.page_access_token"}
    problem(await client.post(f"{INTEGRATIONS}/{uuid4()}/test", headers=admin.headers), 404)
    assert await scalar(ctx, "SELECT count(*) FROM integrations WHERE health <> 'unknown'") == 0


async def test_record_health_for_the_sender(client, ctx, admin: Agent) -> None:
    """The outbound sender marks an integration auth_failed when a send gets error 190."""
    integration = await make(client, admin)
    async with ctx.pool.acquire() as conn:
        outcome = HealthOutcome(Health.AUTH_FAILED, "Meta error 190: token expired")
        checked = await record_health(conn, UUID(integration["id"]), outcome)
        assert checked is not None
        assert await record_health(conn, uuid4(), outcome) is None
    got = (await client.get(f"{INTEGRATIONS}/{integration['id']}", headers=admin.headers)).json()
    assert got["health"] == "auth_failed" and got["health_error"] == "Meta error 190: token expired"
    async with ctx.pool.acquire() as conn:
        await record_health(conn, UUID(integration["id"]), HealthOutcome(Health.OK, "fine"))
    got = (await client.get(f"{INTEGRATIONS}/{integration['id']}", headers=admin.headers)).json()
    assert got["health"] == "ok" and got["health_error"] is None
