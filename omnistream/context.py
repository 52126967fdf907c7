"""What a running API process holds: settings, the pool, password hasher, principal cache,
the realtime event hub, the read replica's router."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from omnistream.auth.passwords import Passwords
from omnistream.auth.principal import PrincipalCache
from omnistream.auth.tokens import AccessTokenReader
from omnistream.config import Settings
from omnistream.db.pool import Conn, Pool
from omnistream.db.replica import ReadRouter
from omnistream.events.hub import Hub
from omnistream.kit.crypto import SecretBox
from omnistream.kit.wrote_cookie import WROTE_COOKIE, wrote_at_of
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
    reads: ReadRouter | None = None  # lag-tolerant reads (None: all on the primary)


async def app_context(request: Request) -> AppContext:
    # async on purpose: a sync dependency costs a thread-pool hop on every request.
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(app_context)]
T = TypeVar("T")


@dataclass(frozen=True)
class LaggingReads:
    """This request's lag-tolerant reads (reports, search, activity, exports, contact lists):
    on the read replica when it is up, within the lag bound and past the caller's last write
    (the omnistream_wrote cookie), else on the primary (docs/read-replica.md). Never for a
    read whose result decides a write."""

    primary: Pool
    router: ReadRouter | None
    wrote_at: datetime | None

    def connection(self) -> AbstractAsyncContextManager[Conn]:
        if self.router is None:
            return self.primary.acquire()
        return self.router.connection(self.wrote_at)

    async def run(self, read: Callable[[Conn], Awaitable[T]]) -> T:
        """`read` on such a connection, repeated on the primary if the replica is lost midway."""
        if self.router is None:
            async with self.primary.acquire() as conn:
                return await read(conn)
        return await self.router.run(read, self.wrote_at)


async def lagging_reads(request: Request) -> LaggingReads:
    ctx: AppContext = request.app.state.ctx
    # Read from the request, not declared as a Cookie parameter: it is no part of the API.
    return LaggingReads(ctx.pool, ctx.reads, wrote_at_of(request.cookies.get(WROTE_COOKIE)))


Reads = Annotated[LaggingReads, Depends(lagging_reads)]
