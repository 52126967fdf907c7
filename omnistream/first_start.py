"""`serve`'s part in the first admin's password (omnistream/agents/first_admin.py): one
process at a time may issue it, and it is shown in a block of its own once the server
listens, so that a start that fails never shows a password and the block is not lost among
the log lines."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator

import asyncpg
import uvicorn
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from omnistream.agents import queries
from omnistream.agents.first_admin import ISSUER_LOCK_ID, FirstAdminPassword

LOCK_CONNECT_SECONDS = 30.0


class IssuerLock:
    """ISSUER_LOCK_ID, held on a connection of its own in a thread of its own: `serve` runs
    start-up and the server in separate event loops, and the lock must outlive both until
    the process ends (PostgreSQL lets go of it if the process dies)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._ready = threading.Event()
        self._held = False
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="first-admin-lock", daemon=True)

    def acquire(self) -> bool:
        """True if this process got the lock (it does not wait for another holder)."""
        self._thread.start()
        self._ready.wait(LOCK_CONNECT_SECONDS + 5)
        if self._error is not None:
            raise OSError(f"cannot connect to PostgreSQL: {self._error}") from self._error
        return self._held

    def release(self) -> None:
        if self._loop is not None and self._release is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                self._loop.call_soon_threadsafe(self._release.set)
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._hold())
        except BaseException as exc:  # reported by acquire(), in the main thread
            self._error = exc
            self._ready.set()

    async def _hold(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=LOCK_CONNECT_SECONDS)
        try:
            self._held = await queries.try_session_lock(conn, ISSUER_LOCK_ID)
            self._loop, self._release = asyncio.get_running_loop(), asyncio.Event()
            self._ready.set()
            if self._held:
                await self._release.wait()
        finally:
            await conn.close()


@contextlib.contextmanager
def issuer_lock(dsn: str) -> Iterator[IssuerLock]:
    lock = IssuerLock(dsn)
    try:
        yield lock
    finally:
        lock.release()


def sign_in_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the server bound to host:port."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a name
        return f"http://{host}:{port}"
    if address.is_unspecified:  # bound to every interface
        return f"http://127.0.0.1:{port}"
    return f"http://[{host}]:{port}" if address.version == 6 else f"http://{host}:{port}"


def credentials_panel(issued: FirstAdminPassword, url: str) -> Panel:
    body = Text()
    body.append("sign in at: ")
    body.append(url, style="bold")
    body.append("\nemail: ")
    body.append(issued.email, style="bold")
    body.append("\npassword: ")
    body.append(issued.password, style="bold yellow")
    if issued.replaced:
        body.append(
            "\n\nThe password shown by an earlier start was never used (nobody has signed "
            "in yet), so it has been replaced by this one."
        )
    body.append("\n\nShown once: change it after signing in (Settings › My profile).")
    title = "OmniStream admin" + (": new password" if issued.replaced else " account created")
    return Panel(body, title=title, title_align="left", border_style="green", expand=False)


def show_credentials(console: Console, issued: FirstAdminPassword, url: str) -> None:
    # Blank lines around the block keep it apart from the log lines on the terminal.
    console.print()
    console.print(credentials_panel(issued, url), soft_wrap=False, crop=False)
    console.print()
    console.file.flush()


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server that calls `on_listening` once it accepts connections: a port in
    use ends the start before anything is announced."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_listening()
