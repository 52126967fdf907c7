"""The realtime hub of one API process: published events to the sockets that may see them.

One dedicated connection LISTENs to 'omnistream_events' (the dispatcher's wake-up) and
'omnistream_auth' (an agent changed: their sockets re-check their principal). On a wake-up
the hub reads every event with seq > the last it read, in seq order, and offers each to
every subscription; a subscription filters by its principal's scope and buffers a bounded
number of events. Nothing here ever waits on a socket, so one slow client cannot delay
another: it overflows and its socket is closed instead.

Reading by seq (not by notification payload) means a lost connection loses nothing: after
reconnecting the hub reads on from where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator
from uuid import UUID

from omnistream.auth.principal import Principal
from omnistream.auth.queries import AUTH_CHANNEL
from omnistream.conversations.visibility import Scope, Viewer
from omnistream.db.listen import listen_forever
from omnistream.db.pool import Pool
from omnistream.events import queries
from omnistream.events.envelope import PublishedEvent, from_row

log = logging.getLogger(__name__)
FETCH_LIMIT = 1000
QUEUE_LIMIT = 1000  # events buffered per socket before it counts as too slow
POLL_SECONDS = 5.0  # fallback read should a notification ever be missed


class Subscription:
    """One socket's view of the stream: events with seq > start_seq that it may see."""

    def __init__(self, hub: Hub, principal: Principal, limit: int) -> None:
        self._hub = hub
        self.agent_id = principal.agent_id
        self.scope = Scope.of(principal)
        self.viewer = Viewer.of(self.scope)
        self.limit = limit
        self.start_seq = hub.last_seq
        self.pending: deque[PublishedEvent] = deque()
        self.overflowed = False  # fell more than `limit` events behind
        self.auth_changed = False  # the agent changed somewhere: re-check the principal
        self.closed = False  # the hub is stopping
        self.wakeup = asyncio.Event()  # set whenever any of the above changes
        self.on_overflow: Callable[[], None] | None = None

    def offer(self, event: PublishedEvent) -> None:
        if self.overflowed or self.closed or not self.viewer.sees(event.states):
            return
        if len(self.pending) >= self.limit:
            self.overflowed = True
            self.pending.clear()
            self._hub.overflows += 1
            if self.on_overflow is not None:
                self.on_overflow()
        else:
            self.pending.append(event)
        self.wakeup.set()

    def update(self, principal: Principal) -> None:
        """A re-checked principal (divisions or role may have changed)."""
        self.scope = Scope.of(principal)
        self.viewer = Viewer.of(self.scope)

    def restart(self) -> int:
        """Drop what is buffered and start again from the hub's position (the caller reads
        the dropped range from the database instead); the new start seq."""
        self.pending.clear()
        self.overflowed = False
        self.start_seq = self._hub.last_seq
        return self.start_seq

    def _signal_auth(self) -> None:
        self.auth_changed = True
        self.wakeup.set()

    def _close(self) -> None:
        self.closed = True
        self.wakeup.set()


class Hub:
    def __init__(self, pool: Pool, dsn: str, *, queue_limit: int = QUEUE_LIMIT) -> None:
        self._pool = pool
        self._dsn = dsn
        self.queue_limit = queue_limit
        self.last_seq = 0  # the highest seq read and fanned out
        self.overflows = 0  # subscriptions that fell too far behind (a metric)
        self._subscriptions: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = asyncio.Event()
        self.going_away = False  # the process is shutting down (go_away)
        self._sockets = 0  # live sockets running (socket_open), closed or not
        self._no_sockets = asyncio.Event()
        self._no_sockets.set()

    # What sockets call ------------------------------------------------------------------

    def subscribe(self, principal: Principal) -> Subscription:
        """Live events after the hub's current position (`Subscription.start_seq`)."""
        sub = Subscription(self, principal, self.queue_limit)
        self._subscriptions.add(sub)
        if self.going_away:  # authenticated during the shutdown: told to go elsewhere
            sub._close()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    @property
    def subscriptions(self) -> int:
        return len(self._subscriptions)

    @contextlib.contextmanager
    def socket_open(self) -> Iterator[None]:
        """Counts a live socket from its accept to its last frame (its close included)."""
        self._sockets += 1
        self._no_sockets.clear()
        try:
            yield
        finally:
            self._sockets -= 1
            if self._sockets == 0:
                self._no_sockets.set()

    async def go_away(self, within: float) -> int:
        """Shutdown, before the server closes connections: every subscribed socket closes
        itself with 1001 "going away" (the web app reconnects and resumes elsewhere);
        waits up to `within` seconds for them; returns how many were still open."""
        self.going_away = True
        for sub in list(self._subscriptions):
            sub._close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_sockets.wait(), within)
        return self._sockets

    # Lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._pool.acquire() as conn:
            self.last_seq = await queries.max_seq(conn)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._pump())]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), 10)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sub in list(self._subscriptions):
            sub._close()

    # Internals --------------------------------------------------------------------------

    def _on_events(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            if int(str(payload)) <= self.last_seq:
                return
        except ValueError:
            pass
        self._wake.set()

    def _on_auth(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            agent_id: UUID | None = UUID(str(payload))
        except ValueError:
            agent_id = None  # unknown payload: everyone re-checks
        for sub in self._subscriptions:
            if agent_id is None or sub.agent_id == agent_id:
                sub._signal_auth()

    async def _listen(self) -> None:
        await listen_forever(
            self._dsn,
            {queries.EVENTS_CHANNEL: self._on_events, AUTH_CHANNEL: self._on_auth},
            listening=self.listening,
            on_connect=self._catch_up,
            name="event hub",
        )

    def _catch_up(self) -> None:
        """Whatever was published or changed while not listening: read it now."""
        self._wake.set()
        for sub in self._subscriptions:
            sub._signal_auth()

    async def _pump(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            try:
                await self._read_new()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("event hub could not read events; retrying", exc_info=True)
                await asyncio.sleep(1)
                self._wake.set()

    async def _read_new(self) -> None:
        while True:
            async with self._pool.acquire() as conn:
                if not self._subscriptions:  # nobody listening: only move the position
                    top = await queries.max_seq(conn)
                    if not self._subscriptions:  # (a socket that came meanwhile reads them)
                        self.last_seq = max(self.last_seq, top)
                        return
                rows = await queries.published_after(conn, self.last_seq, FETCH_LIMIT)
            events = []
            for row in rows:
                try:
                    events.append(from_row(row))
                except ValueError:  # pydantic's ValidationError: skipped, never a stuck hub
                    log.exception("unreadable event skipped", extra={"seq": row["seq"]})
            self.fan_out(events)
            if rows:
                self.last_seq = max(self.last_seq, rows[-1]["seq"])
            if len(rows) < FETCH_LIMIT:
                return

    def fan_out(self, events: list[PublishedEvent]) -> None:
        """Synchronous on purpose: subscribe() and last_seq can never disagree."""
        for event in events:
            if event.seq <= self.last_seq:
                continue
            for sub in self._subscriptions:
                sub.offer(event)
            self.last_seq = event.seq
