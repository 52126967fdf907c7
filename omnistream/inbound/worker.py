"""The inbound loop: applies acknowledged webhook calls in batches, and fetches their media.

`process_batch` is one tick: in ONE transaction it claims up to BATCH_SIZE due pending audit
rows (FOR UPDATE SKIP LOCKED, in arrival order), parses and applies each inside its own
SAVEPOINT, and writes every row's outcome with one statement (first, receipts naming
one of our sends the sender never recorded give it its channel id: inbound/accepted.py):
- processed: applied (notes about skipped parts are kept in `error`);
- unroutable: no item names an active integration account of an integration that signed
  the call (webhook_audit.signed_by; see service.py);
- failed: unreadable (bad JSON, wrong object, missing ids) or refused by the store; its
  savepoint is rolled back, so one bad payload never blocks the others;
- pending again, after a delay: a receipt or echo names a message not recorded yet, or the
  database reported a deadlock / serialization failure; retried a few times, then failed.
Savepoint handling costs one round trip per row (RELEASE of the previous row and SAVEPOINT
of the next are sent together).

The loop runs CONCURRENCY such ticks side by side (each on its own connection; SKIP LOCKED
gives them disjoint rows), woken by the NOTIFY the webhook's insert sends, with a short
poll as fallback (retries coming due, a lost NOTIFY). A media runner shares the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from omnistream.campaigns import replies as campaign_replies
from omnistream.config import Settings
from omnistream.db.pool import Conn, Pool, Tx, transaction
from omnistream.inbound import profiles, queries, service
from omnistream.inbound.accepted import record_campaign_receipts, record_from_receipts
from omnistream.inbound.media import fetch_media
from omnistream.inbound.model import InboundMessage, Parsed, PayloadError
from omnistream.inbound.service import Outcome
from omnistream.integrations.credentials import box_from
from omnistream.kit.aio import wait_for_any
from omnistream.kit.crypto import SecretBox
from omnistream.messages.ingest import NewInbound, ingest_many
from omnistream.messages.service import InboundError

log = logging.getLogger(__name__)
BATCH_SIZE = 500
CONCURRENCY = 2  # batches applied at once (more queue on the same contacts' rows)
IDLE_SECONDS = 1.0
LINGER_SECONDS = 0.025  # after a partial batch: the lag it may add, the batching it buys
TRANSIENT_TRIES = 5
TRANSIENT = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.LockNotAvailableError,
    asyncpg.QueryCanceledError,
    TimeoutError,
)
_SAVEPOINT = "SAVEPOINT audit_row"
_NEXT_SAVEPOINT = "RELEASE SAVEPOINT audit_row; SAVEPOINT audit_row"


def _failure(exc: BaseException, attempt: int, channel: str | None) -> Outcome:
    reason = f"{type(exc).__name__}: {exc}"[: service.ERROR_MAX]
    if isinstance(exc, TRANSIENT) and attempt < TRANSIENT_TRIES:
        return Outcome("pending", reason, service.retry_delay(attempt), channel)
    return Outcome("failed", reason, channel=channel)


async def process_batch(
    pool: Pool, settings: Settings, box: SecretBox, limit: int = BATCH_SIZE
) -> int:
    """One tick; returns how many audit rows it handled (0: none was due)."""
    async with transaction(pool) as tx:
        conn = tx.conn
        rows = await queries.claim(conn, limit)
        if not rows:
            return 0
        accounts = service.Accounts(conn, box)
        signed = {i: service.signed_set(row["signed_by"]) for i, row in enumerate(rows)}
        outcomes: dict[int, Outcome] = {}
        parsed: dict[int, Parsed] = {}
        for index, row in enumerate(rows):
            try:
                parsed[index] = service.parse(row["body"])
            except PayloadError as exc:
                outcomes[index] = Outcome("failed", str(exc)[: service.ERROR_MAX])
        # Sends the channel accepted but the sender never recorded: before their receipts.
        await record_from_receipts(tx, parsed, signed, accounts)
        await record_campaign_receipts(tx, parsed, signed, accounts)
        customer = [i for p in parsed.values() for i in p.items if isinstance(i, InboundMessage)]
        senders = [
            s for i, p in parsed.items() for s in await profiles.senders(p, accounts, signed[i])
        ]
        await _apply_plain(tx, parsed, signed, accounts, outcomes)
        await _apply_each(tx, rows, parsed, signed, accounts, outcomes)
        await profiles.mark_due(conn, senders)  # looked up later by contacts/worker.py
        await _campaigns(conn, settings, customer)
        done = [outcomes[i] for i in range(len(rows))]
        await queries.finish(
            conn,
            [r["id"] for r in rows],
            [o.status for o in done],
            [o.error for o in done],
            [o.delay for o in done],
            [o.channel for o in done],
        )
        if any(o.media for o in done):
            await queries.wake_media(conn)
    return len(rows)


async def _campaigns(conn: Conn, settings: Settings, customer: list[InboundMessage]) -> None:
    """Campaign opt-outs by keyword and reply links (campaigns/replies.py), in a savepoint:
    should they fail, the messages are still stored and the failure logged."""
    if not customer:
        return
    await conn.execute("SAVEPOINT campaign_replies")
    try:
        await campaign_replies.after_batch(conn, settings, customer)
    except Exception:
        await conn.execute("ROLLBACK TO SAVEPOINT campaign_replies")
        log.exception("linking campaign replies failed")
        return
    await conn.execute("RELEASE SAVEPOINT campaign_replies")


async def _apply_plain(
    tx: Tx,
    parsed: dict[int, Parsed],
    signed: dict[int, service.Signed],
    accounts: service.Accounts,
    outcomes: dict[int, Outcome],
) -> None:
    """Payloads of plain inbound messages, all at once (messages.ingest.ingest_many). Should
    that fail, they are left to the one-payload-at-a-time path, which isolates the culprit."""
    plain: dict[int, list[NewInbound]] = {}
    for index, payload in parsed.items():
        items = await service.plain_messages(payload, accounts, signed[index])
        if items is not None:
            plain[index] = items
    # A message quoting another of the same batch needs the quoted one stored first.
    ids = {(m.channel, m.channel_message_id) for items in plain.values() for m in items}
    for index in [i for i, items in plain.items() if any(
        (m.channel, m.reply_to_channel_message_id) in ids for m in items
    )]:  # fmt: skip
        del plain[index]
    if not plain:
        return
    # Custom plans: a generic plan made while the tables were small (a seq scan matching
    # each row against the whole array) would stay in the statement cache as they grow.
    await tx.conn.execute("SAVEPOINT plain_batch; SET LOCAL plan_cache_mode = force_custom_plan")
    try:
        await ingest_many(tx, [m for items in plain.values() for m in items])
    except Exception:  # e.g. a deadlock; the one-by-one path sorts it out
        await tx.conn.execute("ROLLBACK TO SAVEPOINT plain_batch")
        log.warning("batched ingest failed; applying one payload at a time", exc_info=True)
        return
    await tx.conn.execute("RELEASE SAVEPOINT plain_batch; RESET plan_cache_mode")
    for index in plain:
        payload = parsed.pop(index)
        notes = service.joined(list(payload.notes))
        outcomes[index] = Outcome("processed", notes, channel=payload.channel)


async def _apply_each(
    tx: Tx,
    rows: list[asyncpg.Record],
    parsed: dict[int, Parsed],
    signed: dict[int, service.Signed],
    accounts: service.Accounts,
    outcomes: dict[int, Outcome],
) -> None:
    """The remaining payloads one by one, each inside its own savepoint."""
    conn = tx.conn
    savepoint = _SAVEPOINT
    for index, payload in parsed.items():
        row = rows[index]
        attempt = row["attempts"] + 1
        await conn.execute(savepoint)
        savepoint = _NEXT_SAVEPOINT
        try:
            outcome = await service.apply(tx, payload, accounts, attempt, signed[index])
        except (asyncpg.PostgresError, InboundError, TimeoutError) as exc:
            await conn.execute("ROLLBACK TO SAVEPOINT audit_row")
            outcome = _failure(exc, attempt, payload.channel)
        except Exception as exc:  # a bug: this payload fails, the batch goes on
            await conn.execute("ROLLBACK TO SAVEPOINT audit_row")
            log.exception("inbound payload raised", extra={"audit_id": row["id"]})
            outcome = _failure(exc, attempt, payload.channel)
        outcomes[index] = outcome


async def _run(
    name: str,
    tick: Callable[[], Awaitable[int]],
    wake: asyncio.Event,
    stop: asyncio.Event,
    linger: tuple[int, float] = (0, 0.0),
) -> None:
    """Ticks until stopped; idles when nothing was due. `linger` (n, seconds): after a tick
    that handled fewer than n rows, wait that long first, so that under load the next tick
    finds a fuller batch (each batch costs a few statements however many rows it holds)."""
    partial, pause = linger
    while not stop.is_set():
        wake.clear()
        try:
            handled = await tick()
        except asyncio.CancelledError:
            raise
        except Exception:  # the database went away: wait, then try again
            log.exception("inbound tick failed", extra={"runner": name})
            handled = 0
        if not handled:
            await wait_for_any(wake, stop, seconds=IDLE_SECONDS)
        elif handled < partial:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)


async def inbound_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    """CONCURRENCY batch runners and one media runner, woken by NOTIFY or every IDLE_SECONDS."""
    box = box_from(settings)
    batch_wakes = [asyncio.Event() for _ in range(CONCURRENCY)]
    media_wake = asyncio.Event()

    def on_inbound(*_: object) -> None:
        for wake in batch_wakes:
            wake.set()

    def on_media(*_: object) -> None:
        media_wake.set()

    async with pool.acquire() as listener:
        await listener.add_listener(queries.INBOUND_WAKE_CHANNEL, on_inbound)
        await listener.add_listener(queries.MEDIA_WAKE_CHANNEL, on_media)
        try:
            runners = [
                _run(
                    f"batch-{i}",
                    lambda: process_batch(pool, settings, box),
                    wake,
                    stop,
                    (BATCH_SIZE, LINGER_SECONDS),
                )
                for i, wake in enumerate(batch_wakes)
            ]
            runners.append(
                _run("media", lambda: fetch_media(pool, settings, box), media_wake, stop)
            )
            await asyncio.gather(*runners)
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(queries.INBOUND_WAKE_CHANNEL, on_inbound)
                await listener.remove_listener(queries.MEDIA_WAKE_CHANNEL, on_media)
