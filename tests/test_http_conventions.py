"""Cross-cutting HTTP conventions: request ids, problem bodies, text the database refuses."""

from __future__ import annotations

from tests.conftest import Actors, problem


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
    problem(await client.get("/api/v1/agents", headers=admin.headers, params={"q": "a\x00b"}), 422)
    r = await client.post("/api/v1/divisions", headers=admin.headers, json={"name": "Sales\u0000"})
    problem(r, 422)
    listed = await client.get("/api/v1/divisions", headers=admin.headers)
    assert listed.json()["items"] == []  # nothing written


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
    assert errors["email"]["type"] == "value_error" and "email" in errors["email"]["message"]
    assert (errors["name"]["type"], errors["name"]["max_length"]) == ("string_too_long", 200)
    assert (errors["password"]["type"], errors["password"]["min_length"]) == (
        "string_too_short",
        8,
    )
    r = await client.post("/api/v1/divisions", headers=admin.headers, json={})
    assert [(e["field"], e["type"]) for e in problem(r, 422)["errors"]] == [("name", "missing")]
