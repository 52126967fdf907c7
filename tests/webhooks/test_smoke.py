from __future__ import annotations

import json

from standardwebhooks import Webhook


async def test_create_then_deliver_a_note_event(wclient, admin, receiver, pump, ctx) -> None:
    r = await wclient.post(
        "/api/v1/webhooks",
        json={"url": receiver.url(), "events": ["*"], "description": "crm"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    r = await wclient.post(f"/api/v1/webhooks/{r.json()['id']}/test", headers=admin.headers)
    assert r.status_code == 202, r.text
    await pump()
    assert len(receiver.received) >= 1
    got = receiver.received[-1]
    payload = Webhook(secret).verify(got.body, got.headers)
    print(json.dumps(payload, indent=1), got.headers)
