"""The public survey page: the link in the survey (its token stored only as a hash), the
form in the survey's language, an answer with a comment, and the refusals: expired (410),
forged (404), answered already (409), too long (422) and too large (413)."""

from __future__ import annotations

import hashlib
import re
import secrets

import httpx

from omnistream.context import AppContext
from tests.csat.support import (
    BUDI,
    connect,
    consume_all,
    conversation_of,
    customer_sends,
    enable,
    resolve,
    send_all,
    sent_bodies,
    surveys,
    value,
)
from tests.sandbox_fixture import Sandbox

LINK = re.compile(r"https://help\.example\.com/csat/([A-Za-z0-9_-]+)")


async def _token(ctx: AppContext, client, admin, sandbox: Sandbox, private, registry) -> str:
    await enable(client, admin, include_link=True, public_url="https://help.example.com/")
    line = await connect(ctx, sandbox, "whatsapp", BUDI)
    await customer_sends(ctx, sandbox, line, text="Halo")
    conversation = await conversation_of(ctx, line)
    await resolve(client, admin, conversation["id"])
    await consume_all(ctx)
    assert await send_all(ctx, private, registry) == 1
    await consume_all(ctx)
    (body,) = await sent_bodies(sandbox, line)
    text = body["interactive"]["body"]["text"]
    assert "Atau jawab di halaman ini:" in text
    match = LINK.search(text)
    assert match, text
    token = match.group(1)
    (survey,) = await surveys(ctx)
    assert bytes(survey["token_hash"]) == hashlib.sha256(token.encode()).digest()
    return token


async def _post(client: httpx.AsyncClient, token: str, **form: str) -> httpx.Response:
    return await client.post(f"/csat/{token}", data=form)


async def test_the_page_takes_one_answer_in_the_surveys_language(
    ctx, client, admin, sandbox, private, registry, live
) -> None:
    token = await _token(ctx, client, admin, sandbox, private, registry)
    page = await client.get(f"/csat/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="id">' in page.text and "Bagaimana layanan kami?" in page.text
    assert "5 - Sangat baik" in page.text and page.headers["cache-control"] == "no-store"

    bad = await _post(client, token, score="6")
    assert bad.status_code == 422 and "score" in bad.text
    long = await _post(client, token, score="4", comment="x" * 2001)
    assert long.status_code == 422 and "comment" in long.text
    huge = await client.post(
        f"/csat/{token}", content=b"score=4&comment=" + b"x" * 20000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert huge.status_code == 413
    assert await value(ctx, "SELECT status FROM csat_surveys") == "sent"

    ok = await _post(client, token, score="4", comment="  Cepat dan ramah  ")
    assert ok.status_code == 200 and "Terima kasih!" in ok.text
    (survey,) = await surveys(ctx)
    assert (survey["score"], survey["feedback"], survey["answered_via"]) == (
        4,
        "Cepat dan ramah",
        "page",
    )
    assert survey["feedback_at"] is not None and survey["status"] == "answered"
    event = await value(ctx, "SELECT data FROM event_outbox WHERE type = 'csat.answered'")
    assert event["survey"]["score"] == 4

    again = await _post(client, token, score="1")
    assert again.status_code == 409
    assert await value(ctx, "SELECT score FROM csat_surveys") == 4
    shown = await client.get(f"/csat/{token}")
    assert shown.status_code == 200 and "Terima kasih!" in shown.text and "<form" not in shown.text


async def test_expired_and_forged_tokens(
    ctx, client, admin, sandbox, private, registry, live
) -> None:
    token = await _token(ctx, client, admin, sandbox, private, registry)
    forged = secrets.token_urlsafe(32)
    for r in (await client.get(f"/csat/{forged}"), await _post(client, forged, score="5")):
        assert r.status_code == 404 and "not valid" in r.text
    assert (await client.get("/csat/" + "a" * 500)).status_code == 404
    async with ctx.pool.acquire() as conn:
        await conn.execute("UPDATE csat_surveys SET expires_at = now() - interval '1 second'")
    for r in (await client.get(f"/csat/{token}"), await _post(client, token, score="5")):
        assert r.status_code == 410 and "kedaluwarsa" in r.text
    assert await value(ctx, "SELECT score FROM csat_surveys") is None


async def test_no_link_without_the_setting(
    ctx, client, admin, sandbox, private, registry, live
) -> None:
    await enable(client, admin)
    line = await connect(ctx, sandbox, "messenger", "2400000000000009")
    await customer_sends(ctx, sandbox, line, text="Hi")
    await resolve(client, admin, (await conversation_of(ctx, line))["id"])
    await consume_all(ctx)
    await send_all(ctx, private, registry)
    (body,) = await sent_bodies(sandbox, line)
    assert "/csat/" not in body["message"]["text"]
    (survey,) = await surveys(ctx)
    assert survey["token_hash"] is None
