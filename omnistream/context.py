"""What a running API process holds: settings, the pool, password hasher, principal cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from omnistream.auth.passwords import Passwords
from omnistream.auth.principal import PrincipalCache
from omnistream.config import Settings
from omnistream.db.pool import Pool


@dataclass
class AppContext:
    settings: Settings
    dsn: str
    pool: Pool
    passwords: Passwords
    principals: PrincipalCache


def app_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(app_context)]
