"""The `email_inbound` worker loop: one task per active email integration account, each
importing its mailbox (importer.py), then waiting for news with IMAP IDLE (NOOP polling
without it), reconnecting with backoff after a failure, which it records as the account's
last_error (and a permanent one, which only an admin can fix, as the integration's health).

Several workers may run it side by side: each batch locks the account's cursor, so their
imports of one mailbox serialise and the Message-ID deduplication makes a repeat a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import asyncpg
import orjson

from omnistream.channels.email import inbound_queries as q
from omnistream.channels.email.account import step_health
from omnistream.channels.email.imap import Backoff, ImapError, Mailbox
from omnistream.channels.email.importer import import_new
from omnistream.channels.email.inbound import email_account
from omnistream.config import Settings
from omnistream.db.pool import Pool, transaction
from omnistream.integrations.credentials import box_from
from omnistream.integrations.health import Health, HealthOutcome, record_health
from omnistream.kit.crypto import SecretBox

log = logging.getLogger(__name__)

ACCOUNTS_EVERY = 30.0  # seconds between looks for added, changed or removed accounts
WAIT_WITHIN = 25 * 60.0  # one IDLE (servers end them after 30 minutes), then import again
POLL_INTERVAL = 60.0  # NOOP polling when the server has no IDLE


async def _until(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _record(
    pool: Pool,
    row: asyncpg.Record,
    error: str | None,
    health: HealthOutcome | None = None,
) -> None:
    """The account's import error (None: it works again) and, for a failure only an admin
    can fix (or its end), the integration's health, which Settings › Integrations shows."""
    try:
        async with transaction(pool) as tx:  # both or neither: Settings never shows half
            await q.record_error(tx.conn, row["id"], error)
            if health is not None:
                await record_health(tx.conn, row["integration_id"], health)
    except (OSError, asyncpg.PostgresError):
        log.warning("email import: could not record the account's state", exc_info=True)


def _permanent(exc: Exception, secret: str) -> HealthOutcome | None:
    """The integration's health for a permanent IMAP failure (a refused login or address, a
    missing folder, an untrusted certificate); None for the others (the network, a
    restarting server), which reconnecting fixes."""
    if not isinstance(exc, ImapError) or not exc.permanent:
        return None
    detail = f"import: {exc}".replace(secret, "[redacted]") if secret else f"import: {exc}"
    return HealthOutcome(step_health(exc.step), detail)


async def _wait_for_news(mailbox: Mailbox, stop: asyncio.Event, within: float) -> None:
    """Until new mail, `within` seconds, or `stop` (then the IDLE is cancelled)."""
    news = asyncio.ensure_future(mailbox.wait_for_news(within))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({news, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (news, stopped):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ImapError):
                    await task
    if news.done() and not news.cancelled():
        error = news.exception()
        if error is not None:
            raise error


async def run_account(
    pool: Pool,
    box: SecretBox,
    row: asyncpg.Record,
    stop: asyncio.Event,
    *,
    max_attachment_bytes: int = 16 * 1024 * 1024,
    media_dir: Path | None = None,
    wait_within: float = WAIT_WITHIN,
    poll_interval: float = POLL_INTERVAL,
    backoff: Backoff | None = None,
    allow_private: bool = False,
) -> None:
    """One account's import until `stop`: connect, import, wait for news, import ...; after
    a failure, record it and reconnect after the backoff's delay. A mail server on a
    private or loopback address is refused (recorded as the error, a permanent one) unless
    `allow_private` (OMNISTREAM_ALLOW_PRIVATE_URLS)."""
    account_id: UUID = row["id"]
    backoff = backoff or Backoff()
    failing = marked = False  # marked: this task set the integration's health
    while not stop.is_set():
        try:
            account = email_account(box, row)
        except Exception as exc:  # unusable credentials: only an admin can fix them
            unusable = HealthOutcome(Health.MISCONFIGURED, f"import: configuration: {exc}")
            await _record(pool, row, f"configuration: {exc}", unusable)
            await _until(stop, backoff.permanent)
            continue
        try:
            imap = replace(account.imap, allow_private=allow_private)
            async with Mailbox(imap, poll_interval=poll_interval) as mailbox:
                while not stop.is_set():
                    stats = await import_new(
                        pool,
                        account,
                        mailbox,
                        max_attachment_bytes=max_attachment_bytes,
                        media_dir=media_dir,
                    )
                    # Recovered once an import worked (not at login: a mailbox failing
                    # right after each login must keep backing off).
                    backoff.reset()
                    if failing:
                        fixed = HealthOutcome(Health.OK, "") if marked else None
                        await _record(pool, row, None, fixed)
                        failing = marked = False
                    if stats.fetched or stats.left_out:
                        log.info(
                            "email import",
                            extra={
                                "account_id": str(account_id),
                                "fetched": stats.fetched,
                                "stored": stats.stored,
                                "failed": stats.failed,
                                "left_out": stats.left_out,  # first import: older mail
                            },
                        )
                    if stop.is_set():
                        break
                    await _wait_for_news(mailbox, stop, wait_within)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failing = True
            delay = backoff.next_delay(exc)
            message = str(exc) if isinstance(exc, ImapError) else f"{type(exc).__name__}: {exc}"
            log.warning(
                "email import failed; reconnecting",
                extra={"account_id": str(account_id), "error": message, "retry_in": delay},
                exc_info=not isinstance(exc, ImapError),
            )
            outcome = _permanent(exc, account.imap.password)
            marked = marked or outcome is not None
            await _record(pool, row, message, outcome)
            await _until(stop, delay)


def _version(row: asyncpg.Record) -> str:
    """Changes when the account's address or credentials change: its task is restarted."""
    credentials = row["credentials_json"]
    blob = orjson.dumps([row["external_id"], credentials], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()


async def email_inbound_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    """A task per active email account, started, restarted (changed credentials) and
    stopped (removed, deactivated) as the accounts change; all end with `stop`."""
    box = box_from(settings)
    tasks: dict[UUID, tuple[str, asyncio.Task[None]]] = {}
    try:
        while not stop.is_set():
            try:
                async with pool.acquire() as conn:
                    rows = await q.active_accounts(conn)
            except (OSError, asyncpg.PostgresError):
                log.warning("email import: could not read the accounts", exc_info=True)
                rows = None
            if rows is not None:
                wanted = {r["id"]: r for r in rows}
                for account_id in list(tasks):
                    version, task = tasks[account_id]
                    row = wanted.get(account_id)
                    if row is None or _version(row) != version or task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task
                        del tasks[account_id]
                for account_id, row in wanted.items():
                    if account_id not in tasks:
                        task = asyncio.create_task(
                            run_account(
                                pool,
                                box,
                                row,
                                stop,
                                max_attachment_bytes=settings.upload_max_bytes,
                                media_dir=settings.media_dir,
                                allow_private=settings.allow_private_urls,
                            )
                        )
                        tasks[account_id] = (_version(row), task)
            await _until(stop, ACCOUNTS_EVERY)
    finally:
        running = [task for _, task in tasks.values()]
        if running and stop.is_set():  # they end on their own: let them log out
            await asyncio.wait(running, timeout=10)
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
