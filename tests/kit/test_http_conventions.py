"""Cross-cutting HTTP conventions: request ids, problem bodies, text the database refuses."""

from __future__ import annotations

import base64
import json

from tests import factories
from tests.conftest import Actors, fields, problem


async def test_request_id_round_trip(client) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert (
        r.headers["x-request-id"] != "bad id with spaces" and len(r.headers["x-request-id"]) == 32
    )
    body = problem(await client.get("/nope"), 404)
    assert body["request_id"] == r.headers["x-request-id"] or body["request_id"]


async def test_nul_characters_are_bad_input_not_500(client, actors: Actors) -> None:
    admin = await actors.make("admin")
    r = await client.get("/api/v1/agents", headers=admin.headers, params={"q": "a\x00b"})
    assert fields(problem(r, 422)) == {"q"}
    r = await client.post("/api/v1/divisions", headers=admin.headers, json={"name": "Sales\u0000"})
    assert fields(problem(r, 422)) == {"name"}
    listed = await client.get("/api/v1/divisions", headers=admin.headers)
    assert listed.json()["items"] == []  # nothing written


async def test_a_nul_anywhere_is_a_422_naming_the_field_before_any_write(
    ctx, client, actors: Actors
) -> None:
    admin = await actors.make("admin")
    division = await factories.division(ctx)
    cid = await factories.conversation(ctx)
    conv = f"/api/v1/conversations/{cid}"
    nul = "a\u0000b"
    cases = [
        ("POST", f"{conv}/notes", {"body": nul}, {"body"}),
        ("POST", f"{conv}/messages", {"type": "text", "text": nul}, {"text"}),
        ("POST", f"{conv}/transfer", {"division_id": str(division), "reason": nul}, {"reason"}),
        (
            "POST",
            "/api/v1/contacts",
            {"name": nul, "identities": [{"channel": "instagram", "external_id": nul}]},
            {"name", "identities.0.external_id"},
        ),
        ("POST", "/api/v1/quick-replies", {"title": nul, "body": "Halo"}, {"title"}),
        ("POST", "/api/v1/contacts", {"name": "Budi", "e\u0000mail": "x"}, {"e\\u0000mail"}),
    ]
    for method, url, body, names in cases:
        r = await client.request(method, url, json=body, headers=admin.headers)
        err = problem(r, 422)
        assert fields(err) == names, (url, err)
        assert {e["in"] for e in err["errors"]} == {"body"} and err["request_id"]
    r = await client.get("/api/v1/conversations", headers=admin.headers, params={"q": "x\x00"})
    err = problem(r, 422)
    assert err["errors"] == [
        {
            "field": "q",
            "in": "query",
            "message": "Must not contain NUL characters (\\u0000)",
            "type": "string_nul",
        }
    ]
    async with ctx.pool.acquire() as conn:
        written = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM conversation_notes) AS notes,"
            " (SELECT count(*) FROM messages) AS messages,"
            " (SELECT count(*) FROM conversation_transfers) AS transfers,"
            " (SELECT count(*) FROM contacts) AS contacts,"
            " (SELECT count(*) FROM quick_replies) AS quick_replies,"
            " (SELECT count(*) FROM event_outbox) AS events,"
            " (SELECT division_id FROM conversations) AS division"
        )
    assert dict(written) == {
        "notes": 0,
        "messages": 0,
        "transfers": 0,
        "contacts": 1,  # the conversation's own
        "quick_replies": 0,
        "events": 0,
        "division": None,
    }
    # An escaped backslash before "u0000" is text, not a NUL: it goes through.
    r = await client.post(f"{conv}/notes", json={"body": "C:\\u0000"}, headers=admin.headers)
    assert r.status_code == 201 and r.json()["body"] == "C:\\u0000", r.text
    # Malformed JSON that happens to hold the escape stays a 400.
    r = await client.post(
        f"{conv}/notes",
        content=b'{"body": "\\u0000',
        headers={**admin.headers, "content-type": "application/json"},
    )
    problem(r, 400)


async def test_method_not_allowed_is_a_problem(client) -> None:
    body = problem(await client.delete("/healthz"), 405)
    assert body["type"].endswith("method-not-allowed")


async def test_readyz_reports_ready(client) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}


async def test_validation_errors_carry_their_type_and_limit(client, actors: Actors) -> None:
    """So that a client can say them in its own language (the web app in Indonesian)."""
    admin = await actors.make("admin")
    r = await client.post(
        "/api/v1/agents",
        headers=admin.headers,
        json={"email": "not-an-email", "name": "x" * 201, "password": "short"},
    )
    errors = {e["field"]: e for e in problem(r, 422)["errors"]}
    assert (errors["email"]["type"], errors["email"]["message"]) == (
        "email",
        "Not a valid email address",
    )
    assert (errors["name"]["type"], errors["name"]["max_length"]) == ("string_too_long", 200)
    assert (errors["password"]["type"], errors["password"]["min_length"]) == (
        "string_too_short",
        8,
    )
    r = await client.post("/api/v1/divisions", headers=admin.headers, json={})
    assert [(e["field"], e["type"]) for e in problem(r, 422)["errors"]] == [("name", "missing")]


def _cursor(values: object) -> str:
    raw = json.dumps(values).encode()  # json: orjson refuses integers beyond 64 bits
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Well-formed JSON of the wrong types or at the calendar's edges: each once gave a 500.
FORGED_CURSORS = [
    _cursor(["2026-01-01T00:00:00Z", 123]),
    _cursor([123, "2c0f2b8e-8b8e-4a8e-9c1e-0c2f2b8e8b8e"]),
    _cursor(["9999-12-31T23:59:59-05:00", "2c0f2b8e-8b8e-4a8e-9c1e-0c2f2b8e8b8e"]),
    _cursor(["0001-01-01T00:00:00+05:00", "2c0f2b8e-8b8e-4a8e-9c1e-0c2f2b8e8b8e"]),
    _cursor(["2026-01-01T00:00:00", "2c0f2b8e-8b8e-4a8e-9c1e-0c2f2b8e8b8e"]),
    _cursor(["a", 5]),
    _cursor([True, 2**70]),
    _cursor([["x"], {"y": 1}]),
]
NEVER_VALID = FORGED_CURSORS[-2:]


REQUIRED_QUERY = {"q": "halo"}


async def test_forged_cursors_are_400_on_every_paged_route(app, client, actors: Actors) -> None:
    admin = await actors.make("admin")
    ctx = app.state.ctx
    known = {
        "conversation_id": await factories.conversation(ctx),
        "contact_id": await factories.contact(ctx, name="Cursor Case"),
        "division_id": await factories.division(ctx),
        "agent_id": admin.id,
    }
    paged = [
        (path, op)
        for path, ops in app.openapi()["paths"].items()
        for method, op in ops.items()
        if method == "get" and any(p["name"] == "cursor" for p in op.get("parameters", []))
    ]
    assert len(paged) >= 8  # conversations, messages, notes, contacts, agents, activity...
    checked = 0
    for path, op in paged:
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        if any(n not in known for n in names):
            continue
        url = path.format(**{n: known[n] for n in names})
        # A required query parameter gets a valid value (search's `q`), so the cursor decides.
        required = {
            p["name"]: REQUIRED_QUERY[p["name"]]
            for p in op.get("parameters", [])
            if p["in"] == "query" and p.get("required")
        }
        for cursor in FORGED_CURSORS:
            r = await client.get(url, headers=admin.headers, params={**required, "cursor": cursor})
            # Some are well-typed for a route sorted by text (a name is any string): 200.
            if r.status_code != 200 or cursor in NEVER_VALID:
                assert "cursor" in fields(problem(r, 400)), (url, cursor)
        checked += 1
    assert checked >= 8


async def test_an_oversized_api_body_is_413_before_it_is_read_whole(client, actors: Actors) -> None:
    admin = await actors.make("admin")
    url = "/api/v1/contacts"
    big = b'{"name": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    headers = admin.headers | {"content-type": "application/json"}
    body = problem(await client.post(url, content=big, headers=headers), 413)
    assert body["type"].endswith("payload-too-large") and "2 MiB" in body["detail"]

    async def chunks():  # no Content-Length: counted as it arrives
        for _ in range(3):
            yield b" " * (1024 * 1024)
        yield b'{"name": "Chunked"}'

    problem(await client.post(url, content=chunks(), headers=headers), 413)
    plain = admin.headers | {"content-type": "text/plain"}
    problem(await client.post(url, content=big, headers=plain), 413)
    # Under the limit it is an ordinary request again.
    r = await client.post(url, json={"name": "Small Body"}, headers=admin.headers)
    assert r.status_code == 201, r.text
    listed = await client.get(url, headers=admin.headers, params={"q": "Chunked"})
    assert listed.json()["items"] == []
