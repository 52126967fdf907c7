"""The delivery loop: claims due deliveries, sends them, records every attempt.

Claims (delivery_queries.claim) take due rows of active endpoints with FOR UPDATE SKIP
LOCKED, so any number of workers share the queue, and lease them to this worker (its
liveness key: another worker takes them over soon after this one dies, workers/takeover).
Each endpoint has its own window of claimed rows not sent yet (WINDOW_PER_SLOT per allowed
request; more are claimed once half of it is free) and its own cap on requests in flight
(max_concurrency, default 4): a slow or dead endpoint fills only its own window and its own
slots, and never delays another endpoint's rows.

Outcomes are written in batches (one transaction per RECORD_BATCH attempts or
RECORD_SECONDS): the attempts' log rows, each delivery's next state (success; pending with
its next time, schedule.py; or failed) and each endpoint's auto-disable clock. A worker
killed after a send and before its record sends that delivery again, with the same
webhook-id: at least once, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import orjson

from omnistream.config import Settings
from omnistream.db.listen import notified
from omnistream.db.pool import Pool, transaction
from omnistream.events.envelope import EventEnvelope
from omnistream.integrations.credentials import box_from
from omnistream.kit.aio import wait_for_any
from omnistream.kit.crypto import DecryptError, SecretBox
from omnistream.webhooks import delivery_queries as queries
from omnistream.webhooks import sender
from omnistream.webhooks.queries import WAKE_CHANNEL
from omnistream.webhooks.schedule import next_attempt_at, retry_after
from omnistream.webhooks.signing import unseal
from omnistream.workers.liveness import current_key, log_claim

log = logging.getLogger(__name__)
WINDOW_PER_SLOT = 16  # claimed rows per request slot: enough to keep the slots busy
# The fan-out may hand over up to this many windows: a burst of new events stays on the
# claim-free path instead of falling back to claims for the overflow.
HANDOVER_WINDOWS = 2
LEASE_SECONDS = 900.0  # only when no liveness key guards the claim (a tick run directly)
RECORD_BATCH = 500
RECORD_SECONDS = 0.01
VACUUM_SECONDS = 10.0
VACUUM_MIN_ROWS = 2000  # outcomes recorded since the last vacuum
POLL_SECONDS = 1.0  # retries fall due by time: look at least this often
COALESCE_SECONDS = 0.003
# After a claim that found nothing: wake-ups then mostly announce rows no window here has
# room for (an endpoint that does not answer), and each claim would scan for nothing.
EMPTY_COALESCE_SECONDS = 0.05
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Endpoint:
    slots: asyncio.Semaphore
    size: int
    held: int = 0  # claimed rows not sent yet (waiting for a slot, or in flight)
    caught_up: bool = False  # the last claim left nothing due behind: new rows may go first


@dataclass(frozen=True, slots=True)
class _Done:
    delivery_id: UUID
    webhook_id: UUID
    attempts: int  # before this one
    result: sender.Attempt


@dataclass
class Deliverer:
    """One worker's delivery machinery; `clock` and `rng` are injectable for tests."""

    pool: Pool
    settings: Settings
    clock: Clock = _now
    rng: random.Random = field(default_factory=random.Random)
    box: SecretBox | None = None
    total_timeout: float = sender.TOTAL_TIMEOUT  # shorter in tests
    _session: aiohttp.ClientSession | None = None
    _endpoints: dict[UUID, _Endpoint] = field(default_factory=dict)
    _secrets: dict[tuple[UUID, str, str], str] = field(default_factory=dict)
    _done: list[_Done] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    room: asyncio.Event = field(default_factory=asyncio.Event)  # a window has space again
    _claimed_once: bool = False
    _closing: bool = False
    recorded: asyncio.Event = field(default_factory=asyncio.Event)
    recorded_total: int = 0  # outcomes written since the process started

    def __post_init__(self) -> None:
        if self.box is None:
            self.box = box_from(self.settings)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = sender.new_session(
                self.settings.allow_private_urls, total=self.total_timeout
            )
        return self._session

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await sender.close(self._session)

    # Claiming ---------------------------------------------------------------------------

    def _rooms(self, everything: bool) -> tuple[list[UUID], list[int]]:
        ids = list(self._endpoints)
        return ids, [
            e.size * WINDOW_PER_SLOT - e.held if everything or not e.caught_up else 0
            for e in self._endpoints.values()
        ]

    async def claim(self, everything: bool = True) -> int:
        """Claim what is due and start sending it; how many rows were claimed.

        everything=False (a wake-up: the fan-out inserted unclaimed rows) leaves alone the
        endpoints whose last claim found nothing left due: their new rows came pre-claimed,
        and scanning their in-flight rows at every wake-up cost more than the sends (an
        endpoint that never answers wakes the loop at every fan-out batch). Their retries
        fall due by time and are taken by the periodic full claim."""
        ids, rooms = self._rooms(everything)
        async with self.pool.acquire() as conn:
            rows = await queries.claim(
                conn, self.clock(), current_key(), LEASE_SECONDS, WINDOW_PER_SLOT, ids, rooms
            )
        log_claim(log, "webhook deliveries", len(rows))
        counts: dict[UUID, int] = {}
        for row in rows:
            counts[row["webhook_id"]] = counts.get(row["webhook_id"], 0) + 1
        room_of = dict(zip(ids, rooms, strict=True))
        self._start(rows)
        for webhook_id, endpoint in self._endpoints.items():
            room = room_of.get(webhook_id, endpoint.size * WINDOW_PER_SLOT)
            if room > 0:  # a full window learns nothing of what waits behind it
                endpoint.caught_up = counts.get(webhook_id, 0) < room
        self._claimed_once = True
        return len(rows)

    def room_for(self, webhook_id: UUID, max_concurrency: int) -> int:
        """How many new deliveries of an endpoint the fan-out may insert already claimed for
        this worker (insert_claimed): up to HANDOVER_WINDOWS of its window, once a claim found
        nothing of it left due (so new events never pass older ones); 0 before the first
        claim or on closing."""
        if not self._claimed_once or self._closing:
            return 0
        endpoint = self._endpoints.get(webhook_id)
        if endpoint is None:  # nothing of it was due at the last claim
            return max_concurrency * WINDOW_PER_SLOT * HANDOVER_WINDOWS
        if not endpoint.caught_up:
            return 0
        return max(0, endpoint.size * WINDOW_PER_SLOT * HANDOVER_WINDOWS - endpoint.held)

    def behind(self, webhook_id: UUID, max_concurrency: int) -> None:
        """The fan-out inserted unclaimed rows of this endpoint: until a claim takes them,
        no newer ones are inserted claimed (they would pass them)."""
        self._endpoint(webhook_id, max_concurrency).caught_up = False

    def take(self, rows: list[asyncpg.Record]) -> None:
        """Rows the fan-out inserted claimed for this worker (committed): sent like claimed
        ones. On closing they stay claimed, for release_claims or the takeover."""
        if not self._closing:
            self._start(rows)

    def _start(self, rows: list[asyncpg.Record]) -> None:
        for row in rows:
            endpoint = self._endpoint(row["webhook_id"], row["max_concurrency"])
            endpoint.held += 1
            task = asyncio.create_task(self._send(endpoint, row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _endpoint(self, webhook_id: UUID, size: int) -> _Endpoint:
        endpoint = self._endpoints.get(webhook_id)
        if endpoint is None or (endpoint.size != size and endpoint.held == 0):
            endpoint = self._endpoints[webhook_id] = _Endpoint(asyncio.Semaphore(size), size)
        return endpoint

    def _secrets_of(self, row: asyncpg.Record) -> list[str]:
        assert self.box is not None
        out = [self._unseal(row["webhook_id"], row["secret"], "secret")]
        until = row["previous_expires_at"]
        if row["previous_secret"] and until is not None and until > self.clock():
            out.append(self._unseal(row["webhook_id"], row["previous_secret"], "previous"))
        return out

    def _unseal(self, webhook_id: UUID, sealed: str, slot: str) -> str:
        key = (webhook_id, slot, sealed)
        if key not in self._secrets:
            assert self.box is not None
            if len(self._secrets) > 10_000:
                self._secrets.clear()
            self._secrets[key] = unseal(self.box, webhook_id, sealed, slot)
        return self._secrets[key]

    # Sending ----------------------------------------------------------------------------

    async def _send(self, endpoint: _Endpoint, row: asyncpg.Record) -> None:
        try:
            async with endpoint.slots:
                result = await self._attempt(row)
        finally:
            # The row leaves the window once sent, not once recorded: its lease keeps it
            # from being claimed again until the record, and a window waiting for records
            # (RECORD_SECONDS and a transaction) left the slots idle between claims.
            endpoint.held -= 1
            if endpoint.held == endpoint.size * WINDOW_PER_SLOT // 2 and not endpoint.caught_up:
                self.room.set()  # half the window is free and rows wait: claim more
        self._done.append(_Done(row["id"], row["webhook_id"], row["attempts"], result))
        self.recorded.set()

    async def _attempt(self, row: asyncpg.Record) -> sender.Attempt:
        started = self.clock()
        try:
            secrets = self._secrets_of(row)
        except DecryptError as exc:
            error = f"the signing secret cannot be decrypted ({exc}); rotate the secret"
            return sender.Attempt(started, 0, error=error)
        body = _body(row["payload_json"])
        return await sender.attempt(
            self.session,
            row["url"],
            str(row["event_id"]),
            body,
            secrets,
            allow_private=self.settings.allow_private_urls,
            now=started,
            total=self.total_timeout,
        )

    # Recording --------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write the outcomes gathered so far in one transaction; how many."""
        done, self._done = self._done, []
        if not done:
            return 0
        try:
            await self._write(done)
        except BaseException:
            self._done[:0] = done  # written by the next flush
            raise
        self.recorded_total += len(done)
        return len(done)

    async def _write(self, done: list[_Done]) -> None:
        states: list[str] = []
        retries: list[datetime | None] = []
        for item in done:
            result = item.result
            if result.ok:
                states.append("success")
                retries.append(None)
                continue
            asked = retry_after(result.retry_after, result.started_at)
            later = next_attempt_at(item.attempts + 1, result.started_at, asked, self.rng)
            states.append("pending" if later else "failed")
            retries.append(later)
        ids = [d.delivery_id for d in done]
        at = [d.result.started_at for d in done]
        codes = [d.result.status for d in done]
        errors = [d.result.error for d in done]
        async with transaction(self.pool) as tx:
            await queries.record_attempts(
                tx.conn, ids, at, [d.result.duration_ms for d in done], codes,
                [d.result.body for d in done], errors,
            )  # fmt: skip
            await queries.finish_attempts(tx.conn, ids, states, retries, at, codes, errors)
            webhooks, ok, since = _health(done)
            await queries.mark_health(tx.conn, webhooks, ok, since)

    async def run_once(self) -> int:
        """Claim, send and record everything due now (tests and tools); how many."""
        claimed = await self.claim()
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        await self.flush()
        return claimed

    async def release(self) -> None:
        """On shutdown: the claimed rows not attempted yet go back to the queue at once."""
        self._closing = True
        waiting = [t for t in self._tasks if not t.done()]
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.flush()
        key = current_key()
        if key is not None:
            async with self.pool.acquire() as conn:
                await queries.release_claims(conn, key)


_FIELDS = tuple(EventEnvelope.model_fields)  # the envelope's keys, in its order
_FIELD_SET = frozenset(_FIELDS)


def _body(payload: Any) -> bytes:
    """The envelope as WebSocket clients receive it (EventEnvelope's JSON)."""
    if isinstance(payload, dict) and payload.keys() == _FIELD_SET:
        # Stored by the fan-out from EventEnvelope's own JSON: only the key order was lost
        # (jsonb). orjson in the field order writes the same bytes as a pydantic round trip,
        # at a seventh of its cost per delivery.
        return orjson.dumps({k: payload[k] for k in _FIELDS})
    try:
        return EventEnvelope.model_validate(payload).model_dump_json().encode()
    except ValueError:  # stored by another release in another shape: sent as stored
        return orjson.dumps(payload)


def _health(done: list[_Done]) -> tuple[list[UUID], list[bool], list[datetime | None]]:
    """Per endpoint: whether a success restarts its failure clock, and from when it runs."""
    by_endpoint: dict[UUID, list[sender.Attempt]] = {}
    for item in done:
        by_endpoint.setdefault(item.webhook_id, []).append(item.result)
    ids, ok, since = [], [], []
    for webhook_id, results in by_endpoint.items():
        results.sort(key=lambda r: r.started_at)
        last_ok = max((i for i, r in enumerate(results) if r.ok), default=-1)
        later = [r.started_at for r in results[last_ok + 1 :]]
        ids.append(webhook_id)
        ok.append(last_ok >= 0)
        since.append(later[0] if later else None)
    return ids, ok, since


_local: Deliverer | None = None  # this process's delivery loop, for the fan-out


def local_deliverer() -> Deliverer | None:
    """The running delivery loop's Deliverer in this process, if any (fanout.py hands it
    the new deliveries it has room for)."""
    return _local


async def delivery_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    global _local  # noqa: PLW0603 - one delivery loop per worker process
    deliverer = _local = Deliverer(pool, settings)
    recorder = asyncio.create_task(_record_forever(deliverer, stop))
    vacuum = asyncio.create_task(_vacuum_forever(deliverer))
    try:
        async with notified(pool, WAKE_CHANNEL) as (_listener, wake):
            last_full = 0.0
            while not stop.is_set():
                wake.clear()
                deliverer.room.clear()
                everything = time.monotonic() - last_full >= POLL_SECONDS
                try:
                    claimed = await deliverer.claim(everything)
                    if everything:
                        last_full = time.monotonic()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("webhook claim failed")
                    await wait_for_any(stop, seconds=POLL_SECONDS)
                    continue
                await wait_for_any(wake, deliverer.room, stop, seconds=POLL_SECONDS)
                # Let a burst of wake-ups gather.
                await asyncio.sleep(COALESCE_SECONDS if claimed else EMPTY_COALESCE_SECONDS)
    finally:
        if _local is deliverer:
            _local = None
        recorder.cancel()
        vacuum.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recorder
        with contextlib.suppress(asyncio.CancelledError):
            await vacuum
        await deliverer.release()
        await deliverer.close()


async def _record_forever(deliverer: Deliverer, stop: asyncio.Event) -> None:
    while True:
        await deliverer.recorded.wait()
        deliverer.recorded.clear()
        if len(deliverer._done) < RECORD_BATCH:
            await asyncio.sleep(RECORD_SECONDS)
        try:
            await deliverer.flush()
        except asyncio.CancelledError:
            raise
        except Exception:  # kept for the next flush; the database may be back by then
            log.exception("recording webhook attempts failed; retrying")
            deliverer.recorded.set()
            await asyncio.sleep(1)


async def _vacuum_forever(deliverer: Deliverer) -> None:
    """VACUUM the delivery queue every VACUUM_SECONDS while it is busy.

    Every delivery leaves dead row versions and dead entries in the due index; a claim's
    index scan walks them, and each claim then costs more with every delivered row. Without
    autovacuum (some servers run with it off, or behind under load) a worker that once fell
    behind stayed behind: 2.4 ms of PostgreSQL per delivery instead of 0.35 (bench/webhooks.py
    at 1,800/s). One worker at a time (an advisory lock); cheap when nothing is dead."""
    last = 0
    while True:
        await asyncio.sleep(VACUUM_SECONDS)
        if deliverer.recorded_total - last < VACUUM_MIN_ROWS:
            continue
        last = deliverer.recorded_total
        try:
            async with deliverer.pool.acquire() as conn:
                await queries.vacuum_queue(conn)
        except asyncio.CancelledError:
            raise
        except Exception:  # maintenance: never fatal, tried again next time
            log.warning("webhook queue vacuum failed", exc_info=True)
