"""An email account's settings from its credentials (defaults, the SMTP login falling back to
the IMAP one, TLS "none" only on loopback) and the API's checks of the email credential
fields, per field and on the merged values (422 naming the field)."""

from __future__ import annotations

import pytest

from omnistream.channels.email.account import (
    EmailSettingsError,
    account_settings,
    smtp_settings,
    tls_problems,
)
from omnistream.integrations.schemas import clean_credentials
from omnistream.kit.enums import Channel
from omnistream.kit.errors import Unprocessable
from tests.channels.email.mailboxes import email_integration
from tests.conftest import fields, problem

MINIMAL = {
    "imap_host": "imap.example.com",
    "imap_password": "secret",
    "smtp_host": "smtp.example.com",
}


def test_unset_fields_take_the_defaults() -> None:
    found = account_settings(MINIMAL, "Help@Support.Example.com")
    assert (found.imap.port, found.imap.tls, found.imap.folder) == (993, "implicit", "INBOX")
    assert found.imap.username == "Help@Support.Example.com"
    assert (found.smtp.port, found.smtp.tls) == (587, "starttls")
    # One mailbox login serves both sides unless SMTP has its own.
    assert (found.smtp.username, found.smtp.password) == ("Help@Support.Example.com", "secret")
    assert (found.from_name, found.from_address) == ("", "Help@Support.Example.com")
    assert found.domain == "support.example.com"


def test_set_fields_win_and_ports_follow_the_tls_mode() -> None:
    values = {
        **MINIMAL,
        "imap_tls": "starttls",
        "imap_username": "imap-login",
        "imap_folder": "Support/Inbox",
        "smtp_tls": "implicit",
        "smtp_username": "smtp-login",
        "smtp_password": "smtp-secret",
        "from_name": "Acme Support",
    }
    found = account_settings(values, "help@example.com")
    assert (found.imap.port, found.imap.username, found.imap.folder) == (
        143,
        "imap-login",
        "Support/Inbox",
    )
    assert (found.smtp.port, found.smtp.username, found.smtp.password) == (
        465,
        "smtp-login",
        "smtp-secret",
    )
    assert found.from_name == "Acme Support"
    explicit = account_settings({**values, "smtp_port": 2525, "imap_port": 1143}, "h@example.com")
    assert (explicit.imap.port, explicit.smtp.port) == (1143, 2525)
    local = {**MINIMAL, "smtp_host": "127.0.0.1", "smtp_tls": "none"}
    assert smtp_settings(local, "h@example.com").port == 25


def test_missing_and_unusable_values_name_the_field() -> None:
    for absent in ("imap_host", "imap_password", "smtp_host"):
        values = {k: v for k, v in MINIMAL.items() if k != absent}
        with pytest.raises(EmailSettingsError) as caught:
            account_settings(values, "h@example.com")
        assert (caught.value.field, caught.value.reason) == (f"credentials.{absent}", "is not set")
    for side in ("imap", "smtp"):
        with pytest.raises(EmailSettingsError) as caught:
            account_settings({**MINIMAL, f"{side}_tls": "none"}, "h@example.com")
        assert caught.value.field == f"credentials.{side}_tls"
        assert "loopback" in caught.value.reason
    with pytest.raises(EmailSettingsError) as caught:
        account_settings(MINIMAL, "not-an-address")
    assert caught.value.field == "external_id"


def test_tls_none_is_refused_for_a_host_that_is_not_loopback() -> None:
    assert tls_problems({"smtp_host": "127.0.0.1", "smtp_tls": "none"}) == []
    assert tls_problems({"imap_host": "localhost", "imap_tls": "none"}) == []
    assert tls_problems({"imap_host": "::1", "imap_tls": "none"}) == []
    assert tls_problems({"smtp_host": "mail.example.com", "smtp_tls": "starttls"}) == []
    found = tls_problems(
        {"smtp_host": "mail.example.com", "smtp_tls": "none", "imap_host": "10.0.0.5",
         "imap_tls": "none"}
    )  # fmt: skip
    assert [name for name, _ in found] == ["imap_tls", "smtp_tls"]
    assert "'mail.example.com'" in found[1][1] and "loopback" in found[1][1]
    # A name that merely resolves to loopback does not count.
    assert tls_problems({"smtp_host": "localhost.example.com", "smtp_tls": "none"})


def test_field_checks_of_the_new_email_credentials() -> None:
    clean = clean_credentials(
        Channel.EMAIL,
        {"smtp_tls": "starttls", "imap_tls": "none", "imap_folder": " INBOX ", "from_name": "Acme"},
    )
    assert clean == {
        "smtp_tls": "starttls",
        "imap_tls": "none",
        "imap_folder": "INBOX",
        "from_name": "Acme",
    }
    with pytest.raises(Unprocessable) as caught:
        clean_credentials(
            Channel.EMAIL,
            {"smtp_tls": "ssl", "imap_tls": 3, "from_name": "Acme\r\nBcc: x@evil.test",
             "imap_folder": "a\nb"},
        )  # fmt: skip
    assert {e["field"] for e in caught.value.errors or []} == {
        "credentials.smtp_tls",
        "credentials.imap_tls",
        "credentials.from_name",
        "credentials.imap_folder",
    }


# Through the API (the merged values) ----------------------------------------------------------


async def test_tls_none_with_a_remote_host_is_a_422_naming_the_field(client, ctx, admin) -> None:
    account = await email_integration(ctx, {**MINIMAL, "smtp_tls": "starttls"}, active=False)
    url = f"/api/v1/integrations/{account.integration_id}"
    r = await client.patch(url, json={"credentials": {"smtp_tls": "none"}}, headers=admin.headers)
    body = problem(r, 422)
    assert fields(body) == {"credentials.smtp_tls"}
    assert "loopback" in body["errors"][0]["message"]
    # Host and mode changed together to loopback: accepted.
    r = await client.patch(
        url,
        json={"credentials": {"smtp_tls": "none", "smtp_host": "127.0.0.1"}},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["credentials"]["smtp_tls"] == "none"
    # Moving the host away from loopback while the mode stays "none": the mode is named.
    r = await client.patch(
        url, json={"credentials": {"smtp_host": "smtp.example.com"}}, headers=admin.headers
    )
    assert fields(problem(r, 422)) == {"credentials.smtp_tls"}
    # IMAP's default mode is implicit: "none" must be asked for, and is refused the same way.
    r = await client.patch(url, json={"credentials": {"imap_tls": "none"}}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"credentials.imap_tls"}
    r = await client.patch(url, json={"credentials": {"smtp_tls": "tls"}}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"credentials.smtp_tls"}


async def test_required_email_fields_for_activation(client, ctx, admin) -> None:
    account = await email_integration(ctx, {"smtp_host": "smtp.example.com"}, active=False)
    url = f"/api/v1/integrations/{account.integration_id}"
    got = (await client.get(url, headers=admin.headers)).json()
    assert got["missing_credentials"] == ["imap_host", "imap_password"]
    assert got["credentials"]["imap_folder"] is None and got["credentials"]["imap_password"] == {
        "set": False
    }
    r = await client.patch(url, json={"is_active": True}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"credentials.imap_host", "credentials.imap_password"}


def test_backfill_days_default_to_seven_and_zero_counts() -> None:
    assert account_settings(MINIMAL, "h@example.com").imap.backfill_days == 7
    for days in (0, 30, 3650):
        values = {**MINIMAL, "imap_backfill_days": days}
        assert account_settings(values, "h@example.com").imap.backfill_days == days
    for stored in ("seven", 3651, -1, True):  # only reachable by editing the table
        with pytest.raises(EmailSettingsError) as caught:
            account_settings({**MINIMAL, "imap_backfill_days": stored}, "h@example.com")
        assert caught.value.field == "credentials.imap_backfill_days"
    raw = {"imap_backfill_days": " 14 "}  # a number may come as text from a form
    assert clean_credentials(Channel.EMAIL, raw) == {"imap_backfill_days": 14}
    assert clean_credentials(Channel.EMAIL, {"imap_backfill_days": 0}) == {"imap_backfill_days": 0}
    assert clean_credentials(Channel.EMAIL, {"imap_backfill_days": ""}) == {
        "imap_backfill_days": None  # cleared: the default again
    }
    for bad in (-1, 3651, "seven", "1e3", "٣", True, 7.5, [7]):
        with pytest.raises(Unprocessable) as refused:
            clean_credentials(Channel.EMAIL, {"imap_backfill_days": bad})
        assert [e["field"] for e in refused.value.errors or []] == [
            "credentials.imap_backfill_days"
        ], bad


async def test_backfill_days_through_the_api(client, ctx, admin) -> None:
    account = await email_integration(ctx, MINIMAL, active=False)
    url = f"/api/v1/integrations/{account.integration_id}"
    got = (await client.get(url, headers=admin.headers)).json()
    assert got["credentials"]["imap_backfill_days"] is None  # unset: 7 days
    r = await client.patch(
        url, json={"credentials": {"imap_backfill_days": 0}}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["credentials"]["imap_backfill_days"] == 0  # 0 is a value, not "unset"
    for bad in (4000, -3, "a week"):
        r = await client.patch(
            url,
            json={"name": "Renamed", "credentials": {"imap_backfill_days": bad}},
            headers=admin.headers,
        )
        body = problem(r, 422)
        assert fields(body) == {"credentials.imap_backfill_days"}
        assert "0 to 3650" in body["errors"][0]["message"]
    got = (await client.get(url, headers=admin.headers)).json()
    assert (got["name"], got["credentials"]["imap_backfill_days"]) == ("Support mailbox", 0)
