"""/api/v1/auth: login, token refresh, logout, the current agent, own password."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Request, Response

from omnistream.agents.schemas import MeOut
from omnistream.auth import service
from omnistream.auth.guard import requires
from omnistream.auth.permissions import MATRIX, Perm
from omnistream.auth.principal import Principal
from omnistream.auth.schemas import LoginIn, PasswordChangeIn, RefreshIn, TokenPair
from omnistream.context import Ctx
from omnistream.db.pool import transaction
from omnistream.kit.openapi import problems

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post(
    "/login",
    response_model=TokenPair,
    summary="Sign in with email and password",
    responses=problems(401, 429),
)
async def login(
    ctx: Ctx, body: LoginIn, request: Request, _: Annotated[None, requires(Perm.PUBLIC)]
) -> TokenPair:
    async with transaction(ctx.pool) as tx:
        outcome = await service.login(
            tx,
            ctx,
            str(body.email),
            body.password,
            _client_ip(request),
            request.headers.get("user-agent", "")[:300] or None,
        )
    if not isinstance(outcome, TokenPair):
        raise outcome  # raised after commit: failed attempts must be recorded
    return outcome


@router.post(
    "/refresh",
    response_model=TokenPair,
    summary="Trade a refresh token for new tokens",
    responses=problems(401),
)
async def refresh(
    ctx: Ctx, body: RefreshIn, _: Annotated[None, requires(Perm.PUBLIC)]
) -> TokenPair:
    async with transaction(ctx.pool) as tx:
        outcome = await service.refresh(tx, ctx, body.refresh_token)
    if not isinstance(outcome, TokenPair):
        raise outcome
    return outcome


@router.post("/logout", status_code=204, summary="End the current session")
async def logout(ctx: Ctx, principal: Annotated[Principal, requires(Perm.SELF)]) -> Response:
    async with transaction(ctx.pool) as tx:
        await service.logout(tx, ctx, principal)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, summary="The signed-in agent")
async def me(principal: Annotated[Principal, requires(Perm.SELF)]) -> Response:
    # Served from the cached principal (evicted on every change to the agent, its divisions
    # or their names) and encoded directly: this is the most frequent authenticated call.
    body = {**principal.profile, "permissions": sorted(MATRIX[principal.role])}
    return Response(
        orjson.dumps(body, default=str, option=orjson.OPT_UTC_Z), media_type="application/json"
    )


@router.post(
    "/password",
    status_code=204,
    summary="Change own password (ends other sessions)",
    responses=problems(429),
)
async def change_password(
    ctx: Ctx, body: PasswordChangeIn, principal: Annotated[Principal, requires(Perm.SELF)]
) -> Response:
    async with transaction(ctx.pool) as tx:
        refused = await service.change_password(
            tx, ctx, principal, body.current_password, body.new_password
        )
    if refused is not None:
        raise refused  # raised after commit: the wrong attempt must be recorded
    return Response(status_code=204)
