"""What both campaign figures (bench/campaigns.py) start from: the Graph API sandbox in
benchmark mode with one WhatsApp number and one marketing template, a scratch database with
ONE `omnistream serve` on it, the integration seeded (credentials sealed as the API does,
the number's send rate set), its templates synced and a draft campaign created through the
API, signed in as the first-start admin. Plus the audience CSV files and the upload."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import harness
import httpx
from outbound import APP_SECRET, PHONE_ID, SECRET_KEY, TOKEN, whatsapp_account

from omnistream.db.pool import init_connection

WABA_ID = "209000000000001"  # outbound.whatsapp_account's credentials name this WABA
TEMPLATE = "order_due"
# The campaign's mapping: the CSV's name, Order_ID and "Due Date" columns (as
# bench/campaign_csv.py generates them), so the API parses what that bench parses.
VARIABLES = {
    "name": {"column": "name"},
    "order_id": {"column": "order_id"},
    "due_date": {"column": "due date"},
}
CSV_VARIABLES = ("order_id", "Due Date")
SETTINGS = {
    "secret_key": SECRET_KEY,  # opens the sealed credentials
    "allow_private_urls": "true",  # the sandbox is on loopback
    "access_token_ttl_seconds": "3600",  # one sign-in lasts the whole run
}


def sandbox_config(rate: int) -> dict[str, Any]:
    """One WhatsApp number, its limit reported (benchmark mode does not enforce it), and the
    campaign's template (named parameters, a marketing template as campaigns send)."""
    account = {"channel": "whatsapp", "external_id": PHONE_ID, "waba_id": WABA_ID}
    account |= {"access_token": TOKEN, "app_secret": APP_SECRET, "rate_limit_per_second": rate}
    body = "Hi {{name}}, your order {{order_id}} is due on {{due_date}}. Reply STOP to opt out."
    template = {
        "name": TEMPLATE,
        "category": "MARKETING",
        "parameter_format": "NAMED",
        "components": [{"type": "BODY", "text": body}],
    }
    return {"accounts": [account], "templates": [template]}


@dataclass
class Setup:
    api: harness.ApiRun
    sandbox: harness.Process
    token: str
    account_id: UUID
    campaign_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def worker_env(self) -> dict[str, str]:
        return harness.omnistream_env(self.api.db.dsn, None, self.api.workdir, **SETTINGS)


def login(base: str, log_path: Path) -> str:
    email, password = harness.admin_credentials(log_path)
    response = httpx.post(
        base + "/api/v1/auth/login", json={"email": email, "password": password}, timeout=60
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


async def seed_integration(dsn: str, graph: str, rate: int) -> tuple[UUID, UUID]:
    """The integration and its number sending at `rate`/s: (integration id, account id)."""
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    try:
        account: UUID = await whatsapp_account(conn, graph, rate)
        integration: UUID = await conn.fetchval(
            "SELECT integration_id FROM integration_accounts WHERE id = $1", account
        )
    finally:
        await conn.close()
    return integration, account


def call(http: httpx.Client, method: str, path: str, expect: int, **kwargs: Any) -> dict[str, Any]:
    response = http.request(method, path, **kwargs)
    if response.status_code != expect:
        raise harness.BenchError(f"{method} {path}: {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json() if response.content else {}
    return body


@contextmanager
def campaign_on_scratch(args: argparse.Namespace, prefix: str) -> Iterator[Setup]:
    """The sandbox, the API on a scratch database and a draft campaign; all gone after."""
    with (
        harness.work_folder(prefix.replace("_", "-") + "-") as work,
        harness.sandbox(work, sandbox_config(args.rate)) as sandbox,
        harness.api_on_scratch(args.database_url, prefix, settings=SETTINGS) as api,
    ):
        token = login(api.base, api.server.log_path)
        integration, account = asyncio.run(seed_integration(api.db.dsn, sandbox.url, args.rate))
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=api.base, headers=headers, timeout=60) as http:
            call(http, "POST", f"/api/v1/integrations/{integration}/templates/sync", 200)
            templates = call(http, "GET", "/api/v1/templates", 200, params={"q": TEMPLATE})
            found = [t for t in templates["items"] if t["name"] == TEMPLATE]
            if not found:
                raise harness.BenchError(f"template {TEMPLATE} not synced: {templates}")
            body = {
                "name": "Bench broadcast",
                "integration_account_id": str(account),
                "template_id": found[0]["id"],
                "variables": VARIABLES,
            }
            campaign = call(http, "POST", "/api/v1/campaigns", 201, json=body)
        yield Setup(api, sandbox, token, account, campaign["id"])


def clean_csv(count: int, first: int = 0) -> bytes:
    """`count` distinct valid Indonesian mobile numbers (0812 + 8 digits), each with a name
    and both variables: every row becomes a recipient."""
    lines = ["phone,name,order_id,due date"]
    lines += [
        f"0812{n:08d},Customer {n},INV-{n:08d},2026-12-{1 + n % 28:02d}"
        for n in range(first, first + count)
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def upload(setup: Setup, data: bytes) -> tuple[float, dict[str, Any]]:
    """PUT the audience CSV through the API: (seconds from request to response, report)."""
    path = f"/api/v1/campaigns/{setup.campaign_id}/audience/csv"
    files = {"file": ("audience.csv", data, "text/csv")}
    with httpx.Client(base_url=setup.api.base, headers=setup.headers, timeout=300) as http:
        started = time.perf_counter()
        response = http.put(path, files=files)
        seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise harness.BenchError(f"upload: {response.status_code} {response.text[:500]}")
    report: dict[str, Any] = response.json()
    return seconds, report
