"""One live-events WebSocket: authentication, resume, live delivery (docs/events.md).

A single coroutine writes to the socket, so frames never interleave: it answers the
client's frames, re-checks the principal, replays and forwards live events, in that order
of priority. A reader task only parses incoming frames and wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import MutableMapping
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from omnistream.auth.guard import authenticate
from omnistream.auth.permissions import Perm, allowed
from omnistream.auth.principal import Principal
from omnistream.auth.tokens import read_access
from omnistream.context import AppContext
from omnistream.events import queries
from omnistream.events.envelope import from_row
from omnistream.events.hub import Subscription
from omnistream.kit.errors import Unauthorized

log = logging.getLogger(__name__)

AUTH_TIMEOUT_SECONDS = 5.0  # the auth frame must arrive within this
RESUME_WINDOW_SECONDS = 1.0  # live events wait this long for a resume frame (or any frame)
RECHECK_SECONDS = 5.0  # the principal is re-validated at least this often
SEND_TIMEOUT_SECONDS = 30.0  # one frame that cannot be written for this long: too slow
CLOSE_TIMEOUT_SECONDS = 10.0
REPLAY_PAGE = 500
MAX_UNREAD_FRAMES = 64  # client frames waiting to be handled

# Close codes (docs/events.md).
GOING_AWAY = 1001  # the server is shutting down: reconnect and resume
POLICY_VIOLATION = 1008  # flooding with frames
UNAVAILABLE = 1011
BAD_FRAME = 4400  # a protocol error (a late resume, a malformed resume)
UNAUTHORIZED = 4401  # no/invalid/expired token, session ended, agent deactivated
FORBIDDEN = 4403  # the role lacks the route's permission
AUTH_TIMEOUT = 4408
TOO_SLOW = 4429  # fell too far behind: reconnect and resume

AUTH_FRAME = '{"type":"auth","access_token":"..."}'


class Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class LiveSocket:
    principal: Principal
    sub: Subscription

    def __init__(self, ctx: AppContext, ws: WebSocket, perm: Perm) -> None:
        self.ctx = ctx
        self.ws = ws
        self.perm = perm
        self.token = ""
        self.expires_at = 0.0  # the access token's exp (unix time)
        self.inbox: deque[dict[str, Any] | str] = deque()  # parsed frames, or an error
        self.disconnected = False
        self.flooded = False
        self.started = False  # live delivery began (resume window over)
        self.live_sent = False
        self.resumed = False
        self.last_sent = 0  # every visible event with seq <= this was sent or is not wanted
        self._live_send: asyncio.Timeout | None = None

    async def run(self) -> None:
        if self.ctx.hub is None:
            await self._run()
            return
        with self.ctx.hub.socket_open():  # the shutdown waits for its close (Hub.go_away)
            await self._run()

    async def _run(self) -> None:
        await self.ws.accept()
        reader: asyncio.Task[None] | None = None
        try:
            hub = self.ctx.hub
            if hub is None:
                raise Close(UNAVAILABLE, "live events are not available on this server")
            principal = await self._authorize(await self._first_frame())
            sub = hub.subscribe(principal)
            presence, connection = self.ctx.presence, None
            try:
                if presence is not None:  # keeps the agent online (docs/inbox.md#availability)
                    connection = await presence.connect(principal.agent_id)
                sub.on_overflow = self._abort_live_send
                self.principal, self.sub = principal, sub
                self.last_sent = sub.start_seq
                await self._send(
                    {"type": "ready", "seq": sub.start_seq, "expires_at": int(self.expires_at)}
                )
                reader = asyncio.get_running_loop().create_task(self._read())
                await self._serve()
            finally:
                hub.unsubscribe(sub)
                if presence is not None and connection is not None:
                    await presence.disconnect(connection)
        except Close as close:
            await self._close(close.code, close.reason)
        except WebSocketDisconnect:
            pass
        except Exception:  # e.g. the database went away mid-replay
            log.exception("live socket failed")
            await self._close(UNAVAILABLE, "server error; reconnect and resume")
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    # Authentication ---------------------------------------------------------------------

    async def _first_frame(self) -> str:
        try:
            message = await asyncio.wait_for(self.ws.receive(), AUTH_TIMEOUT_SECONDS)
        except TimeoutError:
            raise Close(AUTH_TIMEOUT, f"no auth frame within {AUTH_TIMEOUT_SECONDS:g} s") from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        frame = _parse(message)
        if (
            not isinstance(frame, dict)
            or frame.get("type") != "auth"
            or not isinstance(frame.get("access_token"), str)
        ):
            raise Close(UNAUTHORIZED, f"the first frame must be {AUTH_FRAME}")
        token: str = frame["access_token"]
        return token

    async def _authorize(self, token: str) -> Principal:
        try:
            claims = read_access(self.ctx.settings.signing_key, token)
            principal = await authenticate(self.ctx, token)
        except Unauthorized as exc:
            raise Close(UNAUTHORIZED, exc.detail) from None
        if not allowed(principal.role, self.perm):
            raise Close(FORBIDDEN, f"the role '{principal.role}' lacks '{self.perm}'")
        self.token, self.expires_at = token, float(claims.expires_at)
        return principal

    async def _recheck(self, evict: bool) -> None:
        """Still signed in, active, allowed? Refreshes the scope (divisions may change)."""
        if evict:  # our own NOTIFY may arrive before the principal cache's
            self.ctx.principals.evict_agent(self.principal.agent_id)
        self.principal = await self._authorize(self.token)
        self.sub.update(self.principal)

    # The writer loop --------------------------------------------------------------------

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        sub = self.sub
        window_ends = loop.time() + RESUME_WINDOW_SECONDS
        next_check = loop.time() + RECHECK_SECONDS
        while True:
            sub.wakeup.clear()
            while self.inbox:  # first: a resume must precede any live event
                await self._on_frame(self.inbox.popleft())
            if self.disconnected:
                return
            if self.flooded:
                raise Close(POLICY_VIOLATION, "too many frames; wait for the answers")
            if sub.closed:
                raise Close(GOING_AWAY, "the server is restarting; reconnect and resume")
            now = loop.time()
            if sub.auth_changed or now >= next_check or time.time() >= self.expires_at:
                evict, sub.auth_changed = sub.auth_changed, False
                await self._recheck(evict)
                next_check = loop.time() + RECHECK_SECONDS
            if not self.started and now >= window_ends:
                self.started = True
            if self.started:
                if sub.overflowed and not self.live_sent:
                    # Buffered while waiting for a resume: read the rest from the table.
                    await self._replay(self.last_sent)
                if sub.overflowed:
                    raise _too_slow(sub.limit)
                if sub.pending:
                    event = sub.pending.popleft()
                    if event.seq > self.last_sent:
                        await self._send_live(event.frame)
                        self.last_sent = event.seq
                    continue
            deadlines = [next_check, loop.time() + self.expires_at - time.time()]
            if not self.started:
                deadlines.append(window_ends)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.01, min(deadlines) - now)):
                    await sub.wakeup.wait()

    async def _on_frame(self, frame: dict[str, Any] | str) -> None:
        kind = frame.get("type") if isinstance(frame, dict) else None
        if isinstance(frame, str):
            await self._send({"type": "error", "detail": frame})
        elif kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "resume":
            await self._resume(frame.get("after_seq"))
        elif kind == "auth":
            await self._reauth(frame.get("access_token"))
        else:
            known = "auth, resume, ping"
            await self._send({"type": "error", "detail": f"unknown frame type {kind!r} ({known})"})
        self.started = True  # any frame ends the resume window

    async def _reauth(self, token: object) -> None:
        """A fresh access token on the open socket (before the old one expires)."""
        if not isinstance(token, str):
            raise Close(UNAUTHORIZED, f"an auth frame must be {AUTH_FRAME}")
        agent_id = self.principal.agent_id
        principal = await self._authorize(token)
        if principal.agent_id != agent_id:
            raise Close(UNAUTHORIZED, "a socket cannot change agents; reconnect")
        self.principal = principal
        self.sub.update(principal)
        await self._send({"type": "auth_ok", "expires_at": int(self.expires_at)})

    # Resume -----------------------------------------------------------------------------

    async def _resume(self, after: object) -> None:
        if self.resumed or self.live_sent:
            raise Close(BAD_FRAME, "resume must directly follow auth, before live events")
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise Close(BAD_FRAME, "after_seq must be a non-negative integer")
        self.resumed = True
        start = self.sub.start_seq
        if after < start:
            async with self.ctx.pool.acquire() as conn:
                oldest = await queries.oldest_seq(conn)
            if oldest is None or oldest > after + 1:
                await self._send(
                    {
                        "type": "resume_gap",
                        "after_seq": after,
                        "oldest_seq": oldest,
                        "detail": "some events after after_seq are no longer kept "
                        f"(retention {self.ctx.settings.event_retention_hours} h): "
                        "reload the state over HTTP, then apply the events that follow",
                    }
                )
        replayed = await self._replay(after)
        self.started = True
        await self._send(
            {"type": "resumed", "after_seq": after, "seq": self.last_sent, "replayed": replayed}
        )

    async def _replay(self, after: int) -> int:
        """Every visible event after `after` up to the live stream's start, from the table;
        live events meanwhile wait in the subscription (or, should it overflow, the range
        is read again from the table). How many were sent."""
        sub, sent = self.sub, 0
        upto = sub.start_seq
        while True:
            cursor = after
            while cursor < upto:
                async with self.ctx.pool.acquire() as conn:
                    rows = await queries.visible_between(conn, sub.scope, cursor, upto, REPLAY_PAGE)
                for row in rows:
                    try:
                        frame = from_row(row).frame
                    except ValueError:  # pydantic's ValidationError; the hub skips it too
                        log.exception("unreadable event skipped", extra={"seq": row["seq"]})
                        continue
                    try:
                        async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                            await self.ws.send_text(frame)
                    except TimeoutError:
                        raise _too_slow(sub.limit) from None
                    sent += 1
                if len(rows) < REPLAY_PAGE:
                    break
                cursor = rows[-1]["seq"]
            after = max(after, upto)
            self.last_sent = max(self.last_sent, after)
            if not sub.overflowed:
                return sent
            upto = sub.restart()

    # Sending and receiving --------------------------------------------------------------

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_text(orjson.dumps(frame).decode())

    async def _send_live(self, frame: str) -> None:
        """Cut short when the subscription overflows meanwhile (see _abort_live_send)."""
        self.live_sent = True
        try:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS) as deadline:
                self._live_send = deadline
                await self.ws.send_text(frame)
        except TimeoutError:
            raise _too_slow(self.sub.limit) from None
        finally:
            self._live_send = None

    def _abort_live_send(self) -> None:
        if self._live_send is not None:
            self._live_send.reschedule(asyncio.get_running_loop().time())

    async def _read(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                self.inbox.append(_parse(message))
                if len(self.inbox) > MAX_UNREAD_FRAMES:
                    self.flooded = True
                    return
                self.sub.wakeup.set()
        except (WebSocketDisconnect, RuntimeError, OSError):
            return
        finally:
            self.disconnected = not self.flooded
            self.sub.wakeup.set()

    async def _close(self, code: int, reason: str) -> None:
        """WebSocket close reasons are limited to 123 bytes."""
        short = reason.encode()[:123].decode(errors="ignore")
        log.info("live socket closed", extra={"code": code, "reason": short})
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code, short), CLOSE_TIMEOUT_SECONDS)


def _too_slow(limit: int) -> Close:
    return Close(TOO_SLOW, f"too slow: more than {limit} events behind; reconnect and resume")


def _parse(message: MutableMapping[str, Any]) -> dict[str, Any] | str:
    """A client frame as a JSON object, or why it is not one."""
    text = message.get("text")
    if text is None:
        return "frames are JSON text, not binary"
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "a frame must be a JSON object"
    if not isinstance(value, dict):
        return "a frame must be a JSON object"
    return value
