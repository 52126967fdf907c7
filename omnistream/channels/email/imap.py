"""The email channel's IMAP side: an account's IMAP settings, the "test connection" check, and
a `Mailbox` that imports mail by UID so that a restart or a reconnect imports nothing twice and
misses nothing.

How the inbound worker uses it (it persists an `ImportCursor` per account):

    async with Mailbox(settings) as box:
        if stored_cursor is None:  # the first connection: recent mail only
            last_uid = (await box.start_point()).last_uid  # persisted at once
        else:
            last_uid = box.resume_after(stored_cursor)  # 0 when the UIDVALIDITY changed
        while True:
            mails = await box.fetch_after(last_uid, limit=50)
            for mail in mails:
                ...  # store mail.raw (deduplicated by Message-ID), then persist
                ...  # ImportCursor(box.uidvalidity, mail.uid)
                last_uid = mail.uid
            if not mails:
                await box.wait_for_news(within=300)  # IDLE, or NOOP polling without it

and on `ImapError` sleeps `backoff.next_delay(error)` before a new `Mailbox` (`backoff.reset()`
after a connection that worked). The connection itself is in `imap_client.py`.
"""

from __future__ import annotations

import asyncio
import bisect
import random
import ssl
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Literal, cast, get_args

from omnistream.channels.email.hosts import is_loopback
from omnistream.channels.email.imap_client import (
    ImapAuthError,
    ImapConnection,
    ImapError,
    ImapFolderError,
    ImapPermanentError,
    ImapTransientError,
)

__all__ = [
    "Backoff",
    "CheckResult",
    "FetchedMail",
    "ImapAuthError",
    "ImapError",
    "ImapFolderError",
    "ImapPermanentError",
    "ImapSettings",
    "ImapSettingsError",
    "ImapTransientError",
    "ImportCursor",
    "Mailbox",
    "StartPoint",
    "check",
    "is_loopback",
]

TlsMode = Literal["implicit", "starttls", "none"]
CheckStep = Literal["connect", "tls", "login", "folder"]
# Servers drop an IDLE after 30 minutes without traffic (RFC 2177): renew before that.
MAX_IDLE_SECONDS = 29 * 60
CONTROL_CHARACTERS = ("\r", "\n", "\0")
# A new mailbox's first import takes the mail of the last days only (imap_backfill_days).
DEFAULT_BACKFILL_DAYS = 7
MAX_BACKFILL_DAYS = 3650
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class ImapSettingsError(ValueError):
    """Settings that cannot be used; `field` names the offending one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class ImapSettings:
    """An account's IMAP side. TLS "none" only on loopback; certificates are verified;
    a host resolving to a private or loopback address is refused unless `allow_private`
    (OMNISTREAM_ALLOW_PRIVATE_URLS). `backfill_days`: how far back the first import of the
    folder goes (0: only mail arriving from then on; see Mailbox.start_point)."""

    host: str
    port: int
    tls: TlsMode
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    allow_private: bool = False
    backfill_days: int = DEFAULT_BACKFILL_DAYS

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise ImapSettingsError("host", "is required")
        if not 1 <= self.port <= 65535:
            raise ImapSettingsError("port", f"must be 1-65535, not {self.port}")
        if self.tls not in get_args(TlsMode):
            raise ImapSettingsError("tls", f"must be implicit, starttls or none, not {self.tls!r}")
        if self.tls == "none" and not is_loopback(self.host):
            raise ImapSettingsError(
                "tls",
                f"'none' (no encryption) is allowed only for a loopback host (127.0.0.0/8, ::1, "
                f"localhost), not {self.host!r}: use implicit (port 993) or starttls (port 143)",
            )
        if not self.folder.strip():
            raise ImapSettingsError("folder", "is required")
        if not 0 <= self.backfill_days <= MAX_BACKFILL_DAYS:
            raise ImapSettingsError(
                "backfill_days", f"must be 0-{MAX_BACKFILL_DAYS} days, not {self.backfill_days}"
            )
        for name in ("host", "username", "password", "folder"):
            if any(c in getattr(self, name) for c in CONTROL_CHARACTERS):
                raise ImapSettingsError(name, "must not contain line breaks or NUL")


async def _connect(
    settings: ImapSettings, ssl_context: ssl.SSLContext | None, answer_within: float
) -> ImapConnection:
    """Connected, encrypted as configured, logged in (no folder yet)."""
    context = None
    if settings.tls != "none":
        context = ssl_context or ssl.create_default_context()
    implicit = context if settings.tls == "implicit" else None
    connection = await ImapConnection.open(
        settings.host,
        settings.port,
        ssl_context=implicit,
        answer_within=answer_within,
        allow_private=settings.allow_private,
    )
    try:
        if settings.tls == "starttls" and context is not None:
            await connection.starttls(context)
        await connection.login(settings.username, settings.password)
    except BaseException:
        connection.abort()
        raise
    return connection


@dataclass(frozen=True)
class CheckResult:
    """The outcome of "test connection": ok, or the step that failed with the server's text."""

    ok: bool
    failed_step: CheckStep | None = None
    message: str = ""


async def check(
    settings: ImapSettings,
    *,
    ssl_context: ssl.SSLContext | None = None,
    answer_within: float = 10.0,
) -> CheckResult:
    """Connects, (STARTTLS,) logs in and EXAMINEs the folder (read-only: nothing changes);
    each step gets `answer_within` seconds."""
    try:
        connection = await _connect(settings, ssl_context, answer_within)
        try:
            await connection.select(settings.folder, readonly=True)
        finally:
            await connection.logout()
    except ImapError as error:
        step = cast(CheckStep, error.step) if error.step in get_args(CheckStep) else "connect"
        return CheckResult(False, step, error.detail)
    return CheckResult(True, None, "ok")


@dataclass(frozen=True)
class FetchedMail:
    """A mail as the server stores it: its UID in the folder and the raw RFC 822 bytes."""

    uid: int
    raw: bytes = field(repr=False)


@dataclass(frozen=True)
class ImportCursor:
    """Where an account's import stands, persisted by the worker after each stored mail.
    UIDs mean something only together with the folder's UIDVALIDITY."""

    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class StartPoint:
    """Where the first import of a folder starts: after `last_uid`; `left_out` older mails
    (at or below it) are not imported."""

    last_uid: int
    left_out: int


def imap_date(day: date) -> str:
    """A SEARCH date, e.g. "1-Dec-2026" (English month names, whatever the locale)."""
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}"


class Mailbox:
    """One folder, selected, for importing: `fetch_after` and `wait_for_news`. BODY.PEEK
    everywhere: the mails stay unread for the humans who also use the mailbox."""

    def __init__(
        self,
        settings: ImapSettings,
        *,
        ssl_context: ssl.SSLContext | None = None,
        answer_within: float = 30.0,
        use_idle: bool = True,
        poll_interval: float = 60.0,
    ) -> None:
        self.settings = settings
        self._ssl_context = ssl_context
        self._answer_within = answer_within
        self._use_idle = use_idle
        self.poll_interval = poll_interval
        self._connection: ImapConnection | None = None
        self._uidvalidity = 0
        # The UIDs at or above `_found_from` that the last SEARCH found (see fetch_after).
        self._found: list[int] = []
        self._found_from = 0

    async def __aenter__(self) -> Mailbox:
        connection = await _connect(self.settings, self._ssl_context, self._answer_within)
        try:
            folder = await connection.select(self.settings.folder)
        except BaseException:
            connection.abort()
            raise
        self._connection = connection
        self._uidvalidity = folder.uidvalidity
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.logout()

    @property
    def connection(self) -> ImapConnection:
        if self._connection is None:
            raise RuntimeError("the mailbox is not open (use `async with Mailbox(...)`)")
        return self._connection

    @property
    def uidvalidity(self) -> int:
        """The folder's UIDVALIDITY at SELECT: when it differs from the stored one, the folder
        was recreated and its UIDs now name other mails."""
        return self._uidvalidity

    @property
    def uses_idle(self) -> bool:
        return self._use_idle and "IDLE" in self.connection.capabilities

    def resume_after(self, cursor: ImportCursor | None) -> int:
        """The UID to continue after: the cursor's, or 0 (everything again; the Message-ID
        deduplication keeps it from importing twice) when there is none or the folder's
        UIDVALIDITY changed. A first import (no cursor ever stored) uses `start_point`."""
        if cursor is None or cursor.uidvalidity != self.uidvalidity:
            return 0
        return cursor.last_uid

    async def start_point(self, now: datetime | None = None) -> StartPoint:
        """Where a first import starts (no cursor yet): the folder's mail of the last
        `settings.backfill_days` days (by INTERNALDATE, the day it arrived in the folder, which
        SEARCH compares by date only) and what arrives later; with 0 days, only what arrives
        later. It starts before the lowest UID of a recent mail rather than after the highest
        UID of an old one: a mail moved in from an archive keeps its old date but gets a new
        UID, and must not hide the recent mail below it (so an old mail above the start
        is imported)."""
        days = self.settings.backfill_days
        if days == 0:
            old, recent = await self.connection.uid_search("ALL"), []
        else:
            since = imap_date(((now or datetime.now(UTC)) - timedelta(days=days)).date())
            old = await self.connection.uid_search("BEFORE", since)
            recent = await self.connection.uid_search("SINCE", since)
        last_uid = min(recent) - 1 if recent else max(old, default=0)
        return StartPoint(last_uid, sum(1 for uid in old if uid <= last_uid))

    async def fetch_after(self, last_uid: int, limit: int = 50) -> list[FetchedMail]:
        """Up to `limit` mails with a UID strictly above `last_uid`, in UID order."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        start = bisect.bisect_right(self._found, last_uid)
        wanted = self._found[start : start + limit]
        if not wanted or last_uid + 1 < self._found_from:
            # One SEARCH serves many batches (10,000 waiting mails: not 200 searches of up to
            # 10,000 UIDs). Later arrivals get higher UIDs: found once these are used up.
            # NOOP first: servers show mail delivered meanwhile only after a sync (the
            # EXISTS it brings is then no news: this SEARCH sees those mails).
            await self.connection.noop()
            self.connection.take_news()
            found = await self.connection.uid_search_from(last_uid + 1)
            # "n:*" includes the highest UID even when it is below n (RFC 3501 6.4.8): filter.
            self._found = sorted({uid for uid in found if uid > last_uid})
            self._found_from = last_uid + 1
            wanted = self._found[:limit]
        if not wanted:
            return []
        raw_by_uid = await self.connection.uid_fetch(wanted)
        # A UID missing from the answer was expunged in between: gone, nothing to import.
        return [FetchedMail(uid, raw_by_uid[uid]) for uid in wanted if uid in raw_by_uid]

    async def wait_for_news(self, within: float) -> bool:
        """Until new mail arrives (True) or `within` seconds pass (False; at most 29 minutes
        with IDLE, then call again): IDLE when the server has it, else NOOP every
        `poll_interval` seconds. An EXISTS seen since the last call (say, during a fetch)
        counts: it returns at once."""
        connection = self.connection
        if self.uses_idle:
            return await connection.idle(min(within, MAX_IDLE_SECONDS))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not connection.take_news():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(self.poll_interval, remaining))
            await connection.noop()
        return True


@dataclass
class Backoff:
    """Delays between reconnection attempts: `first` seconds doubling up to `cap`, with
    jitter (so that many accounts do not reconnect in step); a permanent error (a refused
    password, a missing folder) waits `permanent` instead: retrying soon cannot fix it and
    servers lock out accounts that keep failing logins. `reset()` after a success."""

    first: float = 1.0
    cap: float = 60.0
    permanent: float = 15 * 60.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    failures: int = 0

    def next_delay(self, error: BaseException | None = None) -> float:
        """The seconds to wait after this failure ("equal jitter": between half and all of
        the exponential delay)."""
        self.failures += 1
        if isinstance(error, ImapError) and error.permanent:
            delay = self.permanent
        else:
            delay = min(self.cap, self.first * 2 ** min(self.failures - 1, 32))
        return delay / 2 + self.rng.uniform(0, delay / 2)

    def reset(self) -> None:
        self.failures = 0
