"""The delivery log (filters, keyset pages, attempts), redelivery, auto-disable and
retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from omnistream.auth.worker import housekeeping_tick
from omnistream.db.pool import transaction
from omnistream.events.dispatcher import publish_pending
from omnistream.events.queries import published_after
from omnistream.webhooks.service import disable_failing
from tests.conftest import problem
from tests.webhooks.test_delivery import note_event
from tests.webhooks.test_endpoints import BASE, create


async def test_log_filters_pages_and_shows_attempts(wclient, admin, receiver, pump, ctx) -> None:
    made = await create(wclient, admin, receiver.url(), events=["note.created", "contact.created"])
    path = f"{BASE}/{made['id']}/deliveries"
    await note_event(ctx, 5)
    await pump()
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "status": "success", **({"cursor": cursor} if cursor else {})}
        r = await wclient.get(path, params=params, headers=admin.headers)
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 == len({d["id"] for d in seen})
    assert [d["created_at"] for d in seen] == sorted((d["created_at"] for d in seen), reverse=True)
    for query in ({"status": "failed"}, {"event_type": "contact.created"},
                  {"since": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}):  # fmt: skip
        r = await wclient.get(path, params=query, headers=admin.headers)
        assert r.json()["items"] == [], query
    until = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert (await wclient.get(path, params={"until": until}, headers=admin.headers)).json()[
        "items"
    ] == []
    one = await wclient.get(f"{path}/{seen[0]['id']}", headers=admin.headers)
    body = one.json()
    assert body["payload"]["type"] == "note.created" and body["payload"]["id"] == body["event_id"]
    (attempt,) = body["attempt_log"]
    assert attempt["status_code"] == 200 and attempt["response_body"] == "ok"
    assert attempt["error"] is None and attempt["duration_ms"] >= 0
    problem(await wclient.get(path, params={"status": "lost"}, headers=admin.headers), 422)
    other = await create(wclient, admin, receiver.url("/other"))
    problem(
        await wclient.get(
            f"{BASE}/{other['id']}/deliveries/{seen[0]['id']}", headers=admin.headers
        ),
        404,
    )


async def test_redeliver_one_and_every_failed_since(wclient, admin, receiver, pump, ctx) -> None:
    healthy = [False]

    async def flaky(_: web.Request) -> web.Response:
        return web.Response(text="fine") if healthy[0] else web.Response(status=503)

    receiver.routes["/flaky"] = flaky
    made = await create(wclient, admin, receiver.url("/flaky"), events=["note.created"])
    path = f"{BASE}/{made['id']}"
    await note_event(ctx, 3)
    await pump()
    # Disabling fails what is pending; redelivery needs the endpoint enabled again.
    await wclient.patch(path, json={"is_active": False}, headers=admin.headers)
    items = (await wclient.get(f"{path}/deliveries", headers=admin.headers)).json()["items"]
    assert {d["status"] for d in items} == {"failed"}
    assert all("disabled" in d["last_error"] for d in items)
    problem(await wclient.post(f"{path}/deliveries/{items[0]['id']}/redeliver",
                               headers=admin.headers), 409)  # fmt: skip
    await wclient.patch(path, json={"is_active": True}, headers=admin.headers)
    healthy[0] = True
    r = await wclient.post(f"{path}/deliveries/{items[0]['id']}/redeliver", headers=admin.headers)
    assert r.status_code == 202 and r.json()["status"] == "pending" and r.json()["attempts"] == 0
    problem(
        await wclient.post(f"{path}/deliveries/{items[0]['id']}/redeliver", headers=admin.headers),
        409,
    )  # pending already
    await pump()
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    r = await wclient.post(f"{path}/redeliver-failed", json={"since": since}, headers=admin.headers)
    assert r.status_code == 202 and r.json() == {"redelivered": 2}
    await pump()
    items = (await wclient.get(f"{path}/deliveries", headers=admin.headers)).json()["items"]
    assert {d["status"] for d in items} == {"success"}
    ids = [r.headers["webhook-id"] for r in receiver.at("/flaky") if r]
    assert len(set(ids)) == 3 and len(ids) == 6  # each redelivered with its own id again
    problem(await wclient.post(f"{path}/redeliver-failed", json={}, headers=admin.headers), 422)


async def test_an_endpoint_failing_for_days_is_disabled(
    wclient, admin, receiver, pump, deliverer, ctx
) -> None:
    async def down(_: web.Request) -> web.Response:
        return web.Response(status=500)

    receiver.routes["/down"] = down
    made = await create(wclient, admin, receiver.url("/down"), events=["note.created"])
    fine = await create(wclient, admin, receiver.url("/fine"), events=["note.created"])
    await note_event(ctx)
    await pump()
    async with ctx.pool.acquire() as conn:
        since = await conn.fetchval(
            "SELECT failing_since FROM outgoing_webhooks WHERE id = $1", made["id"]
        )
        assert since is not None
        assert (
            await conn.fetchval(
                "SELECT failing_since FROM outgoing_webhooks WHERE id = $1", fine["id"]
            )
            is None
        )
    async with transaction(ctx.pool) as tx:  # not yet
        assert await disable_failing(tx, since + timedelta(days=4.9), 5) == []
    async with transaction(ctx.pool) as tx:
        disabled = await disable_failing(tx, since + timedelta(days=5, seconds=1), 5)
    assert [str(d) for d in disabled] == [made["id"]]
    body = (await wclient.get(f"{BASE}/{made['id']}", headers=admin.headers)).json()
    assert body["is_active"] is False and body["disabled_reason"] == "failing"
    items = (await wclient.get(f"{BASE}/{made['id']}/deliveries", headers=admin.headers)).json()
    assert items["items"][0]["status"] == "failed"
    assert "every delivery failed for 5 days" in items["items"][0]["last_error"]
    async with ctx.pool.acquire() as conn:
        await publish_pending(conn)
        events = [e for e in await published_after(conn, 0, 100) if e["type"] == "webhook.disabled"]
        logged = await conn.fetchrow(
            "SELECT * FROM activity_logs WHERE action = 'webhook_auto_disabled'"
        )
    assert len(events) == 1 and events[0]["audience"] == [{"admins": True}]
    assert events[0]["data"]["webhook"]["id"] == made["id"]
    assert logged is not None and str(logged["target_id"]) == made["id"]
    # Re-enabled: the clock restarts and new events flow again.
    await wclient.patch(f"{BASE}/{made['id']}", json={"is_active": True}, headers=admin.headers)
    body = (await wclient.get(f"{BASE}/{made['id']}", headers=admin.headers)).json()
    assert body["disabled_reason"] is None and body["failing_since"] is None


async def test_a_success_restarts_the_failure_clock(wclient, admin, receiver, pump, ctx) -> None:
    state = {"ok": False}

    async def flaky(_: web.Request) -> web.Response:
        return web.Response(status=200 if state["ok"] else 500)

    receiver.routes["/f"] = flaky
    made = await create(wclient, admin, receiver.url("/f"), events=["note.created"])
    await note_event(ctx)
    await pump()
    state["ok"] = True
    await wclient.post(f"{BASE}/{made['id']}/test", headers=admin.headers)
    await pump()
    body = (await wclient.get(f"{BASE}/{made['id']}", headers=admin.headers)).json()
    assert body["failing_since"] is None and body["pending"] == 1  # the failed one retries later


async def test_retention_removes_old_attempts_and_finished_deliveries(
    wclient, admin, receiver, pump, ctx, settings
) -> None:
    await create(wclient, admin, receiver.url(), events=["note.created"])
    await note_event(ctx, 2)
    await pump()
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE webhook_attempts SET created_at = now() - interval '31 days' "
            "WHERE id = (SELECT min(id) FROM webhook_attempts)"
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET completed_at = now() - interval '31 days' "
            "WHERE id = (SELECT id FROM webhook_deliveries ORDER BY event_seq LIMIT 1)"
        )
    removed = await housekeeping_tick(ctx.pool, settings)
    assert removed is not None
    assert removed["outgoing_webhook_attempts"] == 1
    assert removed["outgoing_webhook_deliveries"] == 1
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 1


async def test_the_activity_log_names_the_endpoint(wclient, admin, receiver) -> None:
    made = await create(wclient, admin, receiver.url("/named"))
    await wclient.patch(f"{BASE}/{made['id']}", json={"description": "x"}, headers=admin.headers)
    await wclient.delete(f"{BASE}/{made['id']}", headers=admin.headers)
    r = await wclient.get("/api/v1/activity", headers=admin.headers)
    rows = [i for i in r.json()["items"] if i["action"].startswith("webhook_")]
    assert {i["action"] for i in rows} == {"webhook_created", "webhook_updated", "webhook_deleted"}
    # Named by the endpoint's URL while it exists, and by the URL recorded once deleted.
    assert {i["target_name"] for i in rows} == {receiver.url("/named")}
