"""Importing a mailbox's new mail by batches (issue 16, inbound): IMAP by UID, one
transaction per batch, each mail stored by inbound.store_mail.

Each batch's mails are stored and the account's import cursor (UIDVALIDITY, last UID) moved in
one transaction, so a crash at any moment neither loses nor duplicates a mail: a mail fetched
again is a no-op by its Message-ID. While a batch is stored, the next one is fetched and
parsed. A batch is stored without a savepoint per mail; when one of its mails fails, the
batch is stored again with them, and that mail is skipped and named in last_error. The
worker loop around this is inbound_worker.py.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from omnistream.channels.email import inbound_queries as q
from omnistream.channels.email.imap import FetchedMail, ImportCursor, Mailbox
from omnistream.channels.email.inbound import EmailAccount, store_mail
from omnistream.channels.email.inbound_media import WrittenFile, remove_files, write_files
from omnistream.channels.email.parse import ParsedMail, parse_mail
from omnistream.db.pool import Pool, transaction

log = logging.getLogger(__name__)

BATCH_SIZE = 50
# What one mail's data can cause (it is skipped, logged, and named in last_error); anything
# else (a deadlock, a lost connection) fails the whole batch, which is fetched again.
MAIL_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, ValueError)


@dataclass
class ImportStats:
    """What an import did (mails fetched; of them stored, duplicates, own, bounces, failed;
    left_out: on the folder's first import, the older mails it does not import)."""

    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    own: int = 0
    bounces: int = 0
    failed: int = 0
    last_uid: int = 0
    left_out: int = 0
    errors: list[str] = field(default_factory=list)
    stored_uids: set[int] = field(default_factory=set, repr=False)

    def add(self, other: ImportStats) -> None:
        for name in ("fetched", "stored", "duplicates", "own", "bounces", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.last_uid = max(self.last_uid, other.last_uid)
        self.errors.extend(other.errors)
        self.stored_uids |= other.stored_uids


async def import_new(
    pool: Pool,
    account: EmailAccount,
    mailbox: Mailbox,
    *,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
    max_attachment_bytes: int = 16 * 1024 * 1024,
    media_dir: Path | None = None,
) -> ImportStats:
    """Imports the mails after the stored cursor, batch by batch, until none is left (or
    `max_batches`). Attachments are stored as media under `media_dir` (without one, only
    described). The folder's first import (no cursor yet) starts at the mailbox's
    start_point (the mail of the last `imap_backfill_days` days), stored at once."""
    async with pool.acquire() as conn:
        stored = await q.cursor(conn, account.id)
    left_out = 0
    if stored is None or stored["uidvalidity"] == 0:  # never imported (0: an error's row)
        start = await mailbox.start_point()
        async with pool.acquire() as conn:
            if await q.start_cursor(conn, account.id, mailbox.uidvalidity, start.last_uid):
                left_out = start.left_out
                log.info(
                    "email import: first connection, older mail left out",
                    extra={
                        "account_id": str(account.id),
                        "backfill_days": account.imap.backfill_days,
                        "left_out": left_out,
                        "after_uid": start.last_uid,
                    },
                )
            stored = await q.cursor(conn, account.id)  # this one, or another worker's
    last_uid = mailbox.resume_after(
        None if stored is None else ImportCursor(stored["uidvalidity"], stored["last_uid"])
    )
    total = ImportStats(last_uid=last_uid, left_out=left_out)
    batches = 0

    async def read_after(uid: int) -> tuple[list[FetchedMail], list[ParsedMail]]:
        mails = await mailbox.fetch_after(uid, batch_size)
        return mails, await asyncio.to_thread(_parse_all, mails, max_attachment_bytes)

    # The next batch is fetched and parsed while this one is stored: IMAP, parsing and the
    # database overlap. A read ahead runs to its end (cancelling it would leave the IMAP
    # connection mid-command) unless the import itself fails or is cancelled.
    ahead = asyncio.ensure_future(read_after(last_uid))
    try:
        while True:
            mails, parsed = await ahead
            if not mails:
                break
            batches += 1
            more = max_batches is None or batches < max_batches
            if more:
                ahead = asyncio.ensure_future(read_after(mails[-1].uid))
            result = await store_batch(
                pool, account, mailbox.uidvalidity, mails, parsed, media_dir=media_dir
            )
            total.add(result)
            last_uid = result.last_uid
            if not more:
                break
            if last_uid != mails[-1].uid:  # another worker got further: read after its cursor
                await _settled(ahead)
                ahead = asyncio.ensure_future(read_after(last_uid))
    except BaseException:
        ahead.cancel()
        await _settled(ahead)
        raise
    return total


async def _settled(task: asyncio.Future[Any]) -> None:
    """Waits for a read ahead whose result is not wanted, its error included."""
    await asyncio.wait([task])
    if not task.cancelled() and task.exception() is not None:
        log.debug("email import: unused read ahead failed", exc_info=task.exception())


def _parse_all(mails: list[FetchedMail], max_attachment_bytes: int) -> list[ParsedMail]:
    return [parse_mail(m.raw, max_attachment_bytes=max_attachment_bytes) for m in mails]


async def store_batch(
    pool: Pool,
    account: EmailAccount,
    uidvalidity: int,
    mails: list[FetchedMail],
    parsed: list[ParsedMail],
    *,
    media_dir: Path | None = None,
) -> ImportStats:
    """One transaction: the mails (one bad mail is logged and skipped, in a savepoint of its
    own: see MAIL_ERRORS) and the cursor moved past them."""
    stats = ImportStats(fetched=len(mails), last_uid=mails[-1].uid)
    files: list[list[WrittenFile]] = [[] for _ in mails]
    if media_dir is not None:
        files = await asyncio.to_thread(write_files, media_dir, parsed)
    unused = [f for written in files for f in written]  # removed unless their mail is stored
    try:
        await _store_batch(pool, account, uidvalidity, mails, parsed, files, media_dir, stats)
        unused = [f for written, mail in zip(files, mails, strict=True)
                  if mail.uid not in stats.stored_uids for f in written]  # fmt: skip
    finally:
        if unused and media_dir is not None:
            await asyncio.to_thread(remove_files, media_dir, unused)
    return stats


async def _store_batch(
    pool: Pool,
    account: EmailAccount,
    uidvalidity: int,
    mails: list[FetchedMail],
    parsed: list[ParsedMail],
    files: list[list[WrittenFile]],
    media_dir: Path | None,
    stats: ImportStats,
) -> None:
    """The batch in one transaction, first without a savepoint per mail (two round trips a
    mail saved); when a mail fails, the whole batch again with them, to skip just that mail."""
    batch = (account, uidvalidity, mails, parsed, files, media_dir, stats)
    try:
        await _store_all(pool, *batch, savepoints=False)
    except _MailFailed:
        fresh = ImportStats(fetched=stats.fetched, last_uid=stats.last_uid)
        for name in ("stored", "duplicates", "own", "bounces", "failed", "errors", "stored_uids"):
            setattr(stats, name, getattr(fresh, name))
        await _store_all(pool, *batch, savepoints=True)


class _MailFailed(Exception):
    """A mail of a batch stored without savepoints failed: the batch is rolled back."""


async def _store_all(
    pool: Pool,
    account: EmailAccount,
    uidvalidity: int,
    mails: list[FetchedMail],
    parsed: list[ParsedMail],
    files: list[list[WrittenFile]],
    media_dir: Path | None,
    stats: ImportStats,
    *,
    savepoints: bool,
) -> None:
    async with transaction(pool) as tx:
        cursor = await q.lock_cursor(tx.conn, account.id)
        if cursor["uidvalidity"] == uidvalidity and cursor["last_uid"] >= stats.last_uid:
            # Another worker stored this batch while we fetched it: continue after its cursor.
            stats.duplicates = len(mails)
            stats.last_uid = cursor["last_uid"]
            return
        for mail, read, written in zip(mails, parsed, files, strict=True):
            stored = media_dir is not None
            try:
                if savepoints:
                    async with tx.conn.transaction():
                        outcome = await store_mail(
                            tx, account, mail.raw, read, written, stored=stored
                        )
                else:
                    outcome = await store_mail(tx, account, mail.raw, read, written, stored=stored)
            except MAIL_ERRORS as exc:
                if not savepoints:
                    raise _MailFailed from exc
                log.exception(
                    "email import: mail not stored",
                    extra={"account_id": str(account.id), "uid": mail.uid},
                )
                stats.failed += 1
                stats.errors.append(f"UID {mail.uid}: {exc}")
                continue
            setattr(stats, outcome, getattr(stats, outcome) + 1)
            if outcome == "stored":
                stats.stored_uids.add(mail.uid)
        await q.move_cursor(tx.conn, account.id, uidvalidity, stats.last_uid)
        if stats.errors:  # for the admin: which mails were skipped, and why
            await q.record_error(tx.conn, account.id, "; ".join(stats.errors))
