"""A real Dovecot IMAP server for the email tests (omnistream/sandbox/dovecot.py, also used by
`make run`'s demo mailbox; `make test` installs Dovecot), plus the tests' own doors into it:
ImapSettings for a user, an aioimaplib session, flags, folders, UIDVALIDITY. The helpers talk
to Dovecot with aioimaplib (or a bare socket, for pipelined APPENDs), not through the module
under test.

Dovecot is missing -> an error, never a skip (like Chromium for the browser tests).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aioimaplib

from omnistream.channels.email.imap import ImapSettings
from omnistream.channels.email.imap_client import mailbox_name
from omnistream.sandbox import dovecot as sandbox
from omnistream.sandbox.dovecot import MailUser

__all__ = ["Dovecot", "MailUser", "running_dovecot"]

_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")


class Dovecot(sandbox.Dovecot):
    """The sandbox's Dovecot with the tests' helpers."""

    def settings(self, user: MailUser, folder: str = "INBOX", **changes: Any) -> ImapSettings:
        """ImapSettings for this server and user (TLS none: loopback)."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "tls": "none",
            "username": user.name,
            "password": user.password,
            "folder": folder,
            "allow_private": True,  # loopback
        }
        return ImapSettings(**(values | changes))

    def credentials(self, user: MailUser) -> dict[str, Any]:
        """An email integration's IMAP credentials for this server and user (TLS none)."""
        return {
            "imap_host": self.host,
            "imap_port": self.port,
            "imap_tls": "none",
            "imap_username": user.name,
            "imap_password": user.password,
        }

    @contextlib.asynccontextmanager
    async def session(self, user: MailUser) -> AsyncIterator[aioimaplib.IMAP4]:
        """A logged-in aioimaplib client (the tests' own door into the mailbox)."""
        imap = aioimaplib.IMAP4(host=self.host, port=self.port, timeout=10)
        await imap.wait_hello_from_server()
        response = await imap.login(user.name, user.password)
        assert response.result == "OK", response
        try:
            yield imap
        finally:
            with contextlib.suppress(Exception):
                await imap.logout()

    async def append_dated(
        self, raw: bytes, user: MailUser, days_ago: float, folder: str = "INBOX"
    ) -> int:
        """Delivers `raw` with an INTERNALDATE `days_ago` days back (as a mail moved in from an
        archive, or one there before OmniStream connected); its UID. `append` dates it now."""
        when = datetime.now(UTC) - timedelta(days=days_ago)
        async with self.session(user) as imap:
            response = await imap.append(raw, mailbox_name(folder), date=when)
            assert response.result == "OK", response
        found = _APPENDUID.search(b" ".join(bytes(line) for line in response.lines))
        assert found is not None, response
        return int(found[1])

    async def flags(self, uid: int, user: MailUser, folder: str = "INBOX") -> set[str]:
        """The flags of the mail with this UID."""
        async with self.session(user) as imap:
            response = await imap.select(mailbox_name(folder))
            assert response.result == "OK", response
            response = await imap.uid("fetch", str(uid), "(FLAGS)")
            assert response.result == "OK", response
        for line in response.lines:
            found = _FLAGS.search(bytes(line))
            if found:
                return set(found[1].decode().split())
        raise AssertionError(f"no FLAGS for UID {uid}: {response}")

    async def create_folder(self, folder: str, user: MailUser) -> None:
        async with self.session(user) as imap:
            response = await imap.create(mailbox_name(folder))
            assert response.result == "OK", response

    async def recreate_folder(self, folder: str, user: MailUser) -> None:
        """DELETE and CREATE: the folder is empty and has a new UIDVALIDITY."""
        assert folder.upper() != "INBOX", "INBOX cannot be deleted"
        async with self.session(user) as imap:
            for command in (imap.delete, imap.create):
                response = await command(mailbox_name(folder))
                assert response.result == "OK", response

    async def uidvalidity(self, user: MailUser, folder: str = "INBOX") -> int:
        async with self.session(user) as imap:
            response = await imap.status(mailbox_name(folder), "(UIDVALIDITY)")
            assert response.result == "OK", response
        found = _UIDVALIDITY.search(b" ".join(bytes(line) for line in response.lines))
        assert found is not None, response
        return int(found[1])


@contextlib.contextmanager
def running_dovecot() -> Iterator[Dovecot]:
    """A started Dovecot in a new temporary directory; stopped and removed afterwards."""
    with sandbox.running_dovecot(Dovecot) as server:
        yield server
