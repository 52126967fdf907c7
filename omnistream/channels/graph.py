"""Calling Meta's Graph API (shared/docs/meta-channels.md sections 2-4).

- `GraphClient`: the lean HTTP/1.1 client both Meta adapters share (see its docstring for
  why it is not httpx).
- `call_graph`: the one Graph call of the adapters: network trouble and error bodies go
  through `errors.classify`, so every adapter fails the same way.
- `account_for`: the sending account of a message, or a permanent failure saying why not.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast
from urllib.parse import urlsplit
from uuid import UUID

import httptools
import httpx
import orjson

from omnistream.channels.errors import AuthSendError, classify, cut
from omnistream.channels.registry import (
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
)
from omnistream.integrations.accounts import AccountConfig
from omnistream.kit.net import BlockedAddressError, check_host


def _retry_after(headers: list[tuple[bytes, bytes]]) -> float | None:
    value = next((v for k, v in headers if k.lower() == b"retry-after"), b"")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 < seconds <= 3600 else None


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time (httptools parses)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes]] | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.closed = False
        self.answered = False  # any byte of the answer arrived
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not asyncio.Transport subclasses, same methods).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"malformed HTTP answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError(str(exc) if exc else "the server closed the connection"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            status = self.parser.get_status_code()
            waiter.set_result((status, self.headers, b"".join(self.body)))
        if not self.parser.should_keep_alive():
            self.close()

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def exchange(self, raw: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        assert self.transport is not None and self.waiter is None
        self.headers, self.body, self.answered = [], [], False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class GraphClient:
    """The HTTP/1.1 client of the Meta adapters: keep-alive connections per origin, HTTP
    parsed by httptools (uvicorn's parser), TLS by asyncio, no redirects followed.

    Why not httpx: a send through httpx.AsyncClient cost about 0.7 ms of CPU (its request
    and response models, cookie, auth and redirect flows, anyio, h11, and a check of every
    pooled connection per request), more than everything else a send does together; this
    client costs about 0.06 ms (bench/outbound.py, docs/performance.md). Multipart uploads
    are still encoded by httpx. Every request passes kit/net.py's private-address guard
    unless OMNISTREAM_ALLOW_PRIVATE_URLS is set. Proxies (HTTPS_PROXY) are not used.

    A request on a reused connection that the server closed while it was idle (no byte of
    an answer came back) is sent once more on a new connection: the server never read it.
    """

    def __init__(
        self,
        allow_private: bool,
        timeout: float = 10.0,
        keepalive: int = 32,
        keepalive_expiry: float = 30.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.keepalive = keepalive
        self.keepalive_expiry = keepalive_expiry
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._tls = tls  # None: the system's trusted CAs, made on first https use

    async def post(
        self,
        url: str,
        token: str,
        *,
        json: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """(status, headers, body). Raises BlockedAddressError, TimeoutError, OSError
        (ConnectionError included)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BlockedAddressError(f"{url!r} is not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not self.allow_private:
            await check_host(parts.hostname, port)
        if files is not None or data is not None:  # multipart, encoded by httpx's encoder
            built = httpx.Request("POST", url, data=data, files=files)
            body = built.read()
            kind = built.headers["content-type"].encode()
        else:
            body, kind = orjson.dumps(json or {}), b"application/json"
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        raw = b"".join(
            (
                f"POST {target} HTTP/1.1\r\nHost: {host}\r\n".encode(),
                b"User-Agent: OmniStream\r\nAccept: application/json\r\n",
                b"Content-Type: " + kind + b"\r\n",
                f"Content-Length: {len(body)}\r\nAuthorization: Bearer ".encode(),
                token.encode(),
                b"\r\n\r\n",
                body,
            )
        )
        origin = (parts.scheme, parts.hostname, port)
        async with asyncio.timeout(self.timeout):
            while True:
                conn, reused = await self._acquire(origin)
                try:
                    answer = await conn.exchange(raw)
                except ConnectionError:
                    conn.close()
                    if reused and not conn.answered:
                        continue  # closed by the server while idle: it never saw this request
                    raise
                except BaseException:  # timeout or cancel mid-exchange: the state is unknown
                    conn.close()
                    raise
                finally:
                    self._busy.discard(conn)
                self._release(origin, conn)
                return answer

    async def _acquire(self, origin: tuple[str, str, int]) -> tuple[_Connection, bool]:
        idle = self._idle.get(origin, [])
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.closed or now - conn.idle_since > self.keepalive_expiry:
                conn.close()
                continue
            self._busy.add(conn)
            return conn, True
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            tls = self._tls = self._tls or ssl.create_default_context()
        _, conn = await asyncio.get_running_loop().create_connection(
            _Connection, host, port, ssl=tls, server_hostname=host if tls else None
        )
        self._busy.add(conn)
        return conn, False

    def _release(self, origin: tuple[str, str, int], conn: _Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        if conn.closed or len(idle) >= self.keepalive:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def aclose(self) -> None:
        for conn in [*self._busy, *(c for idle in self._idle.values() for c in idle)]:
            conn.close()
        self._idle.clear()
        self._busy.clear()


AccountLookup = Callable[[UUID], Awaitable[AccountConfig | None]]


async def account_for(lookup: AccountLookup, message: OutboundMessage) -> AccountConfig:
    """The account a message goes out from, or a permanent failure that says why not."""
    return await require_account(lookup, message.integration_account_id, message.channel)


async def require_account(
    lookup: AccountLookup, account_id: UUID | None, channel: str
) -> AccountConfig:
    if account_id is None:
        raise PermanentSendError(
            "no_account", "the conversation has no integration account to send from"
        )
    account = await lookup(account_id)
    if account is None:
        raise PermanentSendError("no_account", "the conversation's integration account is gone")
    if not account.is_active:
        raise PermanentSendError(
            "integration_inactive", "the integration is turned off: turn it on and retry"
        )
    if account.channel != channel:
        raise PermanentSendError(
            "wrong_account",
            f"the conversation's account is a {account.channel} account, not {channel}",
        )
    if not account.access_token or any(c in account.access_token for c in "\r\n"):
        raise AuthSendError(
            "no_token", "the integration has no usable access token", account.integration_id
        )
    return account


async def call_graph(
    http: GraphClient,
    account: AccountConfig,
    path: str,
    *,
    json: Mapping[str, Any] | None = None,
    data: Mapping[str, str] | None = None,
    files: Mapping[str, tuple[str, bytes, str]] | None = None,
) -> dict[str, Any]:
    """POST {graph_url}/{path} with the account's token; the JSON answer of a 2xx, else the
    classified SendError. The token never appears in a reason."""
    url = f"{account.graph_url}/{path}"
    try:
        status, headers, raw = await http.post(
            url, account.access_token, json=json, data=data, files=files
        )
    except BlockedAddressError as exc:
        raise PermanentSendError("blocked_address", cut(str(exc))) from None
    except TimeoutError:
        raise TransientSendError("timeout", "the Graph API did not answer in time") from None
    except (OSError, httpx.HTTPError) as exc:  # refused, reset, DNS, TLS, malformed answer
        reason = str(exc) or type(exc).__name__
        raise TransientSendError("connection_error", cut(f"cannot reach Meta: {reason}")) from None
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    if 200 <= status < 300 and isinstance(body, dict):
        return body
    if 200 <= status < 300:
        raise PermanentSendError(
            "bad_response", f"Meta answered HTTP {status} without a JSON object"
        )
    raise classify(
        status,
        body,
        integration_id=account.integration_id,
        retry_after=_retry_after(headers),
        secret=account.access_token,
    )
