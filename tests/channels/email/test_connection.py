"""The admin's connection test of an email integration: IMAP against a real Dovecot and SMTP
against a real aiosmtpd, each failing side and step named in the recorded health; without
OMNISTREAM_ALLOW_PRIVATE_URLS, private and loopback mail servers refused by the test and by
the sender."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from omnistream.messages import worker
from tests.channels.email import test_outbound as outbound
from tests.channels.email.dovecot import Dovecot, MailUser
from tests.channels.email.mailboxes import MailAccount, credentials, email_integration, tick
from tests.conftest import Agent, problem
from tests.processes import free_port

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


async def run_test(client: httpx.AsyncClient, admin: Agent, account: MailAccount) -> Any:
    r = await client.post(
        f"/api/v1/integrations/{account.integration_id}/test", headers=admin.headers
    )
    assert r.status_code == 200, r.text
    return r.json()


def dovecot_credentials(dovecot: Dovecot, user: MailUser, smtp_port: int) -> dict[str, Any]:
    return credentials(
        smtp_port, imap_port=dovecot.port, imap_username=user.name, imap_password=user.password
    )


async def test_connection_test_against_dovecot_and_the_smtp_server(
    ctx, client, admin, smtp, private, dovecot: Dovecot, mail_user: MailUser
) -> None:
    account = await email_integration(ctx, dovecot_credentials(dovecot, mail_user, smtp.port))
    result = await run_test(client, admin, account)
    assert (result["ok"], result["health"]) == (True, "ok"), result
    assert "IMAP 127.0.0.1 (folder INBOX)" in result["detail"]
    got = (
        await client.get(f"/api/v1/integrations/{account.integration_id}", headers=admin.headers)
    ).json()
    assert (got["health"], got["health_error"]) == ("ok", None)


async def test_connection_test_names_the_failing_side_and_step(
    ctx, client, admin, smtp, private, dovecot: Dovecot, mail_user: MailUser
) -> None:
    good = dovecot_credentials(dovecot, mail_user, smtp.port)
    wrong_imap = await email_integration(
        ctx, {**good, "imap_password": "not-the-password"}, mailbox="a@omnistream.test"
    )
    result = await run_test(client, admin, wrong_imap)
    assert (result["ok"], result["health"]) == (False, "auth_failed")
    assert result["detail"].startswith("IMAP login failed"), result
    assert "not-the-password" not in result["detail"]
    smtp_down = await email_integration(
        ctx, {**good, "smtp_port": free_port()}, mailbox="b@omnistream.test"
    )
    result = await run_test(client, admin, smtp_down)
    assert (result["ok"], result["health"]) == (False, "unreachable")
    assert result["detail"].startswith("SMTP connect failed"), result
    both = await email_integration(
        ctx,
        {**good, "imap_password": "not-the-password", "smtp_port": free_port()},
        mailbox="e@omnistream.test",
    )
    result = await run_test(client, admin, both)
    assert result["health"] == "auth_failed"
    assert (
        result["detail"].startswith("IMAP login failed")
        and "; SMTP connect failed" in (result["detail"])
    )
    wrong_smtp = await email_integration(
        ctx, {**good, "smtp_password": "nope"}, mailbox="c@omnistream.test"
    )
    result = await run_test(client, admin, wrong_smtp)
    assert (result["health"], result["detail"][:16]) == ("auth_failed", "SMTP auth failed")
    no_folder = await email_integration(
        ctx, {**good, "imap_folder": "Nowhere"}, mailbox="d@omnistream.test"
    )
    result = await run_test(client, admin, no_folder)
    assert (result["health"], result["detail"][:18]) == ("misconfigured", "IMAP folder failed")
    async with ctx.pool.acquire() as conn:
        error = await conn.fetchval(
            "SELECT health_error FROM integrations WHERE id = $1", smtp_down.integration_id
        )
    assert error.startswith("SMTP connect failed")


async def test_connection_test_preconditions_for_email(ctx, client, admin) -> None:
    unset = await email_integration(ctx, {"smtp_host": "smtp.example.com"}, active=False)
    r = await client.post(
        f"/api/v1/integrations/{unset.integration_id}/test", headers=admin.headers
    )
    body = problem(r, 409)
    assert body["errors"][0]["field"] == "credentials.imap_host"
    async with ctx.pool.acquire() as conn:
        await conn.execute("DELETE FROM integration_accounts WHERE id = $1", unset.account_id)
    r = await client.post(
        f"/api/v1/integrations/{unset.integration_id}/test", headers=admin.headers
    )
    assert "mailbox address" in problem(r, 409)["detail"]


async def test_connection_test_refuses_private_addresses_unless_allowed(
    ctx, client, admin, smtp, dovecot: Dovecot, mail_user: MailUser
) -> None:
    """Without OMNISTREAM_ALLOW_PRIVATE_URLS: the loopback servers, and 10.x hosts (refused
    before any connection: no waiting for a timeout), are named per side."""
    assert not ctx.settings.allow_private_urls
    loopback = await email_integration(ctx, dovecot_credentials(dovecot, mail_user, smtp.port))
    result = await run_test(client, admin, loopback)
    assert (result["ok"], result["health"]) == (False, "unreachable")
    imap, smtp_side = result["detail"].split("; SMTP ")
    assert imap.startswith("IMAP connect failed: 127.0.0.1 resolves to 127.0.0.1"), result
    assert smtp_side.startswith("connect failed: 127.0.0.1 resolves to 127.0.0.1"), result
    assert "OMNISTREAM_ALLOW_PRIVATE_URLS" in smtp_side
    private_net = {"imap_host": "10.1.2.3", "imap_tls": "implicit", "smtp_host": "10.1.2.3"}
    lan = await email_integration(
        ctx,
        {**dovecot_credentials(dovecot, mail_user, 587), **private_net, "smtp_tls": "starttls"},
        mailbox="lan@omnistream.test",
    )
    started = time.monotonic()
    result = await run_test(client, admin, lan)
    assert time.monotonic() - started < 2
    assert "IMAP connect failed: 10.1.2.3 resolves to 10.1.2.3" in result["detail"]
    assert "SMTP connect failed: 10.1.2.3 resolves to 10.1.2.3" in result["detail"]


async def test_the_sender_refuses_a_private_smtp_server_unless_allowed(
    ctx, client, admin, settings, smtp
) -> None:
    """The worker's registry as in production: the reply fails at once (no retries) with
    the reason."""
    assert not settings.allow_private_urls
    account = await outbound.mailbox(ctx, smtp)
    conversation_id = await outbound.thread(ctx, account)
    message_id = await outbound.reply(client, admin, conversation_id, type="text", text="Hi")
    async with worker.meta_registry(ctx.pool, settings) as channels:
        assert await tick(ctx, settings, channels) == 1
    row = await outbound.stored(ctx, message_id)
    assert (row["status"], row["error_code"], row["attempts"]) == ("failed", "smtp_connect", 1)
    assert "127.0.0.1 resolves to 127.0.0.1" in row["error_reason"], dict(row)
    assert "OMNISTREAM_ALLOW_PRIVATE_URLS" in row["error_reason"]
    assert smtp.received == []
