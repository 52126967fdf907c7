"""Outgoing HTTP that refuses private addresses unless the operator allowed them.

Every request's host is resolved and each address checked before the request is sent:
anything that is not a global unicast address (loopback, private, link-local and so the
cloud metadata address 169.254.169.254, shared, reserved, documentation, unspecified) and
multicast, in IPv4 and IPv6 (an IPv4-mapped IPv6 address by its IPv4 address), is refused
(SSRF guard) unless OMNISTREAM_ALLOW_PRIVATE_URLS is set (the local sandbox and tests).

`connect_checked` (the mail servers' IMAP and SMTP) likewise resolves, checks every address
and connects a socket to a checked address; TLS then verifies the host name on that socket.

`GuardedResolver` (aiohttp) resolves and checks in one step and hands aiohttp only the
addresses it checked, so the connection goes to a checked address: a host name whose DNS
answer changes between the check and the connect (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver


class BlockedAddressError(httpx.RequestError):
    """The URL points at an address OmniStream may not call."""


class RefusedAddressError(OSError):
    """A host name resolves only to addresses OmniStream may not call (aiohttp resolver)."""


def forbidden_address(address: str) -> bool:
    """True for every address an outgoing request must not reach."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def refusal(host: str, address: str) -> str:
    return (
        f"{host} resolves to {address}, a private or local address (loopback, private, "
        "link-local or reserved); "
        "set OMNISTREAM_ALLOW_PRIVATE_URLS=true to allow it"
    )


def ip_literal(host: str) -> str | None:
    """The address when `host` is an IP literal (brackets allowed), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


async def check_host(host: str, port: int) -> None:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = str(info[4][0])
        if forbidden_address(address):
            raise BlockedAddressError(refusal(host, address))


async def allowed_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to that may be called (empty: none may).

    Raises OSError (socket.gaierror) when the name does not resolve at all."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(i[4][0]) for i in infos if not forbidden_address(str(i[4][0]))]


async def connect_checked(host: str, port: int, *, allow_private: bool) -> socket.socket:
    """A TCP socket connected to `host`, after every address it resolves to was checked
    (unless `allow_private`): the connection goes to an address that was checked, never to
    one a second DNS answer gives. Addresses are tried in the resolver's order.

    Raises RefusedAddressError (an OSError) when any address may not be called, and
    OSError when the name does not resolve or no address accepts the connection."""
    name = host.strip().strip("[]")
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    if not allow_private:
        for info in infos:
            if forbidden_address(str(info[4][0])):
                raise RefusedAddressError(refusal(name, str(info[4][0])))
    error: OSError = OSError(f"{name} has no address")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:  # cancelled (a timeout)
            sock.close()
            raise
        return sock
    raise error


class GuardedResolver(AbstractResolver):
    """aiohttp's threaded resolver, keeping only addresses that may be called."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if not forbidden_address(r["host"])]
        if not kept:
            raise RefusedAddressError(refusal(host.rstrip("."), found[0]["host"]))
        return kept

    async def close(self) -> None:
        await self._inner.close()


def http_client(allow_private: bool, timeout: float = 15.0, **kwargs: object) -> httpx.AsyncClient:
    async def guard(request: httpx.Request) -> None:
        if request.url.scheme not in ("http", "https"):
            raise BlockedAddressError(f"scheme {request.url.scheme!r} is not allowed")
        if not allow_private:
            await check_host(
                request.url.host, request.url.port or (443 if request.url.scheme == "https" else 80)
            )

    return httpx.AsyncClient(
        timeout=timeout,
        event_hooks={"request": [guard]},
        follow_redirects=False,
        **kwargs,  # type: ignore[arg-type]
    )
