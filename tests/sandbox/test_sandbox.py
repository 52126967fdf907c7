"""The Meta Graph API sandbox over real HTTP: the sandbox under uvicorn (tests/sandbox_fixture),
a webhook receiver (Starlette under uvicorn) that checks X-Hub-Signature-256 on raw bytes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.sandbox_fixture import Sandbox, SandboxAccount, sandbox_fixture  # noqa: F401

SECRET = "receiver-app-secret"
WAMID = re.compile(r"^wamid\.[A-Za-z0-9+/]+=*$")
V = "v21.0"


@dataclass
class Call:
    raw: bytes
    headers: dict[str, str]
    valid: bool
    at: float

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.raw)


class Receiver:
    """OmniStream's side of the webhook: records raw bodies, checks signatures."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.fail = 0  # answer 500 to this many calls
        self.url = ""
        self.arrived = asyncio.Event()

    async def hook(self, request: Request) -> Response:
        raw = await request.body()
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        given = request.headers.get("x-hub-signature-256", "")
        call = Call(raw, dict(request.headers), hmac.compare_digest(given, expected), time.time())
        self.calls.append(call)
        self.arrived.set()
        if self.fail > 0:
            self.fail -= 1
            return Response(status_code=500)
        return Response(status_code=200 if call.valid else 401)

    async def wait(self, count: int, within: float = 5.0) -> list[Call]:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while len(self.calls) < count:
                    self.arrived.clear()
                    await self.arrived.wait()
        return self.calls

    def statuses(self) -> list[dict[str, Any]]:
        out = []
        for call in self.calls:
            for entry in call.json["entry"]:
                for change in entry.get("changes", []):
                    out.extend(change["value"].get("statuses", []))
        return out


@pytest.fixture(scope="module")
async def receiver_server() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/webhooks/meta", receiver.hook, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "receiver did not start"
        await asyncio.sleep(0.01)
    receiver.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/webhooks/meta"
    yield receiver
    server.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.calls.clear()
    receiver_server.fail = 0
    return receiver_server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


async def account(
    sandbox: Sandbox, receiver: Receiver | None = None, channel: str = "whatsapp", **options: Any
) -> SandboxAccount:
    return await sandbox.register_account(
        channel, app_secret=SECRET, webhook_url=receiver.url if receiver else None, **options
    )


async def send(
    http: httpx.AsyncClient, sandbox: Sandbox, acc: SandboxAccount, body: dict[str, Any]
) -> httpx.Response:
    return await http.post(
        f"{sandbox.graph()}/{acc.external_id}/messages", json=body, headers=acc.headers
    )


def text(to: str = "16505551234", body: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": to,
        "type": "text",
        "text": {"body": body},
        **extra,
    }


def meta_error(r: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["type"] == "OAuthException", error
    assert error["message"] and error["fbtrace_id"]
    return error


# Authentication ----------------------------------------------------------------------------


async def test_bearer_token_is_checked(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await account(sandbox, display_phone_number="15550783881", name="Acme Support")
    other = await account(sandbox)
    url = f"{sandbox.graph()}/{wa.external_id}"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        error = meta_error(await http.get(url, headers=headers), 401, 190)
        assert "error_data" not in error
    ok = await http.get(url, headers=wa.headers)
    assert ok.status_code == 200
    info = ok.json()
    assert info["id"] == wa.external_id and info["verified_name"] == "Acme Support"
    assert info["display_phone_number"] == "+1 555-078-3881"
    assert (await http.get(url, params={"access_token": wa.access_token})).status_code == 200
    foreign = meta_error(await http.get(url, headers=other.headers), 400, 100)
    assert foreign["error_subcode"] == 33
    r = await http.post(f"{url}/messages", json=text(), headers={"Authorization": "Bearer x"})
    meta_error(r, 401, 190)
    fields = await http.get(url, headers=wa.headers, params={"fields": "verified_name"})
    assert fields.json() == {"verified_name": "Acme Support", "id": wa.external_id}


# WhatsApp sends ----------------------------------------------------------------------------


async def test_text_send_answers_meta_success_shape(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    wa = await account(sandbox)
    r = await send(http, sandbox, wa, text(to="+1 650-555-1234"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+1 650-555-1234", "wa_id": "16505551234"}]
    [message] = body["messages"]
    assert message["message_status"] == "accepted"
    assert WAMID.match(message["id"]), message
    assert b"16505551234" in base64.b64decode(message["id"][6:])
    second = (await send(http, sandbox, wa, text())).json()["messages"][0]["id"]
    assert second != message["id"]
    # the versioned prefix may be any version
    r = await http.post(
        f"{sandbox.url}/v19.0/{wa.external_id}/messages", json=text(), headers=wa.headers
    )
    assert r.status_code == 200
    meta_error(
        await http.post(
            f"{sandbox.url}/latest/{wa.external_id}/messages", json=text(), headers=wa.headers
        ),
        400,
        2500,
    )


async def _uploaded(http: httpx.AsyncClient, sandbox: Sandbox, wa: SandboxAccount) -> str:
    r = await http.post(
        f"{sandbox.graph()}/{wa.external_id}/media",
        headers=wa.headers,
        files={"file": ("a.png", b"\x89PNG\r\n\x1a\nfake", "image/png")},
        data={"messaging_product": "whatsapp", "type": "image/png"},
    )
    assert r.status_code == 200, r.text
    media_id: str = r.json()["id"]
    return media_id


async def test_every_message_type_is_accepted(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await account(sandbox)
    media_id = await _uploaded(http, sandbox, wa)
    buttons = [
        {"type": "reply", "reply": {"id": f"b{i}", "title": f"Option {i}"}} for i in range(3)
    ]
    rows = [{"id": f"r{i}", "title": f"Row {i}", "description": "d"} for i in range(10)]
    target = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBQzQTdGAA=="
    bodies: list[dict[str, Any]] = [
        {"type": "image", "image": {"id": media_id, "caption": "look"}},
        {"type": "image", "image": {"link": "https://example.com/a.jpg"}},
        {
            "type": "document",
            "document": {"link": "https://example.com/a.pdf", "filename": "a.pdf"},
        },
        {"type": "audio", "audio": {"id": media_id}},
        {"type": "video", "video": {"link": "https://example.com/v.mp4", "caption": "v"}},
        {"type": "sticker", "sticker": {"id": media_id}},
        {"type": "reaction", "reaction": {"message_id": target, "emoji": "👍"}},
        {"type": "reaction", "reaction": {"message_id": target, "emoji": ""}},
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Pick"},
                "action": {"buttons": buttons},
            },
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "Choose"},
                "action": {"button": "Plans", "sections": [{"title": "All", "rows": rows}]},
            },
        },
        {
            "type": "template",
            "template": {
                "name": "order_update",
                "language": {"code": "en_US", "policy": "deterministic"},
                "components": [
                    {
                        "type": "header",
                        "parameters": [
                            {"type": "image", "image": {"link": "https://x.test/i.png"}}
                        ],
                    },
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Ana"},
                            {"type": "text", "text": "#42"},
                        ],
                    },
                ],
            },
        },
        {
            "type": "template",
            "template": {
                "name": "welcome_offer",
                "language": {"code": "en_US"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "parameter_name": "name", "text": "Ana"},
                            {"type": "text", "parameter_name": "discount", "text": "10%"},
                        ],
                    }
                ],
            },
        },
        {"type": "text", "text": {"body": "reply"}, "context": {"message_id": target}},
        {"type": "location", "location": {"latitude": -6.2, "longitude": 106.8, "name": "HQ"}},
        {
            "type": "contacts",
            "contacts": [{"name": {"formatted_name": "Ana B", "first_name": "Ana"}}],
        },
        {"type": "text", "text": {"body": "x" * 4096, "preview_url": True}},
    ]
    for extra in bodies:
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            **extra,
        }
        r = await send(http, sandbox, wa, body)
        assert r.status_code == 200, (extra["type"], r.text)
        assert WAMID.match(r.json()["messages"][0]["id"])
    messages = await sandbox.messages(account=wa.external_id)
    assert [m["type"] for m in messages] == [b["type"] for b in bodies]


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        (
            {"messaging_product": "whatsapp", "type": "text", "text": {"body": "hi"}},
            "parameter to is required",
        ),
        ({"to": "16505551234", "type": "text", "text": {"body": "hi"}}, "messaging_product"),
        (text(body="x" * 4097), "at most 4096 characters"),
        (text(body=""), "text['body'] is required"),
        ({**text(), "type": "carousel"}, "Param type must be one of"),
        ({**text(), "text": "hi"}, "text is required and must be an object"),
        (text(to="call me"), "is not a phone number"),
        (
            {
                "messaging_product": "whatsapp",
                "to": "1650555",
                "type": "image",
                "image": {"id": "1", "link": "https://x.test/a"},
            },
            "exactly one of 'id' or 'link'",
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": "1650555",
                "type": "audio",
                "audio": {"id": "1", "caption": "no"},
            },
            "caption'] is not supported",
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": "1650555",
                "type": "image",
                "image": {"link": "ftp://x/a.png"},
            },
            "http(s) URL",
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": "1650555",
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "Pick"},
                    "action": {
                        "buttons": [
                            {"type": "reply", "reply": {"id": str(i), "title": str(i)}}
                            for i in range(4)
                        ]
                    },
                },
            },
            "1 to 3 buttons",
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": "1650555",
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "Pick"},
                    "action": {
                        "buttons": [{"type": "reply", "reply": {"id": "a", "title": "x" * 21}}]
                    },
                },
            },
            "at most 20 characters",
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": "1650555",
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "body": {"text": "Pick"},
                    "action": {
                        "button": "All",
                        "sections": [
                            {"rows": [{"id": str(i), "title": str(i)} for i in range(11)]}
                        ],
                    },
                },
            },
            "1 to 10 rows",
        ),
        ({**text(), "context": {}}, "context['message_id']"),
        ({**text(), "biz_opaque_callback_data": "x" * 513}, "512 bytes"),
        (
            {"messaging_product": "whatsapp", "to": "1650555", "type": "reaction", "reaction": {}},
            "reaction['message_id']",
        ),
        (
            {"messaging_product": "whatsapp", "to": "1650555", "type": "contacts", "contacts": []},
            "contacts is required",
        ),
    ],
)
async def test_malformed_bodies_get_code_100(
    sandbox: Sandbox, http: httpx.AsyncClient, body: dict[str, Any], hint: str
) -> None:
    wa = await account(sandbox)
    error = meta_error(await send(http, sandbox, wa, body), 400, 100)
    assert hint in error["message"], error
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert hint in error["error_data"]["details"]
    assert await sandbox.messages() == []


async def test_non_json_bodies_are_refused(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await account(sandbox)
    url = f"{sandbox.graph()}/{wa.external_id}/messages"
    for content in (b"{not json", b"[1, 2]", b""):
        r = await http.post(
            url, content=content, headers={**wa.headers, "Content-Type": "application/json"}
        )
        meta_error(r, 400, 100)


async def test_mark_as_read(sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver) -> None:
    wa = await account(sandbox, receiver)
    inbound = await sandbox.send_customer(wa, "16505551234", text="hi")
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": inbound["message_id"]}
    r = await send(http, sandbox, wa, body)
    assert r.status_code == 200 and r.json() == {"success": True}
    [record] = await sandbox.requests(path="/messages")
    assert record["read"] == inbound["message_id"] and record["body"] == body
    meta_error(await send(http, sandbox, wa, {**body, "message_id": "nope"}), 400, 100)
    assert await sandbox.messages() == []  # a read receipt is not a message
    assert await sandbox.sends() == []


async def test_template_checks(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await account(sandbox)

    def tpl(
        name: str, code: str = "en_US", params: int = 0, header: bool = False
    ) -> dict[str, Any]:
        components: list[dict[str, Any]] = []
        if header:
            components.append(
                {"type": "header", "parameters": [{"type": "image", "image": {"id": "1"}}]}
            )
        if params:
            components.append(
                {"type": "body", "parameters": [{"type": "text", "text": "p"}] * params}
            )
        spec = {"name": name, "language": {"code": code}, "components": components}
        return {
            "messaging_product": "whatsapp",
            "to": "16505551234",
            "type": "template",
            "template": spec,
        }

    assert (await send(http, sandbox, wa, tpl("hello_world"))).status_code == 200
    assert (await send(http, sandbox, wa, tpl("order_update", "pt_BR", 2, True))).status_code == 200
    meta_error(await send(http, sandbox, wa, tpl("no_such_template")), 404, 132001)
    meta_error(await send(http, sandbox, wa, tpl("hello_world", "fr_FR")), 404, 132001)
    meta_error(await send(http, sandbox, wa, tpl("appointment_reminder", params=2)), 404, 132001)
    meta_error(await send(http, sandbox, wa, tpl("summer_sale")), 400, 132015)
    meta_error(await send(http, sandbox, wa, tpl("old_promo")), 400, 132016)
    error = meta_error(
        await send(http, sandbox, wa, tpl("order_update", params=1, header=True)), 400, 132000
    )
    assert "2 parameter(s)" in error["error_data"]["details"]
    meta_error(await send(http, sandbox, wa, tpl("order_update", params=2)), 400, 132000)
    meta_error(await send(http, sandbox, wa, tpl("welcome_offer", params=2)), 400, 132000)


# Media -------------------------------------------------------------------------------------


async def test_media_upload_lookup_download_delete(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    wa = await account(sandbox)
    other = await account(sandbox)
    data = b"%PDF-1.4 sandbox test " + bytes(range(256))
    r = await http.post(
        f"{sandbox.graph()}/{wa.external_id}/media",
        headers=wa.headers,
        files={"file": ("invoice.pdf", data, "application/pdf")},
        data={"messaging_product": "whatsapp", "type": "application/pdf"},
    )
    assert r.status_code == 200, r.text
    media_id = r.json()["id"]
    assert media_id.isdigit() and r.json() == {"id": media_id}

    info = await http.get(f"{sandbox.graph()}/{media_id}", headers=wa.headers)
    assert info.status_code == 200
    meta = info.json()
    assert meta["id"] == media_id and meta["mime_type"] == "application/pdf"
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["file_size"] == str(len(data))
    meta_error(await http.get(f"{sandbox.graph()}/{media_id}", headers=other.headers), 400, 100)

    download = await http.get(meta["url"], headers=wa.headers)
    assert download.status_code == 200 and download.content == data
    assert download.headers["content-type"].startswith("application/pdf")
    assert (await http.get(meta["url"])).status_code == 401
    assert (await http.get(meta["url"], headers=other.headers)).status_code == 401
    tampered = meta["url"].replace("hash=", "hash=0")
    assert (await http.get(tampered, headers=wa.headers)).status_code == 404

    deleted = await http.delete(f"{sandbox.graph()}/{media_id}", headers=wa.headers)
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    meta_error(await http.get(f"{sandbox.graph()}/{media_id}", headers=wa.headers), 400, 100)
    assert (await http.get(meta["url"], headers=wa.headers)).status_code == 404
    upload = next(r for r in await sandbox.requests(path="/media") if r["method"] == "POST")
    assert upload["body"]["file"] == {
        "filename": "invoice.pdf",
        "content_type": "application/pdf",
        "size": len(data),
    }


async def test_media_upload_is_validated(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await account(sandbox)
    url = f"{sandbox.graph()}/{wa.external_id}/media"
    file = {"file": ("a.png", b"\x89PNG", "image/png")}
    meta_error(
        await http.post(url, headers=wa.headers, files=file, data={"type": "image/png"}), 400, 100
    )
    meta_error(
        await http.post(url, headers=wa.headers, data={"messaging_product": "whatsapp"}), 400, 100
    )
    exe = {"file": ("a.exe", b"MZ", "application/x-msdownload")}
    error = meta_error(
        await http.post(url, headers=wa.headers, files=exe, data={"messaging_product": "whatsapp"}),
        400,
        131053,
    )
    assert "application/x-msdownload" in error["error_data"]["details"]
    big = {"file": ("s.webp", b"R" * (600 * 1024), "image/webp")}
    meta_error(
        await http.post(url, headers=wa.headers, files=big, data={"messaging_product": "whatsapp"}),
        400,
        131053,
    )


async def test_send_with_unknown_media_id_fails_later(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver)
    body = {
        "messaging_product": "whatsapp",
        "to": "16505551234",
        "type": "image",
        "image": {"id": "999"},
    }
    r = await send(http, sandbox, wa, body)
    assert r.status_code == 200
    await sandbox.settle()
    [status] = receiver.statuses()
    assert status["status"] == "failed" and status["errors"][0]["code"] == 131053


# Templates listing -------------------------------------------------------------------------


async def test_templates_paging(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await account(sandbox, waba_id="777000111")
    added = await sandbox.add_template(
        "shipping_notice", components=[{"type": "BODY", "text": "Shipped {{1}}"}]
    )
    assert added["status"] == "APPROVED" and added["id"]
    url: str | None = f"{sandbox.graph()}/777000111/message_templates?limit=3"
    pages: list[dict[str, Any]] = []
    while url:
        r = await http.get(url, headers=wa.headers)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        url = r.json()["paging"].get("next")
        assert len(pages) < 10
    assert [len(p["data"]) for p in pages] == [3, 3, 3]
    names = [(t["name"], t["language"]) for p in pages for t in p["data"]]
    assert len(set(names)) == 9 and ("shipping_notice", "en_US") in names
    assert names[-1] == ("shipping_notice", "en_US")  # creation order
    for p in pages:
        assert set(p["paging"]["cursors"]) == {"before", "after"}
    assert "previous" not in pages[0]["paging"] and "previous" in pages[1]["paging"]
    assert pages[0]["paging"]["next"].startswith(f"{sandbox.graph()}/777000111/message_templates?")
    first = pages[0]["data"][0]
    assert set(first) >= {
        "name",
        "language",
        "status",
        "category",
        "components",
        "id",
        "parameter_format",
    }

    back = await http.get(pages[1]["paging"]["previous"], headers=wa.headers)
    assert back.json()["data"] == pages[0]["data"]
    approved = await http.get(
        f"{sandbox.graph()}/777000111/message_templates",
        headers=wa.headers,
        params={"status": "APPROVED", "limit": 100},
    )
    statuses = {t["status"] for t in approved.json()["data"]}
    assert statuses == {"APPROVED"} and "next" not in approved.json()["paging"]
    stranger = await account(sandbox)
    meta_error(
        await http.get(f"{sandbox.graph()}/777000111/message_templates", headers=stranger.headers),
        400,
        100,
    )


async def test_template_status_change_is_announced(sandbox: Sandbox, receiver: Receiver) -> None:
    wa = await account(sandbox, receiver)
    changed = await sandbox.add_template(
        "hello_world", status="PAUSED", components=[{"type": "BODY", "text": "Hello World"}]
    )
    assert changed["previous_status"] == "APPROVED"
    [call] = await receiver.wait(1)
    assert call.valid
    change = call.json["entry"][0]["changes"][0]
    assert call.json["entry"][0]["id"] == wa.waba_id
    assert change["field"] == "message_template_status_update"
    assert change["value"]["event"] == "PAUSED"
    assert change["value"]["message_template_name"] == "hello_world"
    assert str(change["value"]["message_template_id"]) == changed["id"]


# Status webhooks ---------------------------------------------------------------------------


async def test_status_webhooks_are_signed_and_ordered(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver, display_phone_number="15550783881")
    r = await send(http, sandbox, wa, text(biz_opaque_callback_data="msg-42"))
    wamid = r.json()["messages"][0]["id"]
    calls = await receiver.wait(3)
    assert len(calls) == 3 and all(c.valid for c in calls)
    for call in calls:
        assert call.headers["content-type"] == "application/json"
        expected = hmac.new(SECRET.encode(), call.raw, hashlib.sha1).hexdigest()
        assert call.headers["x-hub-signature"] == f"sha1={expected}"
        envelope = call.json
        assert envelope["object"] == "whatsapp_business_account"
        [entry] = envelope["entry"]
        assert entry["id"] == wa.waba_id
        [change] = entry["changes"]
        assert change["field"] == "messages"
        value = change["value"]
        assert value["messaging_product"] == "whatsapp"
        assert value["metadata"] == {
            "display_phone_number": "15550783881",
            "phone_number_id": wa.external_id,
        }
        assert "messages" not in value and "contacts" not in value
    statuses = receiver.statuses()
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    for s in statuses:
        assert s["id"] == wamid and s["recipient_id"] == "16505551234"
        assert s["biz_opaque_callback_data"] == "msg-42"
        assert s["timestamp"].isdigit()
    sent, delivered, read = statuses
    assert sent["pricing"] == {
        "billable": False,
        "pricing_model": "PMP",
        "category": "service",
        "type": "free_customer_service",
    }
    assert sent["conversation"]["origin"] == {"type": "service"}
    assert delivered["conversation"]["id"] == sent["conversation"]["id"]
    assert "pricing" not in read and "conversation" not in read
    [message] = await sandbox.messages(account=wa.external_id)
    assert [s["status"] for s in message["statuses"]] == ["sent", "delivered", "read"]
    # The sandbox notes a delivery once our receiver's answer is back, which can be just
    # after the receiver saw the call: wait for the third to be noted.
    await sandbox.wait_webhooks(3, kind="status")
    hooks = await sandbox.webhooks(kind="status")
    assert [h["kind"] for h in hooks] == ["status:sent", "status:delivered", "status:read"]
    assert all(h["delivered"] and h["attempts"][0]["status"] == 200 for h in hooks)


async def test_template_sends_are_billed_by_category(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver)
    body = {
        "messaging_product": "whatsapp",
        "to": "16505551234",
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}},
    }
    assert (await send(http, sandbox, wa, body)).status_code == 200
    await sandbox.settle()
    sent = receiver.statuses()[0]
    assert sent["pricing"]["category"] == "utility" and sent["pricing"]["billable"] is True
    assert sent["conversation"]["origin"]["type"] == "utility"


async def test_status_timing_delays_skips_and_disable(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    wa = await account(
        sandbox, receiver, timing={"sent_ms": 0, "delivered_ms": 200, "read_ms": 200}
    )
    started = time.time()
    await send(http, sandbox, wa, text())
    calls = await receiver.wait(3)
    assert [s["status"] for s in receiver.statuses()] == ["sent", "delivered", "read"]
    assert calls[0].at - started < 0.15
    assert calls[1].at - calls[0].at >= 0.18 and calls[2].at - calls[1].at >= 0.18

    receiver.calls.clear()
    await sandbox.settings(timing={"sent_ms": 0, "delivered_ms": None, "read_ms": 0})
    skip = await account(sandbox, receiver)
    await send(http, sandbox, skip, text())
    await sandbox.settle()
    assert [s["status"] for s in receiver.statuses()] == ["sent", "read"]

    receiver.calls.clear()
    await sandbox.settings(timing={"enabled": False})
    await send(http, sandbox, skip, text())
    assert await sandbox.settle()
    await asyncio.sleep(0.05)
    assert receiver.calls == []


async def test_webhooks_are_retried_on_errors(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver, timing={"delivered_ms": None, "read_ms": None})
    receiver.fail = 2
    await send(http, sandbox, wa, text())
    await sandbox.settle()
    assert len(receiver.calls) == 3
    assert len({c.raw for c in receiver.calls}) == 1  # the same bytes each time
    [hook] = await sandbox.webhooks(kind="status:sent")
    assert [a["status"] for a in hook["attempts"]] == [500, 500, 200] and hook["delivered"]

    receiver.calls.clear()
    receiver.fail = 10
    await send(http, sandbox, wa, text())
    await sandbox.settle()
    assert len(receiver.calls) == 4  # 1 + 3 retries, then it gives up
    last = (await sandbox.webhooks(kind="status:sent"))[-1]
    assert not last["delivered"] and [a["status"] for a in last["attempts"]] == [500] * 4


async def test_unreachable_webhook_is_recorded(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    await sandbox.settings(webhook_retries=1, webhook_retry_ms=1)
    wa = await sandbox.register_account("whatsapp", webhook_url="http://127.0.0.1:9/hook")
    await send(http, sandbox, wa, text())
    await sandbox.settle()
    hooks = await sandbox.webhooks(kind="status")
    assert hooks and not any(h["delivered"] for h in hooks)
    assert all(len(h["attempts"]) == 2 and h["attempts"][0]["error"] for h in hooks)


# Faults ------------------------------------------------------------------------------------


async def test_failed_status_fault_for_a_recipient(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver)
    await sandbox.add_fault("failed_status", recipient="628111", code=131047)
    r = await send(http, sandbox, wa, text(to="628111"))
    assert r.status_code == 200  # accepted now, fails later, as Meta does
    wamid = r.json()["messages"][0]["id"]
    await send(http, sandbox, wa, text(to="628222"))
    await sandbox.settle()
    failed = [s for s in receiver.statuses() if s["recipient_id"] == "628111"]
    assert [s["status"] for s in failed] == ["failed"]
    assert failed[0]["id"] == wamid
    error = failed[0]["errors"][0]
    assert error["code"] == 131047 and error["title"] == "Re-engagement message"
    assert "24 hours" in error["error_data"]["details"]
    fine = [s["status"] for s in receiver.statuses() if s["recipient_id"] == "628222"]
    assert fine == ["sent", "delivered", "read"]


async def test_immediate_error_fault_and_times(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await account(sandbox)
    fault = await sandbox.add_fault("error", recipient="628333", code=131026, times=1)
    error = meta_error(await send(http, sandbox, wa, text(to="628333")), 400, 131026)
    assert error["message"] == "(#131026) Message undeliverable"
    assert (await send(http, sandbox, wa, text(to="628333"))).status_code == 200
    assert await sandbox.faults() == []  # used up
    await sandbox.add_fault("error", account=wa.external_id, code=131056)
    pair = meta_error(await send(http, sandbox, wa, text()), 400, 131056)
    assert pair["is_transient"] is True
    [listed] = await sandbox.faults()
    assert listed["hits"] == 1 and fault["id"] != listed["id"]
    assert await sandbox.clear_faults() == 1
    assert (await send(http, sandbox, wa, text())).status_code == 200


async def test_token_fault_gives_190(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await account(sandbox)
    fault = await sandbox.add_fault("error", token=wa.access_token, code=190)
    error = meta_error(
        await http.get(f"{sandbox.graph()}/{wa.external_id}", headers=wa.headers), 401, 190
    )
    assert "expired" in error["message"]
    meta_error(await send(http, sandbox, wa, text()), 401, 190)
    other = await account(sandbox)
    assert (await send(http, sandbox, other, text())).status_code == 200
    r = await http.delete(f"{sandbox.url}/_sandbox/faults/{fault['id']}")
    assert r.status_code == 204
    assert (await send(http, sandbox, wa, text())).status_code == 200


async def test_http_500_and_slow_faults(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await account(sandbox)
    await sandbox.add_fault("http_500", path_contains="/messages", times=2)
    for _ in range(2):
        r = await send(http, sandbox, wa, text())
        assert r.status_code == 500 and r.json()["error"]["is_transient"] is True
    assert (await send(http, sandbox, wa, text())).status_code == 200
    assert (
        await http.get(f"{sandbox.graph()}/{wa.external_id}", headers=wa.headers)
    ).status_code == 200

    await sandbox.add_fault("slow", account=wa.external_id, delay_ms=300)
    started = time.monotonic()
    r = await send(http, sandbox, wa, text())
    assert r.status_code == 200 and time.monotonic() - started >= 0.29
    with pytest.raises(Exception, match="delay_ms"):
        await sandbox.add_fault("slow")
    statuses = [r["status"] for r in await sandbox.requests(path="/messages")]
    assert statuses == [500, 500, 200, 200]


async def test_rate_limit_gives_130429(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await account(sandbox, rate_limit_per_second=5)
    other = await account(sandbox)
    results = await asyncio.gather(
        *(send(http, sandbox, wa, text(body=f"n{i}")) for i in range(20))
    )
    codes = [r.status_code for r in results]
    assert codes.count(200) >= 5 and codes.count(429) >= 5, codes
    throttled = next(r for r in results if r.status_code == 429)
    error = meta_error(throttled, 429, 130429)
    assert error["error_data"]["messaging_product"] == "whatsapp"
    rate = await sandbox.rate(wa.external_id)
    assert rate["limit"] == 5
    assert rate["max_accepted_per_second"] <= 5
    assert all(row["accepted"] <= 5 for row in rate["per_second"])
    assert rate["total_accepted"] == codes.count(200)
    assert rate["total_throttled"] == codes.count(429)
    assert sum(row["sends"] for row in rate["per_second"]) == 20
    # another account has its own budget
    assert all(
        r.status_code == 200
        for r in await asyncio.gather(*(send(http, sandbox, other, text()) for _ in range(8)))
    )
    await asyncio.sleep(1.05)
    assert (await send(http, sandbox, wa, text())).status_code == 200


async def test_instant_mode_ignores_faults_limits_and_statuses(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver, rate_limit_per_second=1)
    await sandbox.add_fault("error", code=131000)
    await sandbox.settings(instant=True)
    results = await asyncio.gather(*(send(http, sandbox, wa, text(body=str(i))) for i in range(10)))
    assert [r.status_code for r in results] == [200] * 10
    meta_error(await send(http, sandbox, wa, text(body="")), 400, 100)  # still validated
    assert await sandbox.settle()
    await asyncio.sleep(0.05)
    assert receiver.calls == []
    assert len(await sandbox.messages()) == 10


# Customer play -----------------------------------------------------------------------------


async def test_customer_text_is_meta_whatsapp_envelope(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver, display_phone_number="15550783881")
    before = int(time.time())
    result = await sandbox.send_customer(
        wa, "16505551234", text="Does it come in blue?", name="Ana"
    )
    assert result["delivered"] is True
    [call] = receiver.calls
    assert call.valid
    body = call.json
    assert body == result["payload"]
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    assert WAMID.match(message["id"]) and message["id"] == result["message_id"]
    assert isinstance(message["timestamp"], str) and int(message["timestamp"]) >= before
    assert body == {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": wa.waba_id,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": wa.external_id,
                            },
                            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "16505551234"}],
                            "messages": [
                                {
                                    "from": "16505551234",
                                    "id": message["id"],
                                    "timestamp": message["timestamp"],
                                    "type": "text",
                                    "text": {"body": "Does it come in blue?"},
                                }
                            ],
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


async def test_customer_media_can_be_fetched(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver)
    photo = b"\xff\xd8\xff\xe0 not really a jpeg"
    result = await sandbox.send_customer(
        wa,
        "16505551234",
        "image",
        caption="blue?",
        mime_type="image/jpeg",
        media_base64=base64.b64encode(photo).decode(),
    )
    image = result["payload"]["entry"][0]["changes"][0]["value"]["messages"][0]["image"]
    assert image == {
        "mime_type": "image/jpeg",
        "sha256": hashlib.sha256(photo).hexdigest(),
        "id": result["media_id"],
        "caption": "blue?",
    }
    info = (await http.get(f"{sandbox.graph()}/{image['id']}", headers=wa.headers)).json()
    assert info["file_size"] == str(len(photo))
    assert (await http.get(info["url"], headers=wa.headers)).content == photo

    doc = await sandbox.send_customer(wa, "16505551234", "document")
    document = doc["payload"]["entry"][0]["changes"][0]["value"]["messages"][0]["document"]
    assert document["mime_type"] == "application/pdf" and document["filename"] == "sample.pdf"
    url = (await http.get(f"{sandbox.graph()}/{document['id']}", headers=wa.headers)).json()["url"]
    pdf = (await http.get(url, headers=wa.headers)).content
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    assert hashlib.sha256(pdf).hexdigest() == document["sha256"]

    for kind, mime in (("audio", "audio/ogg"), ("video", "video/mp4"), ("sticker", "image/webp")):
        sent = await sandbox.send_customer(wa, "16505551234", kind)
        part = sent["payload"]["entry"][0]["changes"][0]["value"]["messages"][0][kind]
        assert part["mime_type"] == mime and part["id"] == sent["media_id"]
    assert part["animated"] is False
    assert all(c.valid for c in receiver.calls) and len(receiver.calls) == 5


@pytest.mark.parametrize(
    ("kind", "fields", "expected"),
    [
        (
            "interactive",
            {"reply_id": "btn_yes", "reply_title": "Yes"},
            {"type": "button_reply", "button_reply": {"id": "btn_yes", "title": "Yes"}},
        ),
        (
            "interactive",
            {
                "interactive_type": "list_reply",
                "reply_id": "row_1",
                "reply_title": "Plan A",
                "reply_description": "Cheap",
            },
            {
                "type": "list_reply",
                "list_reply": {"id": "row_1", "title": "Plan A", "description": "Cheap"},
            },
        ),
        (
            "button",
            {"text": "Stop promos", "payload": "STOP"},
            {"text": "Stop promos", "payload": "STOP"},
        ),
        (
            "reaction",
            {"target": "wamid.HBgLAA==", "emoji": "❤️"},
            {"message_id": "wamid.HBgLAA==", "emoji": "❤️"},
        ),
        ("reaction", {"target": "wamid.HBgLAA==", "emoji": ""}, {"message_id": "wamid.HBgLAA=="}),
        (
            "location",
            {"latitude": 1.5, "longitude": 2.5, "location_name": "Shop"},
            {"latitude": 1.5, "longitude": 2.5, "name": "Shop"},
        ),
    ],
)
async def test_customer_whatsapp_types(
    sandbox: Sandbox,
    receiver: Receiver,
    kind: str,
    fields: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    wa = await account(sandbox, receiver)
    result = await sandbox.send_customer(wa, "16505551234", kind, **fields)
    [call] = receiver.calls
    assert call.valid
    message = call.json["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["type"] == kind and message[kind] == expected
    assert message["id"] == result["message_id"]


async def test_customer_flow_contacts_unsupported_and_reply(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver)

    async def message(kind: str, **fields: Any) -> dict[str, Any]:
        result = await sandbox.send_customer(wa, "16505551234", kind, **fields)
        value: dict[str, Any] = result["payload"]["entry"][0]["changes"][0]["value"]["messages"][0]
        return value

    flow = await message("interactive", interactive_type="nfm_reply", flow_response={"size": "M"})
    reply = flow["interactive"]["nfm_reply"]
    assert reply["name"] == "flow" and json.loads(reply["response_json"]) == {
        "flow_token": "sandbox-flow-token",
        "size": "M",
    }
    contacts = await message("contacts")
    assert contacts["contacts"][0]["phones"][0]["wa_id"] == "6281234567890"
    unsupported = await message("unsupported")
    assert unsupported["type"] == "unsupported" and unsupported["errors"][0]["code"] == 131051
    quoted = await message("text", text="this one", reply_to="wamid.ABC=")
    assert quoted["context"] == {"from": wa.display_phone_number, "id": "wamid.ABC="}
    with pytest.raises(Exception, match="target"):
        await sandbox.send_customer(wa, "16505551234", "reaction")
    assert len(receiver.calls) == 4


async def test_customer_redelivery_and_background(sandbox: Sandbox, receiver: Receiver) -> None:
    wa = await account(sandbox, receiver)
    result = await sandbox.send_customer(wa, "16505551234", text="dup", deliveries=3)
    assert len(result["deliveries"]) == 3 and len(receiver.calls) == 3
    assert len({c.raw for c in receiver.calls}) == 1
    again = await sandbox.send_customer(
        wa, "16505551234", text="again", message_id=result["message_id"], wait=False
    )
    assert "deliveries" not in again
    await receiver.wait(4)
    assert (
        receiver.calls[3].json["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
        == result["message_id"]
    )


async def test_meta_serialization_is_escaped(sandbox: Sandbox, receiver: Receiver) -> None:
    """Meta escapes "/" and non-ASCII: a receiver that re-serializes breaks the signature."""
    messenger = await account(sandbox, receiver, channel="messenger")
    await sandbox.send_customer(messenger, "7001", "image")
    await sandbox.send_customer(messenger, "7001", text="ok 👍")
    image, emoji = receiver.calls
    assert b"http:\\/\\/127.0.0.1" in image.raw
    assert b"\\ud83d\\udc4d" in emoji.raw and "👍".encode() not in emoji.raw
    reserialized = json.dumps(emoji.json, ensure_ascii=False).encode()
    resigned = "sha256=" + hmac.new(SECRET.encode(), reserialized, hashlib.sha256).hexdigest()
    assert resigned != emoji.headers["x-hub-signature-256"] and emoji.valid


# Messenger and Instagram -------------------------------------------------------------------


async def test_messenger_customer_envelopes(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    page = await account(sandbox, receiver, channel="messenger", name="Acme Page")
    result = await sandbox.send_customer(
        page, "7001", text="hello", name="Budi Santoso", reply_to="m_prev"
    )
    body = receiver.calls[0].json
    assert body["object"] == "page"
    [entry] = body["entry"]
    assert (
        entry["id"] == page.external_id
        and isinstance(entry["time"], int)
        and entry["time"] > 10**12
    )
    [event] = entry["messaging"]
    assert event["sender"] == {"id": "7001"} and event["recipient"] == {"id": page.external_id}
    assert isinstance(event["timestamp"], int) and event["timestamp"] > 10**12
    assert event["message"] == {
        "mid": result["message_id"],
        "reply_to": {"mid": "m_prev"},
        "text": "hello",
    }
    assert result["message_id"].startswith("m_")

    image = await sandbox.send_customer(page, "7001", "image")
    [attachment] = image["payload"]["entry"][0]["messaging"][0]["message"]["attachments"]
    assert attachment["type"] == "image"
    fetched = await http.get(attachment["payload"]["url"])  # public CDN URL, no token
    assert fetched.status_code == 200 and fetched.content.startswith(b"\x89PNG")
    doc = await sandbox.send_customer(page, "7001", "document")
    assert doc["payload"]["entry"][0]["messaging"][0]["message"]["attachments"][0]["type"] == "file"

    quick = await sandbox.send_customer(
        page, "7001", "interactive", reply_id="PLAN_A", reply_title="Plan A"
    )
    assert quick["payload"]["entry"][0]["messaging"][0]["message"]["quick_reply"] == {
        "payload": "PLAN_A"
    }
    postback = await sandbox.send_customer(
        page, "7001", "button", text="Get started", payload="START"
    )
    event = postback["payload"]["entry"][0]["messaging"][0]
    assert event["postback"]["payload"] == "START" and "message" not in event
    reaction = await sandbox.send_customer(page, "7001", "reaction", target="m_x", emoji="❤️")
    assert reaction["payload"]["entry"][0]["messaging"][0]["reaction"] == {
        "mid": "m_x",
        "action": "react",
        "reaction": "love",
        "emoji": "❤️",
    }
    with pytest.raises(Exception, match="WhatsApp"):
        await sandbox.send_customer(page, "7001", "contacts")
    assert all(c.valid for c in receiver.calls)

    profile = await http.get(f"{sandbox.graph()}/7001", headers=page.headers)
    assert profile.json()["first_name"] == "Budi" and profile.json()["last_name"] == "Santoso"
    me = await http.get(f"{sandbox.graph()}/me", headers=page.headers)
    assert me.json() == {"name": "Acme Page", "id": page.external_id}


async def test_instagram_customer_envelope(sandbox: Sandbox, receiver: Receiver) -> None:
    ig = await account(sandbox, receiver, channel="instagram")
    result = await sandbox.send_customer(ig, "8001", text="hi from IG")
    body = receiver.calls[0].json
    assert body["object"] == "instagram" and body["entry"][0]["id"] == ig.external_id
    assert body["entry"][0]["messaging"][0]["message"] == {
        "mid": result["message_id"],
        "text": "hi from IG",
    }
    odd = await sandbox.send_customer(ig, "8001", "unsupported")
    assert odd["payload"]["entry"][0]["messaging"][0]["message"]["is_unsupported"] is True
    with pytest.raises(Exception, match="not whatsapp"):
        await sandbox.send_customer(ig, "8001", text="x", channel="whatsapp")


async def test_page_sends_and_receipts(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    page = await account(sandbox, receiver, channel="messenger", echoes=True)
    body = {"recipient": {"id": "7001"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}}
    r = await http.post(f"{sandbox.graph()}/me/messages", json=body, headers=page.headers)
    assert r.status_code == 200, r.text
    mid = r.json()["message_id"]
    assert r.json() == {"recipient_id": "7001", "message_id": mid} and mid.startswith("m_")
    await sandbox.settle()
    events = [c.json["entry"][0]["messaging"][0] for c in receiver.calls]
    assert all(c.valid and c.json["object"] == "page" for c in receiver.calls)
    echo = next(e for e in events if "message" in e)
    assert echo["message"]["is_echo"] is True and echo["message"]["mid"] == mid
    assert echo["sender"] == {"id": page.external_id} and echo["recipient"] == {"id": "7001"}
    receipts = [e for e in events if "message" not in e]
    assert [next(k for k in ("delivery", "read") if k in e) for e in receipts] == [
        "delivery",
        "read",
    ]
    delivery, read = receipts
    assert delivery["delivery"]["mids"] == [mid] and isinstance(
        delivery["delivery"]["watermark"], int
    )
    assert read["read"]["watermark"] >= delivery["delivery"]["watermark"]
    assert delivery["sender"] == {"id": "7001"}

    tagged = {**body, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    r = await http.post(
        f"{sandbox.graph()}/{page.external_id}/messages", json=tagged, headers=page.headers
    )
    assert r.status_code == 200
    typing = {"recipient": {"id": "7001"}, "sender_action": "typing_on"}
    r = await http.post(f"{sandbox.graph()}/me/messages", json=typing, headers=page.headers)
    assert r.json() == {"recipient_id": "7001"}
    for bad, hint in (
        ({"messaging_type": "RESPONSE", "message": {"text": "x"}}, "recipient"),
        ({**body, "messaging_type": "MESSAGE_TAG"}, "tag"),
        ({**body, "message": {"text": "x" * 2001}}, "2000"),
        ({**body, "message": {}}, "exactly one of text or attachment"),
    ):
        r = await http.post(f"{sandbox.graph()}/me/messages", json=bad, headers=page.headers)
        error = meta_error(r, 400, 100)
        assert hint in error["message"] and "messaging_product" not in error.get("error_data", {})

    ig = await account(sandbox, receiver, channel="instagram")
    receiver.calls.clear()
    r = await http.post(
        f"{sandbox.graph()}/{ig.external_id}/messages", json=body, headers=ig.headers
    )
    ig_mid = r.json()["message_id"]
    await sandbox.settle()
    [call] = receiver.calls  # Instagram sends no delivery receipts
    event = call.json["entry"][0]["messaging"][0]
    assert call.json["object"] == "instagram" and event["read"]["mid"] == ig_mid


async def test_customer_window_enforcement(
    sandbox: Sandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    wa = await account(sandbox, receiver, enforce_window=True, window_seconds=60)
    await send(http, sandbox, wa, text(to="628444"))
    await sandbox.settle()
    assert [(s["status"], s["errors"][0]["code"]) for s in receiver.statuses()] == [
        ("failed", 131047)
    ]
    receiver.calls.clear()
    await sandbox.send_customer(wa, "628444", text="hi")
    await send(http, sandbox, wa, text(to="628444"))
    await sandbox.settle()
    assert [s["status"] for s in receiver.statuses()] == ["sent", "delivered", "read"]

    page = await account(sandbox, channel="messenger", enforce_window=True)
    body = {"recipient": {"id": "7002"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}}
    r = await http.post(f"{sandbox.graph()}/me/messages", json=body, headers=page.headers)
    error = meta_error(r, 403, 10)
    assert error["error_subcode"] == 2018278
    await sandbox.send_customer(page, "7002", text="hello")
    r = await http.post(f"{sandbox.graph()}/me/messages", json=body, headers=page.headers)
    assert r.status_code == 200


# Recording ---------------------------------------------------------------------------------


async def test_requests_are_recorded_and_filtered(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    wa = await account(sandbox)
    await http.get(f"{sandbox.graph()}/{wa.external_id}", headers=wa.headers)
    ok = await send(http, sandbox, wa, text(body="first"))
    await send(http, sandbox, wa, {"messaging_product": "whatsapp", "type": "text"})
    await http.get(f"{sandbox.graph()}/{wa.external_id}?fields=id", headers={"X-Request-ID": "abc"})
    everything = await sandbox.requests()
    assert [r["index"] for r in everything] == [0, 1, 2, 3]
    sends = await sandbox.requests(path="/messages")
    assert [r["status"] for r in sends] == [200, 400]
    first, refused = sends
    assert first["method"] == "POST" and first["body"] == text(body="first")
    assert first["headers"]["authorization"] == f"Bearer {wa.access_token}"
    assert first["headers"]["content-type"] == "application/json"
    assert first["account"] == wa.external_id
    assert first["message_id"] == ok.json()["messages"][0]["id"]
    assert refused["error_code"] == 100
    later = await sandbox.requests(since=3)
    assert len(later) == 1 and later[0]["query"] == {"fields": "id"}
    assert later[0]["status"] == 401 and later[0]["headers"]["x-request-id"] == "abc"
    assert await sandbox.requests(method="GET", path="/v21.0/") == [everything[0], everything[3]]
    assert await sandbox.requests(account="nobody") == []


async def test_send_counts_per_client_message(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await account(sandbox)
    for _ in range(2):
        await send(http, sandbox, wa, text(body="retry me", biz_opaque_callback_data="msg-1"))
    await send(http, sandbox, wa, text(body="different body", biz_opaque_callback_data="msg-2"))
    await send(http, sandbox, wa, text(body="no key"))
    await send(http, sandbox, wa, text(body="no key"))
    await send(http, sandbox, wa, text(to="628999", body="no key"))
    await sandbox.add_fault("http_500", times=1)
    await send(http, sandbox, wa, text(body="flaky", biz_opaque_callback_data="msg-3"))
    await send(http, sandbox, wa, text(body="flaky", biz_opaque_callback_data="msg-3"))
    counts = {s["key"]: s for s in await sandbox.sends(account=wa.external_id)}
    assert len(counts) == 5
    one = counts[f"opaque:{wa.external_id}:msg-1"]
    assert one["attempts"] == 2 and one["accepted"] == 2 and len(set(one["message_ids"])) == 2
    assert counts[f"opaque:{wa.external_id}:msg-2"]["accepted"] == 1
    flaky = counts[f"opaque:{wa.external_id}:msg-3"]
    assert flaky["attempts"] == 2 and flaky["accepted"] == 1
    by_content = [s for s in counts.values() if s["kind"] == "content"]
    assert sorted((s["to"], s["accepted"]) for s in by_content) == [
        ("16505551234", 2),
        ("628999", 1),
    ]
    twice = next(s for s in by_content if s["accepted"] == 2)
    duplicates = await sandbox.sends(duplicates=True)
    assert {s["key"] for s in duplicates} == {one["key"], twice["key"]}


async def test_reset_clears_state(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    wa = await account(sandbox)
    await send(http, sandbox, wa, text())
    await sandbox.add_fault("error", code=131000)
    await sandbox.add_template("extra_one")
    await sandbox.settings(rate_limit_per_second=3)
    await sandbox.reset()
    meta_error(await http.get(f"{sandbox.graph()}/{wa.external_id}", headers=wa.headers), 401, 190)
    assert await sandbox.faults() == [] and await sandbox.sends() == []
    assert [r["path"] for r in await sandbox.requests()] == [f"/{V}/{wa.external_id}"]
    assert await sandbox.messages() == [] and await sandbox.accounts() == []
    assert "extra_one" not in {t["name"] for t in await sandbox.templates()}
    assert len(await sandbox.templates()) == 8
    assert (await sandbox.settings())["rate_limit_per_second"] is None


async def test_unknown_paths_answer_in_meta_shape(
    sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    meta_error(await http.get(f"{sandbox.url}/nothing"), 400, 2500)
    wa = await account(sandbox)
    meta_error(
        await http.get(f"{sandbox.graph()}/123456/unknown_edge", headers=wa.headers), 400, 2500
    )
    r = await http.get(f"{sandbox.url}/_sandbox/nothing")
    assert r.status_code == 404 and "detail" in r.json()


# CLI ---------------------------------------------------------------------------------------


async def test_cli_serves_and_plays_a_customer(receiver: Receiver, tmp_path: Any) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {
        "webhook_url": receiver.url,
        "accounts": [
            {
                "channel": "whatsapp",
                "external_id": "555001",
                "access_token": "cli-token",
                "app_secret": SECRET,
            }
        ],
    }
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps(config))
    entry = "from omnistream.cli import main; main()"
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        entry,
        "sandbox",
        "--port",
        str(port),
        "--config",
        str(path),
        "--demo",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            for _ in range(300):
                try:
                    if (await client.get(f"{url}/_sandbox/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            accounts = (await client.get(f"{url}/_sandbox/accounts")).json()["accounts"]
            assert {a["external_id"] for a in accounts} >= {
                "555001",
                "100000000000001",
                "300000000000001",
            }
            cli = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                entry,
                "sandbox",
                "customer",
                "--sandbox-url",
                url,
                "--channel",
                "whatsapp",
                "--account",
                "555001",
                "--from",
                "16505551234",
                "--text",
                "hi from cli",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            stdout, stderr = await asyncio.wait_for(cli.communicate(), 30)
            assert cli.returncode == 0, stderr.decode()
            assert "message id: wamid." in stdout.decode()
            [call] = receiver.calls
            assert call.valid
            message = call.json["entry"][0]["changes"][0]["value"]["messages"][0]
            assert message["text"] == {"body": "hi from cli"} and message["from"] == "16505551234"
            bad = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                entry,
                "sandbox",
                "customer",
                "--sandbox-url",
                url,
                "--account",
                "nope",
                "--from",
                "1",
                "--text",
                "x",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            _, stderr = await asyncio.wait_for(bad.communicate(), 30)
            assert bad.returncode == 1 and b"404" in stderr
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 10)
