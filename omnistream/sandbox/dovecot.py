"""A real Dovecot IMAP server on loopback (Debian's dovecot-imapd), for the email tests and
`make run`'s demo mailbox: its own configuration, mail, sockets and log in a temporary
directory, listening on a free 127.0.0.1 port, plain LOGIN allowed (loopback only); a
self-signed certificate (openssl) for STARTTLS on that port and implicit TLS on `tls_port`.
Mail "arrives" by IMAP APPEND (pipelined, with LITERAL+), so readers see real IMAP.

`available()` says whether it can run here (Dovecot 2.3 installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aioimaplib  # type: ignore[import-untyped]

from omnistream.channels.email.imap_client import mailbox_name

DOVECOT = Path("/usr/sbin/dovecot")

# Dovecot 2.3 (Debian 12). As root, Dovecot's helper processes run as the package's users and
# the mail as "nobody" (Dovecot refuses mail access as root); as another user, all as that user.
CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = omnistream-{port}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
mail_location = maildir:~/Maildir
mail_fsync = never
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
  default_fields = uid={mail_uid} gid={mail_gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # No auth penalty: Dovecot delays every login from an IP for seconds after a failed one,
  # unless the auth process cannot reach this socket (the tests fail logins on purpose).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


async def _tagged_answer(reader: asyncio.StreamReader, tag: bytes) -> bytes:
    """Reads up to the answer tagged `tag`, which must be OK; that line."""
    while True:
        line = await asyncio.wait_for(reader.readline(), 10)
        if not line:
            raise ConnectionError("Dovecot closed the connection")
        if line.startswith(tag + b" "):
            if not line.startswith(tag + b" OK"):
                raise RuntimeError(f"Dovecot refused: {line!r}")
            return line


def _self_signed_certificate(certificate: Path, key: Path) -> None:
    """For 127.0.0.1 and localhost, valid for two days (EC: generated in milliseconds)."""
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [  # noqa: S607 - openssl from PATH, as installed
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )


@dataclass(frozen=True)
class MailUser:
    name: str
    password: str


def _identities() -> dict[str, Any]:
    """Who Dovecot's processes and the mail files run as (see CONFIG)."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return {
            "login_user": "dovenull",
            "internal_user": "dovecot",
            "internal_group": "dovecot",
            "mail_uid": nobody.pw_uid,
            "mail_gid": nobody.pw_gid,
        }
    me = pwd.getpwuid(os.geteuid())
    return {
        "login_user": me.pw_name,
        "internal_user": me.pw_name,
        "internal_group": grp.getgrgid(me.pw_gid).gr_name,
        "mail_uid": me.pw_uid,
        "mail_gid": me.pw_gid,
    }


D = TypeVar("D", bound="Dovecot")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def version() -> str | None:
    """The installed Dovecot's version, None when there is none (or it does not run)."""
    if not DOVECOT.exists():
        return None
    try:
        found = subprocess.run(  # noqa: S603 - a fixed binary, no shell
            [str(DOVECOT), "--version"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip()


def available() -> bool:
    """Dovecot 2.3 is installed (CONFIG's language; 2.4 changed it) and openssl too."""
    found = version()
    return found is not None and found.startswith("2.3.") and shutil.which("openssl") is not None


class Dovecot:
    """A Dovecot under `root` (a directory of its own). `start`, `stop`, `restart` (same port,
    same mail); `add_user` for a mailbox of a test's own; `append` to deliver a mail."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        if not DOVECOT.exists():
            raise RuntimeError(
                f"{DOVECOT} is missing: Debian's dovecot-imapd is needed "
                "(`make dovecot`, or apt-get install -y dovecot-imapd)"
            )
        found = version()
        if found is None or not found.startswith("2.3."):  # 2.4 changed the language
            raise RuntimeError(f"CONFIG is written for Dovecot 2.3 (Debian 12), not {found}")
        self.root = root
        self.port = port or free_port()
        self.tls_port = free_port()
        self.host = "127.0.0.1"
        self.process: subprocess.Popen[bytes] | None = None
        self.identities = _identities()
        self.log = root / "dovecot.log"
        self.users_file = root / "users"
        self.config = root / "dovecot.conf"
        root.chmod(0o755)  # the unprivileged helper processes open sockets under it
        (root / "mail").mkdir(exist_ok=True)
        os.chown(root / "mail", self.identities["mail_uid"], self.identities["mail_gid"])
        (root / "state").mkdir(exist_ok=True)
        self.users_file.touch()
        self._unused_users: list[MailUser] = []
        self._write_users()
        self.certificate = root / "cert.pem"
        _self_signed_certificate(self.certificate, root / "key.pem")
        self.config.write_text(
            CONFIG.format(root=root, port=self.port, tls_port=self.tls_port, **self.identities)
        )

    def trusting(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate (and verifies it)."""
        return ssl.create_default_context(cafile=str(self.certificate))

    def start(self, within: float = 20) -> None:
        """Starts Dovecot and returns once it greets on its port."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed binary, no shell
                [str(DOVECOT), "-F", "-c", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as a whole if need be
            )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited ({self.process.returncode}):\n{self.tail()}")
            if self._greets():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"dovecot did not answer within {within:g} s:\n{self.tail()}")

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as conn:
                return conn.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGKILL to Dovecot's whole process group: the server goes away at once, with its
        IMAP sessions (after a SIGTERM Dovecot 2.3 lets them run on, and takes a second)."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def _write_users(self, count: int = 100) -> None:
        users = [
            MailUser(f"user-{secrets.token_hex(4)}", secrets.token_hex(8)) for _ in range(count)
        ]
        with self.users_file.open("a") as lines:
            lines.writelines(f"{u.name}:{{PLAIN}}{u.password}::::::\n" for u in users)
        self._unused_users += users

    def add_user(self) -> MailUser:
        """A mailbox user no one has used yet. They are written ahead, in batches: Dovecot
        rereads the users file at most once a second, a user added later might be refused."""
        if not self._unused_users:
            self._write_users()
            time.sleep(1.1)
        return self._unused_users.pop()

    def named_user(self, name: str) -> MailUser:
        """A user of this name (an address, say) with a new password; add it before `start`
        (or wait a second for Dovecot to reread the users file)."""
        if any(c in name for c in ":\n\r") or not name.strip():
            raise ValueError(f"{name!r} cannot be a Dovecot user name")
        user = MailUser(name, secrets.token_hex(12))
        with self.users_file.open("a") as lines:
            lines.write(f"{user.name}:{{PLAIN}}{user.password}::::::\n")
        return user

    async def append(self, raw: bytes, user: MailUser, folder: str = "INBOX") -> int:
        """Delivers `raw` into `folder` over IMAP APPEND; the new mail's UID."""
        return (await self.append_all([raw], user, folder))[0]

    async def append_all(
        self, raws: list[bytes], user: MailUser, folder: str = "INBOX"
    ) -> list[int]:
        """Delivers the mails in this order; their UIDs. Pipelined APPENDs with non-waiting
        literals (LITERAL+): thousands per second, for benchmarks with big mailboxes."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            await reader.readline()  # the greeting
            login = f"L LOGIN {aioimaplib.quoted(user.name)} {aioimaplib.quoted(user.password)}\r\n"
            writer.write(login.encode())
            await _tagged_answer(reader, b"L")
            name = mailbox_name(folder).encode()

            async def answers() -> list[int]:
                # Read while writing: unread answers would fill the socket and stall Dovecot.
                uids = []
                for index in range(len(raws)):
                    answer = await _tagged_answer(reader, b"A%d" % index)
                    found = _APPENDUID.search(answer)
                    if found is None:
                        raise RuntimeError(f"no APPENDUID in {answer!r}")
                    uids.append(int(found[1]))
                return uids

            reading = asyncio.create_task(answers())
            for index, raw in enumerate(raws):
                writer.write(b"A%d APPEND %s {%d+}\r\n%s\r\n" % (index, name, len(raw), raw))
                await writer.drain()
            uids = await reading
            writer.write(b"Z LOGOUT\r\n")
            await writer.drain()
        finally:
            writer.close()
        return uids


@contextlib.contextmanager
def running_dovecot(
    factory: Callable[[Path], D], prepare: Callable[[D], object] = lambda _: None
) -> Iterator[D]:
    """A started Dovecot (`factory(root)`, `prepare`d before the start, e.g. its users) in a
    new temporary directory; stopped and removed afterwards, also after an error. Not a
    directory private to the user (0700): Dovecot's helper processes run as other users."""
    root = Path(tempfile.mkdtemp(prefix="omnistream-dovecot-"))
    try:
        server = factory(root)
        prepare(server)
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
