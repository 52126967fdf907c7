"""Central authorization: the dependency every route declares exactly once."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute, APIWebSocketRoute

from omnistream.auth.permissions import Perm, allowed
from omnistream.auth.principal import Principal
from omnistream.context import AppContext
from omnistream.kit.enums import Role
from omnistream.kit.errors import Forbidden, Unauthorized


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("missing Authorization: Bearer <access_token>")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <access_token>'")
    return token.strip()


async def authenticate(ctx: AppContext, token: str) -> Principal:
    claims = ctx.tokens.read(token)
    principal = await ctx.principals.get(claims.session_id, claims.agent_id)
    if principal is None:
        raise Unauthorized(
            "the session has ended (signed out, revoked or the agent was deactivated)"
        )
    return principal


class Authorizer:
    """Checks one permission; the RBAC test finds exactly one of these on every route."""

    def __init__(self, perm: Perm) -> None:
        self.perm = perm

    async def __call__(self, request: Request) -> Principal | None:
        if self.perm is Perm.PUBLIC:
            return None
        ctx: AppContext = request.app.state.ctx
        principal = await authenticate(ctx, bearer_token(request))
        if not allowed(principal.role, self.perm):
            raise Forbidden(f"the role '{principal.role}' lacks the permission '{self.perm}'")
        request.state.principal = principal
        return principal


def requires(perm: Perm) -> Any:
    """`principal: Principal = requires(Perm.X)` in a route's signature."""
    return Depends(Authorizer(perm))


class WsPermission:
    """Declares a WebSocket route's permission. The socket authenticates with its first
    frame, so the handler itself checks `allowed(principal.role, perm)` after that frame."""

    def __init__(self, perm: Perm) -> None:
        self.perm = perm

    async def __call__(self) -> Perm:
        return self.perm


def ws_requires(perm: Perm) -> Any:
    """`perm: Perm = ws_requires(Perm.X)` in a WebSocket route's signature."""
    return Depends(WsPermission(perm))


def route_permissions(route: APIRoute | APIWebSocketRoute) -> list[Perm]:
    """The permissions a route declares (the RBAC test demands exactly one)."""
    return [
        d.call.perm
        for d in route.dependant.dependencies
        if isinstance(d.call, Authorizer | WsPermission)
    ]


def auth_statuses(route: APIRoute) -> set[int]:
    """What a route's authorization can answer, for the OpenAPI document: 401 unless it is
    public, 403 when some role lacks its permission."""
    statuses: set[int] = set()
    for perm in route_permissions(route):
        if perm is not Perm.PUBLIC:
            statuses.add(401)
            if not all(allowed(role, perm) for role in Role):
                statuses.add(403)
    return statuses
