"""/api/v1/webhooks: validation, the one-time secret, rotation, RBAC, events and audit."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from omnistream.events.dispatcher import publish_pending
from omnistream.events.queries import published_after
from tests.conftest import fields, problem

BASE = "/api/v1/webhooks"


def pings(receiver) -> list:
    """The test events received (an endpoint on "*" also gets its own webhook.* events)."""
    return [r for r in receiver.received if json.loads(r.body)["type"] == "webhook.ping"]


async def create(client, admin, url: str, **extra) -> dict:
    r = await client.post(BASE, json={"url": url, "events": ["*"], **extra}, headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_the_secret_is_shown_on_create_and_rotate_only(
    wclient, admin, receiver, ctx, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    made = await create(wclient, admin, receiver.url(), description="CRM")
    secret = made["secret"]
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 44
    assert made["events"] == ["*"] and made["is_active"] and made["max_concurrency"] == 4
    rotated = await wclient.post(f"{BASE}/{made['id']}/rotate-secret", headers=admin.headers)
    assert rotated.status_code == 200, rotated.text
    fresh = rotated.json()["secret"]
    assert fresh != secret and rotated.json()["previous_secret_valid_until"] is not None
    answers = [
        await wclient.get(BASE, headers=admin.headers),
        await wclient.get(f"{BASE}/{made['id']}", headers=admin.headers),
        await wclient.patch(
            f"{BASE}/{made['id']}", json={"description": "ERP"}, headers=admin.headers
        ),
        await wclient.get("/api/v1/activity", headers=admin.headers),
    ]
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)
        events = await published_after(conn, 0, 100)
        stored = await conn.fetchrow("SELECT secret, previous_secret FROM outgoing_webhooks")
    texts = [a.text for a in answers] + [json.dumps(dict(e["data"])) for e in events]
    texts += [caplog.text, stored["secret"], stored["previous_secret"]]
    assert {e["type"] for e in events} >= {"webhook.created", "webhook.updated"}
    for text in texts:
        for value in (secret, fresh, secret[6:], fresh[6:]):
            assert value not in text
    assert stored["secret"].startswith("v1.")  # sealed at rest
    assert "secret" not in answers[1].json()


async def test_only_admins_manage_webhooks(wclient, actors, admin, receiver) -> None:
    made = await create(wclient, admin, receiver.url())
    for role in ("supervisor", "agent"):
        who = await actors.make(role)
        for method, path in (
            ("GET", BASE),
            ("POST", BASE),
            ("GET", f"{BASE}/{made['id']}"),
            ("POST", f"{BASE}/{made['id']}/rotate-secret"),
            ("GET", f"{BASE}/{made['id']}/deliveries"),
            ("DELETE", f"{BASE}/{made['id']}"),
        ):
            r = await wclient.request(
                method, path, json={"url": receiver.url(), "events": ["*"]}, headers=who.headers
            )
            problem(r, 403)
    assert (await wclient.get(f"{BASE}/{made['id']}", headers=admin.headers)).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
        ({"url": "https://", "events": ["*"]}, "url"),
        ({"url": "https://user:pw@example.com/", "events": ["*"]}, "url"),
        ({"url": "https://exa mple.com/", "events": ["*"]}, "url"),
        ({"url": "https://example.com:99999/", "events": ["*"]}, "url"),
        ({"url": "https://example.com/" + "a" * 2001, "events": ["*"]}, "url"),
        ({"url": "https://example.com/", "events": []}, "events"),
        ({"url": "https://example.com/", "events": ["message.nope"]}, "events"),
        ({"url": "https://example.com/", "events": ["note.created", "note.created"]}, "events"),
        ({"url": "https://example.com/", "events": ["webhook.ping"]}, "events"),
        ({"url": "https://example.com/", "events": ["*"], "max_concurrency": 0}, "max_concurrency"),
        ({"url": "https://example.com/", "events": ["*"], "secret": "mine"}, "secret"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(client, admin, ctx, body, field) -> None:
    r = await client.post(BASE, json=body, headers=admin.headers)
    assert field in {f.split(".")[0] for f in fields(problem(r, 422))}, r.text
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outgoing_webhooks") == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # plain http without OMNISTREAM_ALLOW_PRIVATE_URLS
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://172.31.255.255/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fc00::1]/hook",
        "https://[fd12:3456::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://localhost/hook",  # a host name that resolves to loopback
        "https://localhost./hook",
    ],
)
async def test_private_targets_are_refused_at_create(client, admin, url) -> None:
    r = await client.post(BASE, json={"url": url, "events": ["*"]}, headers=admin.headers)
    body = problem(r, 422)
    assert fields(body) == {"url"}, body


async def test_update_toggles_and_validates(wclient, client, admin, receiver, ctx) -> None:
    made = await create(wclient, admin, receiver.url(), events=["note.created"])
    path = f"{BASE}/{made['id']}"
    r = await client.patch(path, json={"url": "https://10.0.0.1/x"}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"url"}
    r = await wclient.patch(path, json={"events": None}, headers=admin.headers)
    assert fields(problem(r, 422)) == {"events"}
    r = await wclient.patch(path, json={"is_active": False}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert r.json()["disabled_reason"] is None and r.json()["disabled_at"] is not None
    problem(await wclient.post(f"{path}/test", headers=admin.headers), 409)
    r = await wclient.patch(
        path, json={"is_active": True, "events": ["*"], "max_concurrency": 8}, headers=admin.headers
    )
    body = r.json()
    assert body["is_active"] and body["events"] == ["*"] and body["max_concurrency"] == 8
    r = await wclient.get(f"{BASE}?is_active=false", headers=admin.headers)
    assert r.json()["items"] == []
    async with ctx.pool.acquire() as conn:
        actions = [
            r["action"]
            for r in await conn.fetch("SELECT action FROM activity_logs ORDER BY created_at")
        ]
    assert actions.count("webhook_updated") == 2 and "webhook_created" in actions
    assert (await wclient.delete(f"{BASE}/{made['id']}", headers=admin.headers)).status_code == 204
    problem(await wclient.get(path, headers=admin.headers), 404)


async def test_list_is_paginated_newest_first(wclient, admin, receiver) -> None:
    made = [await create(wclient, admin, receiver.url(f"/h{i}")) for i in range(5)]
    seen, cursor = [], None
    while True:
        r = await wclient.get(
            BASE, params={"limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=admin.headers,
        )  # fmt: skip
        seen += [w["id"] for w in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [m["id"] for m in reversed(made)]
    problem(await wclient.get(BASE, params={"cursor": "nope"}, headers=admin.headers), 400)


async def test_rotation_signs_with_both_secrets_for_24_hours(
    wclient, admin, receiver, pump, deliverer
) -> None:
    made = await create(wclient, admin, receiver.url())
    old = made["secret"]
    r = await wclient.post(f"{BASE}/{made['id']}/rotate-secret", headers=admin.headers)
    new = r.json()["secret"]
    await wclient.post(f"{BASE}/{made['id']}/test", headers=admin.headers)
    await pump()
    got = pings(receiver)[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # receivers on either secret accept it during the overlap
        assert Webhook(secret).verify(got.body, got.headers)["type"] == "webhook.ping"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)
    # A day later only the new secret signs.
    deliverer.clock = lambda: datetime.now(UTC) + timedelta(hours=24, minutes=1)
    await wclient.post(f"{BASE}/{made['id']}/test", headers=admin.headers)
    await pump()
    late = pings(receiver)[-1]
    sent_at = datetime.fromtimestamp(int(late.headers["webhook-timestamp"]), UTC)
    assert sent_at > datetime.now(UTC) + timedelta(hours=23)  # the injected clock's time

    def signed(secret: str) -> str:
        return Webhook(secret).sign(late.headers["webhook-id"], sent_at, late.body.decode())

    assert late.headers["webhook-signature"] == signed(new) != signed(old)
    assert late.headers["webhook-id"] != got.headers["webhook-id"]


async def test_a_secret_sealed_by_a_lost_key_is_an_error_then_rotated_away(
    wclient, admin, receiver, pump, ctx
) -> None:
    """After OMNISTREAM_SECRET_KEY changed without the old one in
    OMNISTREAM_PREVIOUS_SECRET_KEYS: deliveries fail with the reason; rotating fixes it."""
    made = await create(wclient, admin, receiver.url())
    async with ctx.pool.acquire() as conn:
        await conn.execute("UPDATE outgoing_webhooks SET secret = 'v1.0123456789ab.AAAA'")
    await wclient.post(f"{BASE}/{made['id']}/test", headers=admin.headers)
    await pump()
    assert receiver.received == []
    items = (await wclient.get(f"{BASE}/{made['id']}/deliveries", headers=admin.headers)).json()
    for item in items["items"]:  # the ping, and the endpoint's own webhook.created
        assert "cannot be decrypted" in item["last_error"] and item["status"] == "pending"
    r = await wclient.post(f"{BASE}/{made['id']}/rotate-secret", headers=admin.headers)
    assert r.status_code == 200 and r.json()["previous_secret_valid_until"] is None
    await wclient.post(f"{BASE}/{made['id']}/test", headers=admin.headers)
    await pump()
    (got,) = pings(receiver)
    assert Webhook(r.json()["secret"]).verify(got.body, got.headers)["type"] == "webhook.ping"
