"""The message store: inbound ingestion, delivery statuses, timeline, replies, uploads."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from omnistream.context import AppContext
from omnistream.db.pool import transaction
from omnistream.messages import ingest as ingest_module
from omnistream.messages import service
from omnistream.messages.presentation import preview
from tests import factories
from tests.conftest import Actors, Agent, fields, problem

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n"


def wamid() -> str:
    return f"wamid.{secrets.token_hex(8)}"


async def ingest(ctx: AppContext, **overrides: Any) -> asyncpg.Record | None:
    kwargs: dict[str, Any] = {
        "channel": "whatsapp",
        "integration_account_id": None,
        "contact": "6281234567890",
        "profile_name": "Ana",
        "channel_message_id": wamid(),
        "type": "text",
        "content": {"text": "Halo, pesanan saya belum sampai"},
        "occurred_at": datetime.now(UTC),
    }
    kwargs.update(overrides)
    async with transaction(ctx.pool) as tx:
        return await ingest_module.ingest_inbound(tx, **kwargs)


async def events(ctx: AppContext) -> list[asyncpg.Record]:
    async with ctx.pool.acquire() as conn:
        return await conn.fetch(
            "SELECT type, data, actor, audience, conversation_id FROM event_outbox ORDER BY pos"
        )


async def fetch(ctx: AppContext, sql: str, *args: Any) -> asyncpg.Record:
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(sql, *args)
    assert row is not None
    return row


async def outbound(ctx: AppContext, conversation_id: UUID, status: str, channel_id: str) -> UUID:
    """An outbound message as the sender leaves it after the channel accepted it."""
    async with ctx.pool.acquire() as conn:
        value: UUID = await conn.fetchval(
            "INSERT INTO messages (conversation_id, channel, channel_message_id, direction, type, "
            "content, status, sent_at) VALUES ($1, 'whatsapp', $2, 'outbound', 'text', "
            '\'{"text": "hi"}\', $3, now()) RETURNING id',
            conversation_id,
            channel_id,
            status,
        )
    return value


# Inbound ----------------------------------------------------------------------------------


async def test_first_inbound_creates_contact_and_conversation(ctx) -> None:
    at = datetime.now(UTC) - timedelta(seconds=30)
    row = await ingest(ctx, contact="+6281111111111", profile_name="Ana", occurred_at=at)
    assert row is not None
    assert (row["direction"], row["status"], row["type"]) == ("inbound", "received", "text")
    assert row["created_at"] == at
    contact = await fetch(ctx, "SELECT * FROM contacts WHERE phone = '6281111111111'")
    assert contact["name"] == "Ana"
    conv = await fetch(ctx, "SELECT * FROM conversations WHERE id = $1", row["conversation_id"])
    assert conv["contact_id"] == contact["id"] and conv["channel"] == "whatsapp"
    assert (conv["status"], conv["unread_count"]) == ("open", 1)
    assert conv["last_message_preview"] == "Halo, pesanan saya belum sampai"
    assert conv["last_message_at"] == at and conv["last_inbound_at"] == at
    found = await events(ctx)
    assert [e["type"] for e in found] == [
        "contact.created",
        "conversation.created",
        "message.created",
    ]
    created = found[2]["data"]
    assert created["message"]["id"] == str(row["id"])
    assert created["conversation"]["unread_count"] == 1
    assert found[2]["actor"] == {"type": "contact", "id": str(contact["id"]), "name": "Ana"}
    assert found[2]["audience"] == [{"division_id": None, "assigned_agent_id": None}]


async def test_first_instagram_message_creates_an_identity(ctx) -> None:
    row = await ingest(ctx, channel="instagram", contact="17841400000001", channel_message_id="m1")
    assert row is not None
    identity = await fetch(
        ctx,
        "SELECT * FROM contact_identities WHERE channel = 'instagram' AND external_id = $1",
        "17841400000001",
    )
    conv = await fetch(ctx, "SELECT * FROM conversations WHERE id = $1", row["conversation_id"])
    assert conv["contact_id"] == identity["contact_id"] and conv["channel"] == "instagram"
    # The same id on another channel is another message.
    assert await ingest(ctx, channel="messenger", contact="1", channel_message_id="m1") is not None


async def test_duplicate_inbound_is_a_no_op(ctx) -> None:
    first = await ingest(ctx, channel_message_id="wamid.dup")
    assert first is not None
    before = len(await events(ctx))
    assert await ingest(ctx, channel_message_id="wamid.dup", content={"text": "changed"}) is None
    count = await fetch(ctx, "SELECT count(*) AS n FROM messages")
    assert count["n"] == 1
    conv = await fetch(ctx, "SELECT * FROM conversations WHERE id = $1", first["conversation_id"])
    assert conv["unread_count"] == 1
    assert conv["last_message_preview"] == "Halo, pesanan saya belum sampai"
    assert len(await events(ctx)) == before


async def test_a_redelivery_does_not_reopen_a_resolved_conversation(ctx) -> None:
    first = await ingest(ctx, channel_message_id="wamid.old")
    assert first is not None
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE conversations SET status = 'resolved', resolved_at = now() WHERE id = $1",
            first["conversation_id"],
        )
    assert await ingest(ctx, channel_message_id="wamid.old") is None
    conv = await fetch(ctx, "SELECT * FROM conversations WHERE id = $1", first["conversation_id"])
    assert conv["status"] == "resolved" and conv["unread_count"] == 1


async def test_inbound_on_a_resolved_conversation_reopens_it(ctx) -> None:
    contact_id = await factories.contact(ctx, phone="6282222222222")
    division = await factories.division(ctx)
    conversation_id = await factories.conversation(
        ctx, contact_id=contact_id, division_id=division, status="resolved", unread=0
    )
    row = await ingest(ctx, contact="6282222222222")
    assert row is not None and row["conversation_id"] == conversation_id
    conv = await fetch(ctx, "SELECT * FROM conversations WHERE id = $1", conversation_id)
    assert (conv["status"], conv["resolved_at"], conv["unread_count"]) == ("open", None, 1)
    found = await events(ctx)
    assert [e["type"] for e in found] == ["conversation.reopened", "message.created"]
    assert found[0]["data"]["conversation"]["status"] == "open"
    assert found[1]["data"]["conversation"]["status"] == "open"
    assert found[1]["audience"] == [{"division_id": str(division), "assigned_agent_id": None}]
    assert all(e["conversation_id"] == conversation_id for e in found)


async def test_a_late_message_never_rewinds_the_conversation(ctx) -> None:
    now = datetime.now(UTC)
    first = await ingest(ctx, content={"text": "newest"}, occurred_at=now)
    assert first is not None
    late = await ingest(ctx, content={"text": "older"}, occurred_at=now - timedelta(minutes=5))
    assert late is not None and late["conversation_id"] == first["conversation_id"]
    conv = await fetch(ctx, "SELECT * FROM conversations WHERE id = $1", first["conversation_id"])
    assert conv["last_message_preview"] == "newest"
    assert conv["last_message_at"] == now and conv["last_inbound_at"] == now
    assert conv["unread_count"] == 2


async def test_reply_context_links_the_quoted_message(ctx) -> None:
    first = await ingest(ctx, channel_message_id="wamid.quoted")
    reply = await ingest(ctx, reply_to_channel_message_id="wamid.quoted")
    assert first is not None and reply is not None
    assert reply["reply_to_id"] == first["id"]


async def test_invalid_inbound_is_refused_with_a_reason(ctx) -> None:
    with pytest.raises(service.InboundError, match="WhatsApp id"):
        await ingest(ctx, contact="not-a-number")
    with pytest.raises(service.InboundError, match="order"):
        await ingest(ctx, type="order")
    assert (await fetch(ctx, "SELECT count(*) AS n FROM contacts"))["n"] == 0


def test_previews_are_readable_and_short() -> None:
    assert preview("image", {}) == "📷 Photo"
    assert preview("image", {"caption": "the box"}) == "📷 the box"
    assert preview("document", {"filename": "invoice.pdf"}) == "📄 invoice.pdf"
    assert preview("location", {"latitude": 1, "longitude": 2}) == "📍 Location"
    assert preview("reaction", {"emoji": "👍"}) == "Reacted 👍"
    assert preview("unsupported", {}) == "Unsupported message"
    assert preview("text", {"text": "two\n\nlines"}) == "two lines"
    long = preview("text", {"text": "x" * 500})
    assert len(long) == 200 and long.endswith("…")


# Delivery statuses ------------------------------------------------------------------------


async def apply(ctx: AppContext, channel_id: str, status: str, **kw: Any) -> service.StatusChange:
    async with transaction(ctx.pool) as tx:
        return await service.apply_status(
            tx, "whatsapp", channel_id, status, kw.pop("at", datetime.now(UTC)), **kw
        )


async def test_statuses_only_move_forward(ctx) -> None:
    conversation_id = await factories.conversation(ctx)
    message_id = await outbound(ctx, conversation_id, "sent", "wamid.out")
    read_at = datetime.now(UTC)
    change = await apply(ctx, "wamid.out", "read", at=read_at)
    assert change.changed and change.message is not None
    assert change.message["status"] == "read"
    late = await apply(ctx, "wamid.out", "delivered")
    assert late.found and not late.changed
    assert not (await apply(ctx, "wamid.out", "read")).changed  # repeated receipt
    assert not (await apply(ctx, "wamid.out", "failed", error_code="131026")).changed
    row = await fetch(ctx, "SELECT * FROM messages WHERE id = $1", message_id)
    assert row["status"] == "read" and row["read_at"] == read_at
    assert row["delivered_at"] == read_at  # implied by the read receipt
    assert row["error_code"] is None
    updates = [e for e in await events(ctx) if e["type"] == "message.updated"]
    assert len(updates) == 1 and updates[0]["data"]["message"]["status"] == "read"


async def test_failed_is_final(ctx) -> None:
    conversation_id = await factories.conversation(ctx)
    message_id = await outbound(ctx, conversation_id, "sent", "wamid.f")
    change = await apply(
        ctx, "wamid.f", "failed", error_code="131047", error_reason="outside the 24 h window"
    )
    assert change.changed
    for later in ("delivered", "read", "sent"):
        assert not (await apply(ctx, "wamid.f", later)).changed
    row = await fetch(ctx, "SELECT * FROM messages WHERE id = $1", message_id)
    assert (row["status"], row["error_code"]) == ("failed", "131047")
    assert row["error_reason"] == "outside the 24 h window" and row["failed_at"] is not None
    assert row["delivered_at"] is None


async def test_unknown_and_inbound_ids_are_not_updated(ctx) -> None:
    unknown = await apply(ctx, "wamid.nobody", "delivered")
    assert not unknown.found and not unknown.changed
    inbound = await ingest(ctx, channel_message_id="wamid.in")
    assert inbound is not None
    assert not (await apply(ctx, "wamid.in", "read")).changed
    row = await fetch(ctx, "SELECT status FROM messages WHERE id = $1", inbound["id"])
    assert row["status"] == "received"
    with pytest.raises(service.InboundError):
        await apply(ctx, "wamid.in", "pending")


# Timeline ---------------------------------------------------------------------------------


async def test_timeline_pages_walk_every_message_once(ctx, client, admin: Agent) -> None:
    contact_id = await factories.contact(ctx, phone="6283333333333")
    conversation_id = await factories.conversation(ctx, contact_id=contact_id)
    base = datetime.now(UTC) - timedelta(hours=1)
    for i in range(23):  # groups of three share a timestamp: the id breaks the tie
        await ingest(ctx, contact="6283333333333", occurred_at=base + timedelta(seconds=i // 3))
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, created_at FROM messages WHERE conversation_id = $1", conversation_id
        )
    expected = [str(r["id"]) for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]))]
    assert len(expected) == 23
    url = f"/api/v1/conversations/{conversation_id}/messages"
    for order, want in (("desc", expected[::-1]), ("asc", expected)):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 5, "order": order}
            if cursor:
                params["cursor"] = cursor
            r = await client.get(url, params=params, headers=admin.headers)
            assert r.status_code == 200, r.text
            page = r.json()
            assert len(page["items"]) <= 5
            seen += [m["id"] for m in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == want, order
    default = (await client.get(url, headers=admin.headers)).json()
    assert [m["id"] for m in default["items"]] == expected[::-1]  # newest first by default


async def test_timeline_refuses_bad_cursors_and_hidden_conversations(
    ctx, client, actors: Actors
) -> None:
    mine, other = await factories.division(ctx), await factories.division(ctx)
    conversation_id = await factories.conversation(ctx, division_id=mine)
    outsider = await actors.make("agent", divisions=[other])
    member = await actors.make("agent", divisions=[mine])
    url = f"/api/v1/conversations/{conversation_id}/messages"
    problem(await client.get(url, headers=outsider.headers), 404)
    problem(
        await client.get(f"/api/v1/conversations/{UUID(int=1)}/messages", headers=member.headers),
        404,
    )
    assert (await client.get(url, headers=member.headers)).status_code == 200
    body = problem(await client.get(url, params={"cursor": "bm9wZQ"}, headers=member.headers), 400)
    assert fields(body) == {"cursor"}


# Replies ----------------------------------------------------------------------------------


async def test_a_reply_is_stored_pending_and_counted(ctx, client, actors: Actors) -> None:
    division = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[division])
    conversation_id = await factories.conversation(
        ctx, division_id=division, assigned_agent_id=agent.id, unread=3, status="resolved"
    )
    url = f"/api/v1/conversations/{conversation_id}/messages"
    r = await client.post(
        url, json={"type": "text", "text": "Sudah kami kirim"}, headers=agent.headers
    )
    assert r.status_code == 201, r.text
    msg = r.json()
    assert (msg["status"], msg["direction"], msg["sender_agent_id"]) == (
        "pending",
        "outbound",
        str(agent.id),
    )
    assert msg["content"] == {"text": "Sudah kami kirim"} and msg["next_attempt_at"]
    conv = await fetch(ctx, "SELECT * FROM conversations WHERE id = $1", conversation_id)
    assert conv["last_message_preview"] == "Sudah kami kirim"
    assert conv["unread_count"] == 3  # a reply is not unread
    assert conv["status"] == "resolved"  # replying does not reopen (Chatwoot's behaviour)
    created = [e for e in await events(ctx) if e["type"] == "message.created"]
    assert len(created) == 1 and created[0]["data"]["message"]["id"] == msg["id"]
    assert created[0]["actor"]["id"] == str(agent.id)

    quoted = await client.post(
        url,
        json={"type": "text", "text": "Ini nomor resinya", "reply_to_message_id": msg["id"]},
        headers=agent.headers,
    )
    assert quoted.status_code == 201 and quoted.json()["reply_to_id"] == msg["id"]


async def test_reply_validation(ctx, client, actors: Actors) -> None:
    division, other = await factories.division(ctx), await factories.division(ctx)
    agent = await actors.make("agent", divisions=[division])
    conversation_id = await factories.conversation(ctx, division_id=division)
    elsewhere = await factories.conversation(ctx)
    foreign = await outbound(ctx, elsewhere, "sent", "wamid.elsewhere")
    url = f"/api/v1/conversations/{conversation_id}/messages"

    async def post(body: dict[str, Any], who: Agent = agent) -> Any:
        return await client.post(url, json=body, headers=who.headers)

    assert fields(problem(await post({"type": "text", "text": "x" * 4097}), 422)) == {"text"}
    assert (await post({"type": "text", "text": "x" * 4096})).status_code == 201
    assert fields(problem(await post({"type": "text", "text": "  "}), 422)) == {"text"}
    assert fields(problem(await post({"type": "image"}), 422)) == {"media_id"}
    assert fields(problem(await post({"type": "sticker", "text": "a"}), 422)) == {"type"}
    body = problem(
        await post({"type": "text", "text": "a", "reply_to_message_id": str(foreign)}), 422
    )
    assert fields(body) == {"reply_to_message_id"}
    outsider = await actors.make("agent", divisions=[other])
    problem(await post({"type": "text", "text": "a"}, outsider), 404)
    count = await fetch(
        ctx, "SELECT count(*) AS n FROM messages WHERE conversation_id = $1", conversation_id
    )
    assert count["n"] == 1  # only the valid 4096-character reply


MALFORMED_LINKS = (
    "http://[::1/x.png",  # urlsplit: ValueError("Invalid IPv6 URL")
    "https://cdn.example.com:70000/a.png",  # .port: ValueError("Port out of range")
    "https://cdn.example.com:port/a.png",  # .port: not a number
)


@pytest.mark.parametrize("link", MALFORMED_LINKS)
async def test_a_malformed_media_link_is_a_422_naming_link(ctx, client, admin, link) -> None:
    """Once a 500: the URL parser raised on these. Replies and scheduled messages share the
    check; neither stores anything."""
    conversation_id = await factories.conversation(ctx)
    base = f"/api/v1/conversations/{conversation_id}"
    body = {"type": "image", "link": link}
    r = await client.post(f"{base}/messages", json=body, headers=admin.headers)
    assert fields(problem(r, 422)) == {"link"}
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await client.post(
        f"{base}/scheduled-messages", json={**body, "scheduled_at": later}, headers=admin.headers
    )
    assert fields(problem(r, 422)) == {"link"}
    stored = await fetch(
        ctx,
        "SELECT (SELECT count(*) FROM messages WHERE conversation_id = $1)"
        " + (SELECT count(*) FROM scheduled_messages WHERE conversation_id = $1) AS n",
        conversation_id,
    )
    assert stored["n"] == 0
    ok = {"type": "image", "link": "https://cdn.example.com:8443/a.png"}  # a port is fine
    r = await client.post(f"{base}/messages", json=ok, headers=admin.headers)
    assert r.status_code == 201, r.text


# Uploads and media ------------------------------------------------------------------------


async def upload(
    client,
    agent: Agent,
    conversation_id: UUID,
    content: bytes = PNG,
    filename: str = "photo.png",
    mime: str = "image/png",
) -> Any:
    return await client.post(
        f"/api/v1/conversations/{conversation_id}/uploads",
        files={"file": (filename, content, mime)},
        headers=agent.headers,
    )


async def test_upload_and_download(ctx, client, actors: Actors) -> None:
    division, other = await factories.division(ctx), await factories.division(ctx)
    agent = await actors.make("agent", divisions=[division])
    conversation_id = await factories.conversation(ctx, division_id=division)
    r = await upload(client, agent, conversation_id, filename='../etc/fa"ç ade.png')
    assert r.status_code == 201, r.text
    media = r.json()
    assert media["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert (media["size_bytes"], media["mime_type"]) == (len(PNG), "image/png")
    assert media["filename"] == 'fa"ç ade.png'
    row = await fetch(ctx, "SELECT * FROM media WHERE id = $1", UUID(media["id"]))
    assert (row["origin"], row["conversation_id"], row["uploaded_by"]) == (
        "upload",
        conversation_id,
        agent.id,
    )
    stored = ctx.settings.media_dir / row["storage_path"]
    assert stored.read_bytes() == PNG and "photo" not in stored.name

    got = await client.get(media["url"], headers=agent.headers)
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == (
        "inline; filename=\"fa__ ade.png\"; filename*=UTF-8''fa%22%C3%A7%20ade.png"
    )
    outsider = await actors.make("agent", divisions=[other])
    problem(await client.get(media["url"], headers=outsider.headers), 404)
    supervisor = await actors.make("supervisor", divisions=[division])
    assert (await client.get(media["url"], headers=supervisor.headers)).status_code == 200
    problem(await upload(client, outsider, conversation_id), 404)

    send = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"type": "image", "media_id": media["id"], "caption": "the box"},
        headers=agent.headers,
    )
    assert send.status_code == 201, send.text
    assert send.json()["media"]["mime_type"] == "image/png"
    assert send.json()["content"] == {"caption": "the box"}
    wrong = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"type": "video", "media_id": media["id"]},
        headers=agent.headers,
    )
    assert fields(problem(wrong, 422)) == {"media_id"}
    elsewhere = await factories.conversation(ctx, division_id=division)
    foreign = await client.post(
        f"/api/v1/conversations/{elsewhere}/messages",
        json={"type": "image", "media_id": media["id"]},
        headers=agent.headers,
    )
    assert fields(problem(foreign, 422)) == {"media_id"}


async def test_uploads_of_refused_types(ctx, client, admin: Agent) -> None:
    conversation_id = await factories.conversation(ctx)
    body = problem(
        await upload(client, admin, conversation_id, b"<svg/>", "x.svg", "image/svg+xml"), 415
    )
    # The type refused, and what may be sent, in a short phrase rather than a list of types.
    assert body["detail"] == (
        "Files of type image/svg+xml can't be sent. "
        "Allowed: images, video, audio, PDF, text and Office documents."
    )
    assert body["allowed_kinds"] == ["images", "video", "audio", "pdf", "text", "office"]
    problem(
        await upload(
            client,
            admin,
            conversation_id,
            b"MZ\x90\x00" + bytes(60),
            "x.exe",
            "application/octet-stream",
        ),
        415,
    )
    # Disguised: the declared type is accepted, the content is something else.
    disguised = problem(
        await upload(
            client, admin, conversation_id, b"MZ\x90\x00" + bytes(60), "cat.png", "image/png"
        ),
        415,
    )
    assert disguised["declared_type"] == "image/png"
    problem(
        await upload(
            client,
            admin,
            conversation_id,
            b"<html><script>x</script>",
            "doc.pdf",
            "application/pdf",
        ),
        415,
    )
    problem(await upload(client, admin, conversation_id, PNG, "notes.txt", "text/plain"), 415)
    assert (
        await upload(client, admin, conversation_id, PDF, "a.pdf", "application/pdf")
    ).status_code == 201
    assert (
        await upload(client, admin, conversation_id, "halo ✓\n".encode(), "a.txt", "text/plain")
    ).status_code == 201
    empty = problem(await upload(client, admin, conversation_id, b"", "e.png"), 422)
    assert fields(empty) == {"file"}
    no_file = problem(
        await client.post(
            f"/api/v1/conversations/{conversation_id}/uploads",
            data={"other": "x"},
            files={"x": ("a", b"b")},
            headers=admin.headers,
        ),
        422,
    )
    assert fields(no_file) == {"file"}
    count = await fetch(ctx, "SELECT count(*) AS n FROM media")
    assert count["n"] == 2


async def test_oversize_uploads_are_refused(ctx, client, admin: Agent, monkeypatch) -> None:
    monkeypatch.setattr(ctx, "settings", ctx.settings.model_copy(update={"upload_max_bytes": 4096}))
    conversation_id = await factories.conversation(ctx)
    url = f"/api/v1/conversations/{conversation_id}/uploads"
    uploads = ctx.settings.media_dir / "uploads"
    before = sorted(uploads.rglob("*")) if uploads.exists() else []

    # Declared by Content-Length: refused before the body is read.
    body = problem(await upload(client, admin, conversation_id, PNG + bytes(200_000)), 413)
    assert body["max_bytes"] == 4096
    assert (
        await upload(client, admin, conversation_id, PNG + bytes(4096 - len(PNG)))
    ).status_code == 201

    # No Content-Length (chunked): counted while streaming, for the file and for the body.
    boundary = "b0undary"

    async def chunked(size: int, junk: int = 0) -> Any:
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="pad"\r\n\r\n').encode()
        for _ in range(junk):
            yield bytes(8192)
        yield (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="big.png"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        yield PNG
        for _ in range(size // 1024):
            yield bytes(1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {**admin.headers, "content-type": f"multipart/form-data; boundary={boundary}"}
    problem(await client.post(url, content=chunked(8192), headers=headers), 413)
    problem(await client.post(url, content=chunked(0, junk=20), headers=headers), 413)
    after = sorted(uploads.rglob("*"))
    assert not [p for p in after if p.suffix == ".part"]
    assert len([p for p in after if p.is_file()]) == len([p for p in before if p.is_file()]) + 1
