"""Email integrations through the API (issue 16): created with the mailbox's IMAP and SMTP
settings, passwords sealed and never returned, the mailbox address as the account, the
credential rules as 422s naming the field (nothing written), and the connection test against
a real Dovecot and aiosmtpd on loopback naming the side and step that failed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from omnistream.integrations.credentials import unseal
from omnistream.kit.enums import Channel
from tests.channels.email.dovecot import Dovecot, MailUser
from tests.channels.email.smtp_server import (
    TEST_PASSWORD,
    TEST_USER,
)
from tests.conftest import Agent, fields, problem

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
INTEGRATIONS = "/api/v1/integrations"
REMOTE = {
    "imap_host": "imap.example.com",
    "imap_password": "imap secret 81f2 ",
    "smtp_host": "smtp.example.com",
}


async def create(client: httpx.AsyncClient, admin: Agent, credentials: dict[str, Any]) -> Any:
    return await client.post(
        INTEGRATIONS,
        json={"channel": "email", "name": "Support mailbox", "credentials": credentials},
        headers=admin.headers,
    )


async def test_a_mailbox_is_connected_through_the_api(
    client, ctx, admin: Agent, private, dovecot: Dovecot, mail_user: MailUser, smtp
) -> None:
    values = {
        "imap_host": dovecot.host,
        "imap_port": dovecot.port,
        "imap_tls": "none",  # loopback only
        "imap_username": mail_user.name,
        "imap_password": mail_user.password,
        "smtp_host": smtp.host,
        "smtp_port": str(smtp.port),  # a port may come as text from a form
        "smtp_tls": "none",
        "smtp_username": TEST_USER,
        "smtp_password": TEST_PASSWORD,
        "from_name": "Acme Support",
    }
    r = await create(client, admin, values)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["credentials"]["imap_password"] == {"set": True}
    assert created["credentials"]["smtp_password"] == {"set": True}
    assert created["credentials"]["smtp_port"] == smtp.port
    assert created["missing_credentials"] == [] and created["is_active"] is True
    integration_id = created["id"]
    got = await client.get(f"{INTEGRATIONS}/{integration_id}", headers=admin.headers)
    for text in (r.text, got.text):
        assert mail_user.password not in text and TEST_PASSWORD not in text
    async with ctx.pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT credentials_json FROM integrations WHERE id = $1", created["id"]
        )
    assert stored["imap_password"].startswith("v1.") and stored["smtp_password"].startswith("v1.")
    assert mail_user.password not in str(stored)
    opened = unseal(ctx.box, Channel.EMAIL, created["id"], stored)
    assert opened == {**values, "smtp_port": smtp.port}

    # The account is the mailbox's address (compared in lower case); the test needs one.
    r = await client.post(f"{INTEGRATIONS}/{integration_id}/test", headers=admin.headers)
    assert "mailbox address" in problem(r, 409)["detail"]
    accounts = f"{INTEGRATIONS}/{integration_id}/accounts"
    for bad in ("support", "sup port@example.com"):
        r = await client.post(accounts, json={"external_id": bad}, headers=admin.headers)
        assert fields(problem(r, 422)) == {"external_id"}
    r = await client.post(
        accounts, json={"external_id": " Support@Omnistream.Test "}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    assert (r.json()["external_id"], r.json()["is_default"]) == ("support@omnistream.test", True)

    r = await client.post(f"{INTEGRATIONS}/{integration_id}/test", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["ok"], r.json()["health"]) == (True, "ok"), r.json()
    assert f"IMAP {dovecot.host} (folder INBOX) and SMTP {smtp.host}" in r.json()["detail"]

    # A wrong SMTP password: the test names the side and step, records the health.
    r = await client.patch(
        f"{INTEGRATIONS}/{integration_id}",
        json={"credentials": {"smtp_password": "not-it"}},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"{INTEGRATIONS}/{integration_id}/test", headers=admin.headers)
    assert (r.json()["ok"], r.json()["health"]) == (False, "auth_failed")
    assert r.json()["detail"].startswith("SMTP auth failed: 535"), r.json()
    assert "not-it" not in r.text
    got = (await client.get(f"{INTEGRATIONS}/{integration_id}", headers=admin.headers)).json()
    assert (got["health"], got["health_error"][:16]) == ("auth_failed", "SMTP auth failed")
    # Cleared SMTP password: the SMTP login falls back to IMAP's (refused by aiosmtpd).
    r = await client.patch(
        f"{INTEGRATIONS}/{integration_id}",
        json={"credentials": {"smtp_password": None, "smtp_username": None, "imap_folder": "Nope"}},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"{INTEGRATIONS}/{integration_id}/test", headers=admin.headers)
    detail = r.json()["detail"]
    assert detail.startswith("IMAP folder failed") and "; SMTP auth failed: 535" in detail
    assert r.json()["health"] == "misconfigured" and mail_user.password not in detail


async def test_credential_rules_name_the_field_and_write_nothing(client, ctx, admin: Agent) -> None:
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({**REMOTE, "smtp_port": 70000}, {"credentials.smtp_port"}),
        ({**REMOTE, "imap_port": "imap"}, {"credentials.imap_port"}),
        (
            {**REMOTE, "imap_tls": "ssl", "smtp_tls": "tls"},
            {"credentials.imap_tls", "credentials.smtp_tls"},
        ),
        ({**REMOTE, "imap_tls": "none"}, {"credentials.imap_tls"}),  # not a loopback host
        ({**REMOTE, "smtp_host": "10.0.0.5", "smtp_tls": "none"}, {"credentials.smtp_tls"}),
        ({**REMOTE, "imap_folder": "INBOX\r\nA1 DELETE INBOX"}, {"credentials.imap_folder"}),
        ({**REMOTE, "smtp_host": "smtp example com"}, {"credentials.smtp_host"}),
        ({**REMOTE, "pop3_host": "pop.example.com"}, {"credentials.pop3_host"}),
        ({"smtp_host": "smtp.example.com"}, {"credentials.imap_host", "credentials.imap_password"}),
    ]
    for credentials, expected in cases:
        r = await create(client, admin, credentials)
        assert fields(problem(r, 422)) == expected, (credentials, r.text)
        assert "imap secret" not in r.text
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM integrations") == 0
    # A draft may lack fields; activating it names them.
    r = await client.post(
        INTEGRATIONS,
        json={
            "channel": "email",
            "name": "Draft",
            "is_active": False,
            "credentials": {"smtp_host": "smtp.example.com"},
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["missing_credentials"] == ["imap_host", "imap_password"]
    url = f"{INTEGRATIONS}/{draft['id']}"
    r = await client.patch(url, json={"is_active": True}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"credentials.imap_host", "credentials.imap_password"}
    # The rule holds on the merged values: a change of one field alone is checked too.
    r = await client.patch(url, json={"credentials": {"smtp_tls": "none"}}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"credentials.smtp_tls"}
    got = (await client.get(url, headers=admin.headers)).json()
    assert got["credentials"].get("smtp_tls") is None and got["is_active"] is False
    r = await client.patch(
        url, json={"credentials": {**REMOTE}, "is_active": True}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert (r.json()["is_active"], r.json()["missing_credentials"]) == (True, [])
