"""Media links (omnistream/kit/links.py): https:// only and never a program, the same rule for
a quick reply's media_url, a reply's link and a scheduled reply's link. Template header
links: tests/templates/test_templates_send.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import factories
from tests.conftest import Agent, problem
from tests.quick_replies.test_quick_replies import URL, create, scalar

HTTP = "http://cdn.example.com/menu.jpg"
REFUSED = [
    (HTTP, "media_link", "https://"),
    ("ftp://cdn.example.com/menu.jpg", "media_link", "https://"),
    ("https://cdn.example.com/setup.exe", "media_link_executable", ".exe"),
    ("https://cdn.example.com/SETUP.EXE?download=menu.jpg", "media_link_executable", ".exe"),
    ("https://cdn.example.com/tool.msi#menu.png", "media_link_executable", ".msi"),
    ("https://cdn.example.com/app.apk", "media_link_executable", ".apk"),
    ("https://cdn.example.com/run%2Esh", "media_link_executable", ".sh"),
    ("https://cdn.example.com/a/lib.jar", "media_link_executable", ".jar"),
    ("https://cdn.example.com/x.js", "media_link_executable", ".js"),
]
ACCEPTED = [
    "https://cdn.example.com/menu.jpg",
    "HTTPS://CDN.example.com/Menu.PNG",
    "https://cdn.example.com/doc.pdf?name=setup.exe",  # the file is a pdf
    "https://cdn.example.com/files/report",
]


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body["errors"]) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error


@pytest.mark.parametrize(("link", "kind", "said"), REFUSED)
async def test_quick_reply_media_url_refused(
    client, ctx, admin: Agent, link: str, kind: str, said: str
) -> None:
    body = {"title": "Menu", "body": "Our menu", "media_url": link}
    error = only_error(problem(await client.post(URL, json=body, headers=admin.headers), 422))
    assert (error["field"], error["type"]) == ("media_url", kind)
    assert said in error["message"]
    assert await scalar(ctx, "SELECT count(*) FROM quick_replies") == 0

    reply = await create(client, admin, title="Menu", media_url=ACCEPTED[0])
    r = await client.patch(f"{URL}/{reply['id']}", json={"media_url": link}, headers=admin.headers)
    assert only_error(problem(r, 422))["type"] == kind
    stored = await scalar(
        ctx, "SELECT media_url FROM quick_replies WHERE id = $1::uuid", reply["id"]
    )
    assert stored == ACCEPTED[0]


async def test_quick_reply_media_url_accepted(client, admin: Agent) -> None:
    for link in ACCEPTED:
        reply = await create(client, admin, title=f"Link {link}", media_url=link)
        assert reply["media_url"] == link


async def test_reply_and_scheduled_links_follow_the_same_rule(client, ctx, admin: Agent) -> None:
    conversation = await factories.conversation(ctx)
    messages = f"/api/v1/conversations/{conversation}/messages"
    scheduled = f"/api/v1/conversations/{conversation}/scheduled-messages"
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for link, kind, said in REFUSED:
        for url, extra in ((messages, {}), (scheduled, {"scheduled_at": later})):
            body = {"type": "document", "link": link, **extra}
            error = only_error(
                problem(await client.post(url, json=body, headers=admin.headers), 422)
            )
            assert (error["field"], error["type"]) == ("link", kind), url
            assert said in error["message"]
    assert await scalar(ctx, "SELECT count(*) FROM messages") == 0
    assert await scalar(ctx, "SELECT count(*) FROM scheduled_messages") == 0
    r = await client.post(
        messages, json={"type": "document", "link": ACCEPTED[2]}, headers=admin.headers
    )
    assert r.status_code == 201, r.text


async def test_a_stored_http_quick_reply_is_refused_when_sent(client, ctx, admin: Agent) -> None:
    """A reply saved before the https-only rule cannot be sent until it is edited."""
    legacy = await scalar(
        ctx,
        "INSERT INTO quick_replies (title, body, media_url) VALUES ('Old', 'Menu', $1) "
        "RETURNING id",
        HTTP,
    )
    conversation = await factories.conversation(ctx)
    r = await client.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"quick_reply_id": str(legacy)},
        headers=admin.headers,
    )
    error = only_error(problem(r, 422))
    assert error["field"] == "quick_reply_id" and "https://" in error["message"]
    assert await scalar(ctx, "SELECT count(*) FROM messages") == 0
