"""Renders docs/rbac.md's matrix from the permission table and the app's routes."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute

from omnistream.auth.guard import route_permissions
from omnistream.auth.permissions import MATRIX, Perm, allowed
from omnistream.kit.enums import Role


def render_matrix(app: FastAPI) -> str:
    roles = list(Role)
    lines = [
        "| permission | " + " | ".join(r.value for r in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for perm in Perm:
        marks = ["yes" if allowed(role, perm) else "—" for role in roles]
        lines.append(f"| `{perm.value}` | " + " | ".join(marks) + " |")
    lines += ["", "| method | path | permission |", "|---|---|---|"]
    rows = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            perms = route_permissions(route)
            for method in sorted(route.methods or ()):
                rows.append((route.path, method, ", ".join(f"`{p}`" for p in perms)))
        elif isinstance(route, APIWebSocketRoute):
            perms = route_permissions(route)
            rows.append((route.path, "WebSocket", ", ".join(f"`{p}`" for p in perms)))
    for path, method, perm_text in sorted(rows):
        lines.append(f"| {method} | `{path}` | {perm_text} |")
    assert set(MATRIX) == set(roles)
    return "\n".join(lines) + "\n"
