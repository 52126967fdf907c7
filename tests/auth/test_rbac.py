"""Every route declares one permission, and each role gets exactly what the matrix says."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount

from omnistream.auth.guard import route_permissions
from omnistream.auth.permissions import MATRIX, Perm, allowed
from omnistream.auth.rbac_doc import render_matrix
from omnistream.kit.enums import Role
from omnistream.ops.routes import DOCS_ASSETS
from tests.conftest import Actors


def api_routes(app) -> list[APIRoute]:
    return [r for r in app.routes if isinstance(r, APIRoute)]


def test_every_route_declares_exactly_one_permission(app) -> None:
    routes = [r for r in app.routes if isinstance(r, APIRoute | APIWebSocketRoute)]
    undeclared = [(r.path, route_permissions(r)) for r in routes if len(route_permissions(r)) != 1]
    assert undeclared == []
    others = [r for r in app.routes if not isinstance(r, APIRoute | APIWebSocketRoute)]
    assert all(isinstance(r, Mount) and r.path == DOCS_ASSETS for r in others), others


def test_an_undeclared_route_is_caught(app) -> None:
    """The check above really fails for a route without a permission."""
    from fastapi import FastAPI

    probe = FastAPI()

    @probe.get("/undeclared")
    async def undeclared() -> dict[str, str]:
        return {}

    assert [route_permissions(r) for r in api_routes(probe)] == [[]]


def test_matrix_is_documented(app) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "rbac.md").read_text()
    assert render_matrix(app) in doc, "docs/rbac.md is stale: run `omnistream rbac-doc`"


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


@pytest.mark.parametrize("role", list(Role))
async def test_each_role_gets_exactly_the_matrix(app, client, actors: Actors, role: Role) -> None:
    checked = 0
    for route in api_routes(app):
        (perm,) = route_permissions(route)
        for method in sorted(route.methods):
            agent = await actors.make(role.value)  # fresh session: logout / password may end it
            r = await client.request(method, _url(route.path), headers=agent.headers, json={})
            if route.path.startswith("/webhooks/"):
                # Signed by the sender: a bearer token neither helps nor hurts.
                assert r.status_code in (401, 403, 422), (role, method, route.path, r.text)
            elif allowed(role, perm):
                assert r.status_code not in (401, 403), (role, method, route.path, r.text)
            else:
                assert r.status_code == 403, (role, method, route.path, r.status_code)
                assert r.headers["content-type"].startswith("application/problem+json")
            assert r.status_code < 500
            checked += 1
    assert checked >= 20


async def test_without_token_only_public_routes_answer(app, client) -> None:
    for route in api_routes(app):
        (perm,) = route_permissions(route)
        for method in sorted(route.methods):
            r = await client.request(method, _url(route.path), json={})
            if perm is Perm.PUBLIC and route.path.startswith("/webhooks/"):
                # Public to tokens, but authenticated by the sender's signature instead.
                assert r.status_code == 401 or method == "GET", (method, route.path)
            elif perm is Perm.PUBLIC:
                assert r.status_code != 401, (method, route.path)
            else:
                assert r.status_code == 401, (method, route.path, r.status_code)


def test_matrix_shape() -> None:
    assert MATRIX[Role.ADMIN] >= MATRIX[Role.SUPERVISOR] >= MATRIX[Role.AGENT]
    assert Perm.AGENTS_MANAGE not in MATRIX[Role.SUPERVISOR]
    assert Perm.CONTACTS_MERGE not in MATRIX[Role.AGENT]
    assert not {Perm.AGENTS_READ, Perm.DIVISIONS_READ, Perm.ACTIVITY_READ} & MATRIX[Role.AGENT]
