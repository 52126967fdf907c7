"""Validation errors speak to people: short phrases ("Required", "Not a valid email address")
next to a stable type and the limits they name, every bad field of a body reported at once
(the contact's phone too), and no programmer's wording ("String should have…", "Value
error, …")."""

from __future__ import annotations

from typing import Any

import pytest

from omnistream.kit.field_messages import human_error
from tests.conftest import Actors, Agent, problem

CONTACTS = "/api/v1/contacts"


def by_field(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["field"]: e for e in body["errors"]}


async def test_a_contact_with_several_bad_fields_has_each_reported_at_once(
    ctx, client, admin: Agent
) -> None:
    r = await client.post(
        CONTACTS,
        headers=admin.headers,
        json={
            "name": "x" * 201,
            "phone": "12345",
            "email": "not-an-email",
            "profile_pic_url": "ftp://example.com/a.png",
            "identities": [{"channel": "fax", "external_id": "1"}],
        },
    )
    errors = by_field(problem(r, 422))
    assert {f: (e["type"], e["message"]) for f, e in errors.items()} == {
        "name": ("string_too_long", "Must be at most 200 characters"),
        # The server's default region is ID: the example is an Indonesian mobile number.
        "phone": ("phone", "Not a valid phone number (for example +62 812-345-678)"),
        "email": ("email", "Not a valid email address"),
        "profile_pic_url": ("url_scheme", "Must be an http:// or https:// link"),
        "identities.0.channel": (
            "enum",
            "Must be one of: whatsapp, instagram, email, messenger",
        ),
    }
    assert errors["phone"]["example"] == "+62 812-345-678"
    assert errors["identities.0.channel"]["allowed"] == [
        "whatsapp",
        "instagram",
        "email",
        "messenger",
    ]
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM contacts") == 0


async def test_an_edit_reports_a_bad_phone_with_the_other_bad_fields(client, admin: Agent) -> None:
    r = await client.post(CONTACTS, headers=admin.headers, json={"name": "Budi"})
    url = f"{CONTACTS}/{r.json()['id']}"
    r = await client.patch(
        url, headers=admin.headers, json={"phone": "999", "email": "budi@", "name": None}
    )
    errors = by_field(problem(r, 422))
    assert {f: e["type"] for f, e in errors.items()} == {
        "phone": "phone",
        "email": "email",
        "name": "value_error",
    }
    # Our own validators' words, without pydantic's "Value error, " and starting upper-case.
    assert errors["name"]["message"] == 'Cannot be null; send "" to clear it'
    assert (await client.get(url, headers=admin.headers)).json()["name"] == "Budi"


async def test_common_errors_read_as_short_phrases(client, actors: Actors) -> None:
    admin = await actors.make("admin")
    r = await client.post(
        "/api/v1/agents",
        headers=admin.headers,
        json={"email": "a@example.com", "name": "   ", "password": "short", "role": "boss"},
    )
    errors = by_field(problem(r, 422))
    assert {f: e["message"] for f, e in errors.items()} == {
        "name": "Required",
        "password": "Must be at least 8 characters",
        "role": "Must be one of: admin, supervisor, agent",
    }
    r = await client.post("/api/v1/divisions", headers=admin.headers, json={})
    assert by_field(problem(r, 422))["name"]["message"] == "Required"
    r = await client.get(f"{CONTACTS}/nope", headers=admin.headers)
    assert by_field(problem(r, 422))["contact_id"]["message"] == "Not a valid id"
    r = await client.get(CONTACTS, headers=admin.headers, params={"limit": "many"})
    assert by_field(problem(r, 422))["limit"]["message"] == "Must be a whole number"
    r = await client.get(CONTACTS, headers=admin.headers, params={"limit": 0})
    limit = by_field(problem(r, 422))["limit"]
    assert (limit["message"], limit["ge"]) == ("Must be at least 1", 1)


@pytest.mark.parametrize(
    ("error_type", "message", "context", "expected"),
    [
        ("missing", "Field required", None, "Required"),
        (
            "string_too_short",
            "String should have at least 1 character",
            {"min_length": 1},
            "Required",
        ),
        (
            "too_long",
            "List should have at most 1 item",
            {"max_length": 1},
            "Must have at most 1 item",
        ),
        (
            "url_scheme",
            "URL scheme should be 'https'",
            {"expected_schemes": "'https'"},
            "Must be a https:// link",
        ),
        ("url_parsing", "Input should be a valid URL, …", {"error": "x"}, "Not a valid link"),
        (
            "datetime_from_date_parsing",
            "Input should be a valid datetime",
            None,
            "Not a valid date and time",
        ),
        ("timezone_aware", "Input should have timezone info", None, "Must include a time zone"),
        (
            "value_error",
            "value is not a valid email address: An email address must have an @-sign.",
            None,
            "Not a valid email address",
        ),
        (
            "value_error",
            "Value error, must be a port number from 1 to 65535",
            None,
            "Must be a port number from 1 to 65535",
        ),
        (
            "missing_target",
            "name an agent_id, a division_id or both",
            None,
            "Name an agent_id, a division_id or both",
        ),
    ],
)
def test_pydantic_types_map_to_phrases(
    error_type: str, message: str, context: dict[str, Any] | None, expected: str
) -> None:
    assert human_error(error_type, message, context)["message"] == expected
