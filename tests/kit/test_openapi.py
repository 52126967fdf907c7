"""The OpenAPI document's error contract (omnistream/kit/openapi.py) and the 405 Allow header:
each operation lists the problem+json statuses it can answer, and real answers match the
documented ProblemDetails schema."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
from fastapi import FastAPI

from tests.conftest import Actors, problem

PROBLEM = {"$ref": "#/components/schemas/ProblemDetails"}


def _responses(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    responses: dict[str, Any] = doc["paths"][path][method]["responses"]
    return responses


def _errors_of(responses: dict[str, Any]) -> set[int]:
    return {int(code) for code in responses if int(code) >= 400}


async def test_every_error_is_documented_as_problem_json(app: FastAPI) -> None:
    doc = app.openapi()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["ProblemDetails"]["required"] == ["type", "title", "status", "detail"]
    assert schemas["ProblemFieldError"]["required"] == ["field", "message"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    assert response["content"] == {
                        "application/problem+json": {"schema": PROBLEM}
                    }, (method, path, code)
                    assert response["description"] != "Validation Error"


async def test_each_operation_lists_the_statuses_it_can_answer(app: FastAPI) -> None:
    doc = app.openapi()
    expected = {
        # body, admin-only permission, duplicate name
        ("post", "/api/v1/divisions"): {400, 401, 403, 409, 413, 422},
        # cursor pages, query parameters, every role may read
        ("get", "/api/v1/conversations"): {400, 401, 422},
        # path id, no body
        ("get", "/api/v1/conversations/{conversation_id}"): {401, 404, 422},
        # an upload
        ("post", "/api/v1/conversations/{conversation_id}/uploads"): {
            *(400, 401, 404, 413, 415, 422)
        },
        # the Graph API call may fail; admin-only
        ("post", "/api/v1/integrations/{integration_id}/templates/sync"): {
            *(401, 403, 404, 409, 422, 502)
        },
        # public: wrong password, lockout; never 403
        ("post", "/api/v1/auth/login"): {400, 401, 413, 422, 429},
        # a note's author or an admin, whatever the role's permission
        ("delete", "/api/v1/conversations/{conversation_id}/notes/{note_id}"): {
            *(401, 403, 404, 422)
        },
        # nothing to get wrong
        ("get", "/healthz"): set(),
        ("get", "/api/v1/conversations/counts"): {401},
    }
    for (method, path), statuses in expected.items():
        assert _errors_of(_responses(doc, method, path)) == statuses, (method, path)
    cursor = next(
        p for p in doc["paths"]["/api/v1/divisions"]["get"]["parameters"] if p["name"] == "cursor"
    )
    assert "next_cursor" in cursor["description"] and "400" in cursor["description"]
    assert {"type": "string", "maxLength": 500, "pattern": "^[A-Za-z0-9_-]*$"} in cursor["schema"][
        "anyOf"
    ]


def _validator(app: FastAPI) -> Any:
    components = app.openapi()["components"]
    return jsonschema_rs.validator_for({**PROBLEM, "components": components})


async def test_real_problems_match_the_documented_schema(client, actors: Actors, app) -> None:
    admin = await actors.make("admin")
    validator = _validator(app)
    first = await client.post("/api/v1/divisions", json={"name": "Sales"}, headers=admin.headers)
    assert first.status_code == 201
    answers = [
        problem(
            await client.post("/api/v1/divisions", json={"name": "Sales"}, headers=admin.headers),
            409,
        ),
        problem(await client.post("/api/v1/divisions", json={}, headers=admin.headers), 422),
        problem(await client.get("/api/v1/divisions?cursor=nope!", headers=admin.headers), 400),
        problem(await client.get("/api/v1/divisions"), 401),
        problem(await client.put("/api/v1/divisions", headers=admin.headers), 405),
    ]
    for body in answers:
        errors = [str(e) for e in validator.iter_errors(body)]
        assert errors == [], (body, errors)
    assert answers[1]["errors"][0]["field"] == "name"


async def test_a_405_allows_every_method_the_path_serves(client, actors: Actors) -> None:
    admin = await actors.make("admin")
    r = await client.put("/api/v1/divisions", headers=admin.headers)
    body = problem(r, 405)
    assert r.headers["allow"] == "GET, POST"  # two routes share the path
    assert "GET, POST" in body["detail"]
    r = await client.put(
        "/api/v1/divisions/00000000-0000-0000-0000-000000000000", headers=admin.headers
    )
    assert problem(r, 405) and r.headers["allow"] == "DELETE, GET, PATCH"
    r = await client.get("/api/v1/auth/login")
    assert problem(r, 405) and r.headers["allow"] == "POST"


async def test_refused_values_are_described(app: FastAPI) -> None:
    """Blank names (stripped, then too short) and non-https media links are refused: the
    document says so with a pattern."""
    schemas = app.openapi()["components"]["schemas"]
    for model, field in [
        ("DivisionCreate", "name"),
        ("AgentCreate", "name"),
        ("IntegrationCreate", "name"),
        ("AccountCreate", "external_id"),
        ("QuickReplyCreate", "title"),
        ("QuickReplyCreate", "body"),
        ("NoteIn", "body"),
    ]:
        assert schemas[model]["properties"][field]["pattern"] == r"\S", (model, field)
    link = schemas["MessageCreate"]["properties"]["link"]["anyOf"][0]
    assert link["pattern"] == r"^https://\S+$"
    media_url = schemas["QuickReplyCreate"]["properties"]["media_url"]["anyOf"][0]
    assert media_url["pattern"] == r"^(https://\S+)?$"
