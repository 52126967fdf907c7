"""What a running API process holds: settings, the pool, password hasher, principal cache,
the realtime event hub."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from omnistream.auth.passwords import Passwords
from omnistream.auth.principal import PrincipalCache
from omnistream.auth.tokens import AccessTokenReader
from omnistream.config import Settings
from omnistream.db.pool import Pool
from omnistream.events.hub import Hub
from omnistream.kit.crypto import SecretBox
from omnistream.presence.tracker import PresenceTracker


@dataclass
class AppContext:
    settings: Settings
    dsn: str
    pool: Pool
    passwords: Passwords
    principals: PrincipalCache
    tokens: AccessTokenReader
    box: SecretBox  # seals and opens integration secrets
    hub: Hub | None = None  # live events for this process's WebSockets (None: not started)
    presence: PresenceTracker | None = None  # this process's live connections (None: none)


async def app_context(request: Request) -> AppContext:
    # async on purpose: a sync dependency costs a thread-pool hop on every request.
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(app_context)]
