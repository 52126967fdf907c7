"""The sandbox's User Profile API (shared/docs/meta-channels.md 4b) over real HTTP: the
profiles of customers who wrote in through customer play, real-looking default names, the
Instagram username fallback, Meta's 100/2018218 for ids it cannot look up, and faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from omnistream.sandbox.samples import NAMES
from tests.sandbox_fixture import Sandbox, SandboxAccount, sandbox_fixture  # noqa: F401


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        yield client


async def profile(
    http: httpx.AsyncClient, sandbox: Sandbox, account: SandboxAccount, user: str, fields: str
) -> httpx.Response:
    return await http.get(
        f"{sandbox.graph()}/{user}", params={"fields": fields}, headers=account.headers
    )


def graph_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    return error


async def test_messenger_profile_of_a_customer_who_wrote(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    page = await sandbox.register_account("messenger")
    await sandbox.send_customer(page, "7001", text="hi", name="Ana Lima")
    r = await profile(http, sandbox, page, "7001", "first_name,last_name,profile_pic")
    assert r.json() == {
        "first_name": "Ana",
        "last_name": "Lima",
        "profile_pic": f"{sandbox.url}/cdn/profile/7001.png",
        "id": "7001",
    }
    picture = await http.get(r.json()["profile_pic"])
    assert picture.headers["content-type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG")
    # Without a name of its own, a customer gets a real-looking one, the same every time.
    await sandbox.send_customer(page, "7002", text="hi")
    first = (await profile(http, sandbox, page, "7002", "first_name,last_name")).json()
    assert f"{first['first_name']} {first['last_name']}" in NAMES
    await sandbox.send_customer(page, "7002", text="again")
    assert (await profile(http, sandbox, page, "7002", "first_name,last_name")).json() == first


async def test_instagram_profile_with_and_without_a_name(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    ig = await sandbox.register_account("instagram")
    await sandbox.send_customer(ig, "8001", text="hi", name="Dewi Lestari")
    await sandbox.send_customer(ig, "8002", text="hi", name="", username="toko.budi")
    fields = "name,username,profile_pic"
    named = (await profile(http, sandbox, ig, "8001", fields)).json()
    assert (named["name"], named["username"]) == ("Dewi Lestari", "dewi.lestari")
    unnamed = (await profile(http, sandbox, ig, "8002", fields)).json()
    assert "name" not in unnamed and unnamed["username"] == "toko.budi"


async def test_an_id_no_customer_wrote_from_cannot_be_looked_up(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    page = await sandbox.register_account("messenger")
    other = await sandbox.register_account("messenger")
    await sandbox.send_customer(other, "7009", text="hi", name="Ana Lima")
    for user in ("7999", "7009"):  # unknown, or known only to another page
        error = graph_error(await profile(http, sandbox, page, user, "first_name"), 400)
        assert (error["code"], error["error_subcode"]) == (100, 2018218)
    # A WhatsApp token asking about an unknown object: still "does not exist" (33).
    wa = await sandbox.register_account("whatsapp")
    error = graph_error(await profile(http, sandbox, wa, "7999", "first_name"), 400)
    assert error["error_subcode"] == 33
    # A bad token is a bad token.
    r = await http.get(f"{sandbox.graph()}/7999", headers={"Authorization": "Bearer nope"})
    assert graph_error(r, 401)["code"] == 190


async def test_faults_strike_profile_lookups_by_recipient_and_account(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    page = await sandbox.register_account("messenger")
    await sandbox.send_customer(page, "7001", text="hi", name="Ana Lima")
    await sandbox.send_customer(page, "7002", text="hi", name="Budi Santoso")
    await sandbox.add_fault("http_500", recipient="7001", times=1)
    assert graph_error(await profile(http, sandbox, page, "7001", "first_name"), 500)["code"] == 2
    assert (await profile(http, sandbox, page, "7002", "first_name")).status_code == 200
    assert (await profile(http, sandbox, page, "7001", "first_name")).status_code == 200
    await sandbox.add_fault("error", account=page.external_id, code=4, times=1)
    assert graph_error(await profile(http, sandbox, page, "7002", "first_name"), 429)["code"] == 4
