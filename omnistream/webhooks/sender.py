"""One delivery attempt over HTTP: signed, bounded in time and size, never redirected, to
checked addresses only. Speaks HTTP, never SQL.

Connect timeout 5 s and 15 s for the whole attempt; at most 64 KB of the answer is read
(the first 2 KB are kept for the log) and a connection whose answer was longer is closed,
not reused. Any 2xx is a success; a redirect is not followed (it is a failure naming its
Location). Connections are pooled per endpoint host; a new connection resolves the host
and connects only to an address that passed the SSRF guard (kit/net.GuardedResolver).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import yarl

from omnistream import __version__
from omnistream.kit.net import GuardedResolver, RefusedAddressError, forbidden_address, ip_literal
from omnistream.webhooks.signing import signature_header

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
READ_LIMIT = 64 * 1024
KEPT_BODY = 2048
USER_AGENT = f"OmniStream-Webhooks/{__version__}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt found."""

    started_at: datetime
    duration_ms: int
    status: int | None = None  # None: no HTTP answer
    body: str | None = None  # the first KEPT_BODY bytes of the answer, as text
    error: str | None = None
    retry_after: str | None = None  # the header, on 429 and 503

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error is None


def new_session(
    allow_private: bool, connect_timeout: float = CONNECT_TIMEOUT, total: float = TOTAL_TIMEOUT
) -> aiohttp.ClientSession:
    """The pooled client of a worker. No DNS cache: each new connection resolves again."""
    connector = aiohttp.TCPConnector(
        limit=0,  # the per-endpoint caps bound concurrency (worker.py)
        use_dns_cache=False,
        resolver=None if allow_private else GuardedResolver(),
        keepalive_timeout=30,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=total, sock_connect=connect_timeout),
        auto_decompress=False,  # what we read is what was sent, 64 KB of it
        skip_auto_headers=("Accept-Encoding",),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


def _refused_literal(url: yarl.URL, allow_private: bool) -> str | None:
    """IP literals never reach the resolver: check them here."""
    if allow_private or url.host is None:
        return None
    address = ip_literal(url.host)
    if address is not None and forbidden_address(address):
        return (
            f"{address} is a loopback, private, link-local or reserved address; "
            "set OMNISTREAM_ALLOW_PRIVATE_URLS=true to allow it"
        )
    return None


async def _read_some(response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    """Up to READ_LIMIT bytes of the body; whether all of it was read."""
    chunks: list[bytes] = []
    size = 0
    while size < READ_LIMIT:
        chunk = await response.content.read(READ_LIMIT - size)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), response.content.at_eof()


def _describe(exc: BaseException, total: float) -> str:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "timed out connecting"
    if isinstance(exc, TimeoutError):
        return f"timed out (no complete answer within {total:g} s)"
    if isinstance(exc, aiohttp.ClientConnectorDNSError) and isinstance(
        exc.os_error, RefusedAddressError
    ):
        return f"refused address: {exc.os_error}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve {exc.host}: {exc.os_error}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate rejected: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}: {exc.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"invalid URL: {exc}"
    text = (str(exc) or type(exc).__name__).replace("\x00", "")
    return f"{type(exc).__name__}: {text}"[:500]


async def attempt(
    session: aiohttp.ClientSession,
    url: str,
    webhook_id: str,
    body: bytes,
    secrets: list[str],
    *,
    allow_private: bool,
    now: datetime | None = None,
    total: float = TOTAL_TIMEOUT,
) -> Attempt:
    """POST `body` to `url` once, signed with every secret in `secrets`."""
    started = now or datetime.now(UTC)
    clock = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - clock) * 1000)

    target = yarl.URL(url, encoded=False)
    if refused := _refused_literal(target, allow_private):
        return Attempt(started, took(), error=f"refused address: {refused}")
    timestamp = int(started.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, webhook_id, timestamp, body),
    }
    try:
        async with asyncio.timeout(total):
            async with session.post(
                target, data=body, headers=headers, allow_redirects=False
            ) as response:
                raw, complete = await _read_some(response)
                if not complete:  # the rest is never read: the connection cannot be reused
                    response.close()
                status = response.status
                # PostgreSQL text holds no NUL: a receiver's binary answer must not make
                # the attempt unrecordable.
                text = raw[:KEPT_BODY].decode("utf-8", "replace").replace("\x00", "\ufffd")
                error = None
                if 300 <= status < 400:
                    where = response.headers.get("Location", "")[:300].replace("\x00", "")
                    error = f"redirect not followed (HTTP {status}, Location: {where or 'none'})"
                elif not 200 <= status < 300:
                    error = f"HTTP {status}"
                asked = response.headers.get("Retry-After") if status in (429, 503) else None
                return Attempt(started, took(), status, text, error, asked)
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        return Attempt(started, took(), error=_describe(exc, total))


async def close(session: aiohttp.ClientSession) -> None:
    with contextlib.suppress(Exception):
        await session.close()
