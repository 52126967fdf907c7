"""The OpenAPI document tells the truth about errors.

FastAPI documents a 422 in its own validation shape and nothing else. Here every operation
gets the statuses it can really answer, each as `application/problem+json` with the problem
schema of kit/errors.py. What is derived from the route itself:

- 401 and 403 from its permission (the caller passes these: kit knows no roles),
- 400 (malformed JSON or multipart), 413 and 422 when it takes a body (415 too for an
  upload), 422 when it takes parameters,
- 404 when its path names a record, 400 when it pages with a cursor.

Anything else a route can answer (409, 429, 502, a 403 of a service rule, a 401 of a public
route) it declares with `responses=problems(409, ...)` or its own `responses={...}` entry;
the content is filled in here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi.routing import APIRoute
from pydantic_core import CoreSchema

from omnistream.kit.errors import PROBLEM_JSON
from omnistream.kit.pagination import MAX_LIMIT

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}


def upload_body(**fields: dict[str, Any]) -> dict[str, Any]:
    """openapi_extra of an upload route: a multipart body with the file in field `file`
    and these other form fields (name -> JSON schema)."""
    properties = {"file": {"type": "string", "format": "binary"}, **fields}
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


# What each status means in this API (docs/errors.md has the problem types).
WHY: dict[int, str] = {
    400: "Bad request: the body is not valid JSON, or a malformed `cursor`",
    401: "No, expired, tampered or revoked access token",
    403: "The caller's role lacks this route's permission",
    404: "No such record, or one the caller may not see",
    409: "Conflict with the current state",
    413: "The request body is larger than allowed",
    415: "The upload's type is not accepted",
    422: "Invalid input: each offending field is named in `errors`",
    429: "Too many requests: wait `retry_after` seconds (also in `Retry-After`)",
    502: "A Graph API call the request needed failed; `detail` gives Meta's reason",
    503: "Not ready, or busy for a moment (e.g. reports being rebuilt): retry shortly",
}
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"
CURSOR_HELP = (
    "Opaque: pass `next_cursor` from the previous page unchanged. Any other value "
    "(not base64url, or not a cursor of this list) is refused with 400 naming `cursor`."
)

PROBLEM_SCHEMAS: dict[str, Any] = {
    "ProblemDetails": {
        "title": "ProblemDetails",
        "description": "RFC 9457 problem details: every error of the API has this shape.",
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {
                "type": "string",
                "pattern": "^urn:omnistream:problem:[a-z-]+$",
                "description": "Stable problem type, `urn:omnistream:problem:` + a slug.",
                "examples": ["urn:omnistream:problem:validation"],
            },
            "title": {"type": "string", "description": "Short, the same for every such type."},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "What went wrong, for a person."},
            "instance": {"type": "string", "description": "The request's path."},
            "request_id": {
                "type": "string",
                "description": "As in the X-Request-ID header and the server's log.",
            },
            "errors": {
                "type": "array",
                "description": "The offending fields (validation and field conflicts).",
                "items": {"$ref": "#/components/schemas/ProblemFieldError"},
            },
            "retry_after": {
                "type": "integer",
                "description": "429: seconds to wait, as in the Retry-After header.",
            },
        },
    },
    "ProblemFieldError": {
        "title": "ProblemFieldError",
        "type": "object",
        "required": ["field", "message"],
        "properties": {
            "field": {
                "type": "string",
                "description": "Dotted path of the field (`identities.0.external_id`), or a "
                "parameter's name.",
            },
            "message": {"type": "string"},
            "in": {"type": "string", "enum": ["body", "query", "path", "header", "cookie"]},
            "type": {
                "type": "string",
                "description": "pydantic's error type (`missing`, `string_too_short`, …) or "
                "`string_nul`, for a client to word the error itself.",
            },
            "min_length": {"type": "integer"},
            "max_length": {"type": "integer"},
        },
    },
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=problems(409, 502)`: statuses a route answers beyond the derived ones."""
    return {status: {"description": WHY[status]} for status in statuses}


def derived_statuses(route: APIRoute) -> set[int]:
    """The error statuses a route can answer, read from its parameters."""
    statuses: set[int] = set()
    dependant = route.dependant
    if dependant.path_params:
        statuses |= {404, 422}
    if dependant.query_params or dependant.header_params or dependant.cookie_params:
        statuses.add(422)
    if any(p.alias == "cursor" for p in dependant.query_params):
        statuses.add(400)
    return statuses


def document_errors(
    schema: dict[str, Any],
    routes: Iterable[APIRoute],
    auth_statuses: Callable[[APIRoute], set[int]],
) -> None:
    """Rewrite the generated document in place (see the module's docstring);
    auth_statuses(route) are the statuses its authorization can answer (401, 403)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components.update(PROBLEM_SCHEMAS)
    paths = schema.get("paths", {})
    for route in routes:
        if not route.include_in_schema or route.path not in paths:
            continue
        for method in route.methods or ():
            operation = paths[route.path].get(method.lower())
            if operation is not None:
                statuses = derived_statuses(route) | auth_statuses(route)
                _document_operation(operation, statuses)


def _body_statuses(operation: dict[str, Any]) -> set[int]:
    """400 malformed JSON or multipart, 413 over the size limit, 422 invalid; 415 for an
    upload of a type not accepted. (Uploads declare their body in openapi_extra.)"""
    content = operation.get("requestBody", {}).get("content", {})
    if not content:
        return set()
    return {400, 413, 422} | ({415} if "multipart/form-data" in content else set())


def _document_operation(operation: dict[str, Any], derived: set[int]) -> None:
    derived = derived | _body_statuses(operation)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in derived:
        responses.setdefault(str(status), {"description": WHY[status]})
    for code, response in responses.items():
        if not code.isdigit() or int(code) < 400:
            continue
        if response.get("description") == "Validation Error":
            response["description"] = WHY[422]
        response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
    operation["responses"] = dict(sorted(responses.items()))
    for parameter in operation.get("parameters", []):
        if parameter.get("name") == "cursor" and parameter.get("in") == "query":
            parameter["description"] = CURSOR_HELP
            _cursor_schema(parameter.setdefault("schema", {}))
        elif parameter.get("name") == "limit" and parameter.get("in") == "query":
            parameter.setdefault("description", f"Items per page, 1–{MAX_LIMIT}.")


def _cursor_schema(schema: dict[str, Any]) -> None:
    for variant in schema.get("anyOf", [schema]):
        if variant.get("type") == "string":
            variant["pattern"] = CURSOR_PATTERN


class JsonSchemaExtra:
    """Annotated metadata adding keywords to a type's JSON schema only (validation is the
    type's own): `Annotated[str, ..., JsonSchemaExtra(pattern=r"\\S")]`. It says in the
    document what a validator refuses (a blank name, a URL that is not http(s))."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: Callable[[CoreSchema], dict[str, Any]]
    ) -> dict[str, Any]:
        json_schema = handler(core_schema)
        json_schema.update(self.keywords)
        return json_schema


# Stripped before the length check, so blank text is refused: the document says so.
NON_BLANK = JsonSchemaExtra(pattern=r"\S")
# Media links: https:// only (kit/links.py refuses the rest, and programs), or "" to clear.
HTTPS_LINK = JsonSchemaExtra(pattern=r"^https://\S+$")
HTTPS_LINK_OR_EMPTY = JsonSchemaExtra(pattern=r"^(https://\S+)?$")
