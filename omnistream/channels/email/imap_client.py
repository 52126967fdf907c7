"""A narrow, typed connection to an IMAP server over aioimaplib (the email channel's inbound side).

aioimaplib has no type hints and leaves a command waiting forever (or until its timer) when the
connection drops under it, so every call here races the command against the connection being
lost and against a timeout, and turns whatever went wrong into an `ImapError` that says which
step failed and whether retrying soon can help:

- `ImapTransientError`: the network, a timeout, the server going away -> reconnect with backoff;
- `ImapPermanentError` (`ImapAuthError`, `ImapFolderError`): credentials refused, folder missing,
  certificate not trusted -> retrying soon cannot help (and hammering a login gets accounts
  locked): wait long, tell an admin.

After any error the connection is closed; open a new one. `imap.py` builds on this.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import re
import ssl
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import aioimaplib  # type: ignore[import-untyped]

from omnistream.kit.net import RefusedAddressError, connect_checked

Step = Literal["connect", "tls", "login", "folder", "fetch", "idle"]
T = TypeVar("T")

_EXISTS = re.compile(rb"^\* \d+ EXISTS")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")
_FETCH_HEAD = re.compile(rb"^\d+ FETCH \((.*)\{(\d+)\}$")
_FETCH_UID = re.compile(rb"UID (\d+)")
# RFC 5530 codes saying the server (not the credentials) is the problem right now.
_TEMPORARY_LOGIN_CODES = (b"[UNAVAILABLE]", b"[SERVERBUG]", b"[INUSE]", b"[LIMIT]")


class ImapError(Exception):
    """An IMAP step failed: `step` names it, `detail` is the server's (or the network's) text."""

    permanent = False

    def __init__(self, step: Step, detail: str) -> None:
        super().__init__(f"IMAP {step} failed: {detail}")
        self.step: Step = step
        self.detail = detail


class ImapTransientError(ImapError):
    """Network trouble, a timeout, the server closing the connection: reconnect with backoff."""


class ImapPermanentError(ImapError):
    """Retrying soon cannot help (configuration, certificate): retry rarely, tell an admin."""

    permanent = True


class ImapAuthError(ImapPermanentError):
    """The server refused the username or password."""


class ImapFolderError(ImapPermanentError):
    """The folder cannot be opened (usually: it does not exist)."""


@dataclass(frozen=True)
class OpenedFolder:
    """What SELECT / EXAMINE told about the folder."""

    uidvalidity: int
    uidnext: int | None


def _text(response: Any) -> str:
    """The text of a tagged response (its last line), for error messages."""
    lines = list(response.lines)
    last = bytes(lines[-1]) if lines else b""
    return last.decode("utf-8", errors="replace").strip() or str(response.result)


def mailbox_name(folder: str) -> str:
    """`folder` as an IMAP astring: modified UTF-7 (RFC 3501 5.1.3) and quoted, so names with
    spaces, brackets ("[Gmail]/All Mail") or accents work."""
    encoded: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            utf16 = "".join(pending).encode("utf-16-be")
            b64 = base64.b64encode(utf16).decode().rstrip("=").replace("/", ",")
            encoded.append(f"&{b64}-")
            pending.clear()

    for char in folder:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            encoded.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return str(aioimaplib.quoted("".join(encoded)))


def uid_set(uids: Sequence[int]) -> str:
    """Sorted UIDs as a compact IMAP set: [1, 2, 3, 7] -> "1:3,7"."""
    if not uids:
        raise ValueError("an empty UID set")
    ranges: list[str] = []
    ordered = sorted(set(uids))
    start = prev = ordered[0]
    for uid in [*ordered[1:], None]:
        if uid is not None and uid == prev + 1:
            prev = uid
            continue
        ranges.append(str(start) if start == prev else f"{start}:{prev}")
        if uid is not None:
            start = prev = uid
    return ",".join(ranges)


def _why_not(done: set[Any], lost: asyncio.Future[Any], otherwise: str) -> str:
    return "the server closed the connection" if lost in done else otherwise


def _discard(*tasks: asyncio.Future[Any]) -> None:
    """Cancels what still runs; marks the exceptions of finished ones as seen (no warnings)."""
    for task in tasks:
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()


class _Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """aioimaplib's protocol, plus two signals it lacks: `lost` (the connection is gone) and
    `news` (an EXISTS arrived, whatever command was running: aioimaplib drops unsolicited
    EXISTS during a FETCH, and a mail arriving then would otherwise wait for the next poll)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.lost = asyncio.Event()
        self.news = asyncio.Event()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.lost.set()

    def _untagged_response(self, line: bytes) -> Any:
        if _EXISTS.match(line):
            self.news.set()
        return super()._untagged_response(line)


async def _connect(
    protocol: _Protocol,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    allow_private: bool,
) -> None:
    loop = asyncio.get_running_loop()
    sock = await connect_checked(host, port, allow_private=allow_private)
    try:
        name = host.strip().strip("[]") if ssl_context is not None else None
        await loop.create_connection(
            lambda: protocol, sock=sock, ssl=ssl_context, server_hostname=name
        )
    except BaseException:
        sock.close()
        raise


class ImapConnection:
    """One connection: `open`, then `starttls` / `login` / `select`, then the commands."""

    def __init__(self, protocol: _Protocol, host: str, answer_within: float) -> None:
        self._protocol = protocol
        self._host = host
        self.answer_within = answer_within
        self._closed = False

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        answer_within: float,
        allow_private: bool = False,
    ) -> ImapConnection:
        """Connects (TLS from the first byte when `ssl_context` is given) and waits for the
        server's greeting. The socket goes to an address checked by kit.net (a private or
        loopback one only when `allow_private`); TLS verifies `host` on it."""
        loop = asyncio.get_running_loop()
        protocol = _Protocol(loop)
        try:
            await asyncio.wait_for(
                _connect(protocol, host, port, ssl_context, allow_private), answer_within
            )
        except RefusedAddressError as exc:
            raise ImapPermanentError("connect", str(exc)) from exc
        except ssl.SSLCertVerificationError as exc:
            raise ImapPermanentError("tls", exc.verify_message or str(exc)) from exc
        except ssl.SSLError as exc:
            raise ImapTransientError("tls", str(exc)) from exc
        except TimeoutError as exc:
            raise ImapTransientError("connect", f"no connection in {answer_within:g} s") from exc
        except OSError as exc:
            raise ImapTransientError("connect", exc.strerror or str(exc)) from exc
        connection = cls(protocol, host, answer_within)
        await connection._call("connect", protocol.wait("AUTH|NONAUTH"))
        return connection

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(str(c).upper() for c in self._protocol.capabilities)

    @property
    def closed(self) -> bool:
        return self._closed or self._protocol.lost.is_set()

    async def _call(
        self, step: Step, command: Coroutine[Any, Any, T], limit: float | None = None
    ) -> T:
        """Runs `command`, unless the connection is lost first or `limit` seconds pass (None:
        the connection's answer_within; math.inf: no limit). Any failure closes it."""
        if self.closed:
            command.close()
            raise ImapTransientError(step, "the connection is closed")
        seconds = self.answer_within if limit is None else None if math.isinf(limit) else limit
        task = asyncio.ensure_future(command)
        lost = asyncio.ensure_future(self._protocol.lost.wait())
        try:
            done, _ = await asyncio.wait(
                {task, lost}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:  # cancelled mid-command: the protocol state is unknown
            task.cancel()
            self.abort()
            raise
        finally:
            lost.cancel()
        if task not in done:
            task.cancel()
            self.abort()
            raise ImapTransientError(step, _why_not(done, lost, f"no answer in {seconds} s"))
        try:
            return task.result()
        except (aioimaplib.AioImapException, OSError, TimeoutError) as exc:
            self.abort()
            raise ImapTransientError(step, str(exc) or type(exc).__name__) from exc

    async def starttls(self, context: ssl.SSLContext) -> None:
        """STARTTLS, then the handshake on the same socket, then CAPABILITY again (the list
        before TLS may have been tampered with, RFC 3501 6.2.1)."""
        protocol = self._protocol
        if "STARTTLS" not in self.capabilities:
            self.abort()
            raise ImapPermanentError("tls", "the server does not offer STARTTLS")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await self._call("tls", protocol.execute(command))
        if response.result != "OK":
            self.abort()
            raise ImapPermanentError("tls", _text(response))
        loop = asyncio.get_running_loop()
        try:
            transport = await asyncio.wait_for(
                loop.start_tls(protocol.transport, protocol, context, server_hostname=self._host),
                self.answer_within,
            )
        except ssl.SSLCertVerificationError as exc:
            self.abort()
            raise ImapPermanentError("tls", exc.verify_message or str(exc)) from exc
        except (OSError, TimeoutError) as exc:
            self.abort()
            raise ImapTransientError("tls", str(exc) or type(exc).__name__) from exc
        protocol.transport = transport
        await self._call("tls", protocol.capability())

    async def login(self, username: str, password: str) -> None:
        if "LOGINDISABLED" in self.capabilities:
            self.abort()
            raise ImapPermanentError("login", "the server refuses LOGIN here (use TLS)")
        # aioimaplib sends the username unquoted: quote it (spaces, quotes in usernames).
        login = self._protocol.login(aioimaplib.quoted(username), password)
        response = await self._call("login", login)
        if response.result != "OK":
            self.abort()
            text = _text(response)
            if any(code in text.encode() for code in _TEMPORARY_LOGIN_CODES):
                raise ImapTransientError("login", text)
            raise ImapAuthError("login", text)

    async def select(self, folder: str, *, readonly: bool = False) -> OpenedFolder:
        """SELECT (for fetching and IDLE) or EXAMINE (a look without side effects)."""
        name = mailbox_name(folder)
        if readonly:
            command = self._protocol.simple_command("EXAMINE", name)
        else:
            command = self._protocol.select(name)
        response = await self._call("folder", command)
        if response.result != "OK":
            self.abort()
            raise ImapFolderError("folder", _text(response))
        data = b"\n".join(bytes(line) for line in response.lines)
        validity = _UIDVALIDITY.search(data)
        if validity is None:
            self.abort()
            raise ImapPermanentError("folder", "the server sent no UIDVALIDITY")
        uidnext = _UIDNEXT.search(data)
        self._protocol.news.clear()  # the EXISTS of the SELECT answer itself is no news
        return OpenedFolder(int(validity[1]), int(uidnext[1]) if uidnext else None)

    async def uid_search_from(self, first_uid: int) -> list[int]:
        """UID SEARCH UID first:* as the server answers it (which may include the last message
        even when its UID is below `first_uid`: "*" is the highest UID in use)."""
        return await self.uid_search("UID", f"{first_uid}:*")

    async def uid_search(self, *criteria: str) -> list[int]:
        """The UIDs UID SEARCH finds with these criteria (ASCII: no CHARSET), e.g. ("ALL",) or
        ("SINCE", "1-Dec-2026")."""
        search = self._protocol.search(*criteria, charset=None, by_uid=True)
        response = await self._call("fetch", search)
        if response.result != "OK":
            self.abort()
            raise ImapTransientError("fetch", _text(response))
        # aioimaplib strips "* SEARCH": the data lines are bare numbers; the last is the tag's.
        return [int(t) for line in response.lines[:-1] for t in bytes(line).split() if t.isdigit()]

    async def uid_fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The raw RFC 822 bytes of these UIDs, by UID. BODY.PEEK: nothing gets \\Seen. The
        timeout is per silence (a big mailbox may take long, but keeps sending)."""
        fetch = self._protocol.fetch(
            uid_set(uids), "(UID BODY.PEEK[])", by_uid=True, timeout=self.answer_within
        )
        response = await self._call("fetch", fetch, limit=math.inf)
        if response.result != "OK":
            self.abort()
            raise ImapTransientError("fetch", _text(response))
        mails: dict[int, bytes] = {}
        lines = list(response.lines)
        for index, line in enumerate(lines[:-1]):
            head = _FETCH_HEAD.match(bytes(line)) if isinstance(line, bytes) else None
            if head is None:
                continue
            literal = bytes(lines[index + 1])
            # The UID item may come before the body or after it (on the closing line).
            tail = bytes(lines[index + 2]) if index + 2 < len(lines) else b""
            uid = _FETCH_UID.search(head[1]) or _FETCH_UID.search(tail)
            if uid is None or len(literal) != int(head[2]):
                self.abort()
                raise ImapTransientError("fetch", f"unreadable FETCH answer: {bytes(line)!r}")
            mails[int(uid[1])] = literal
        return mails

    def take_news(self) -> bool:
        """Whether an EXISTS arrived since the last call (or the SELECT); clears it."""
        news = self._protocol.news.is_set()
        self._protocol.news.clear()
        return news

    async def noop(self) -> None:
        response = await self._call("idle", self._protocol.simple_command("NOOP"))
        if response.result != "OK":
            self.abort()
            raise ImapTransientError("idle", _text(response))

    async def idle(self, within: float) -> bool:
        """IDLE until an EXISTS arrives (True) or `within` seconds pass (False), then DONE."""
        protocol = self._protocol
        if self.take_news():
            return True
        if self.closed:
            raise ImapTransientError("idle", "the connection is closed")
        idle = asyncio.ensure_future(protocol.idle())
        started = asyncio.ensure_future(protocol.wait_for_idle_response())
        news = asyncio.ensure_future(protocol.news.wait())
        lost = asyncio.ensure_future(protocol.lost.wait())
        first = asyncio.FIRST_COMPLETED
        try:
            done, _ = await asyncio.wait(
                {started, idle, lost}, timeout=self.answer_within, return_when=first
            )
            if started not in done:
                raise ImapTransientError("idle", _why_not(done, lost, "IDLE was not accepted"))
            done, _ = await asyncio.wait({news, idle, lost}, timeout=within, return_when=first)
            if idle in done or lost in done:
                raise ImapTransientError("idle", _why_not(done, lost, "the server ended IDLE"))
            protocol.idle_done()
            done, _ = await asyncio.wait(
                {idle, lost}, timeout=self.answer_within, return_when=first
            )
            if idle not in done:
                raise ImapTransientError("idle", _why_not(done, lost, "no answer to DONE"))
            response = idle.result()
        except (aioimaplib.AioImapException, OSError) as exc:
            self.abort()
            raise ImapTransientError("idle", str(exc) or type(exc).__name__) from exc
        except BaseException:  # our errors above, or cancelled in the middle of IDLE
            self.abort()
            raise
        finally:
            _discard(idle, started, news, lost)
        while not protocol.idle_queue.empty():  # EXISTS is read through `news` instead
            protocol.idle_queue.get_nowait()
        if response.result != "OK":
            self.abort()
            raise ImapTransientError("idle", _text(response))
        return self.take_news()

    async def logout(self) -> None:
        """LOGOUT politely when the connection still works, then close it in any case."""
        if not self.closed:
            with contextlib.suppress(ImapError):
                await self._call("connect", self._protocol.logout(), limit=2)
        self.abort()

    def abort(self) -> None:
        """Closes the socket at once (after an error the protocol state is not to be trusted)."""
        self._closed = True
        transport = self._protocol.transport
        if transport is not None:
            transport.close()
