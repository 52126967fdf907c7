"""Outgoing HTTP that refuses private addresses unless the operator allowed them.

Every request's host is resolved and each address checked before the request is sent:
loopback, private, link-local, reserved and multicast ranges are refused (SSRF guard) unless
OMNISTREAM_ALLOW_PRIVATE_URLS is set (the local sandbox and tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx


class BlockedAddressError(httpx.RequestError):
    """The URL points at an address OmniStream may not call."""


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


async def check_host(host: str, port: int) -> None:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = str(info[4][0])
        if _forbidden(address):
            raise BlockedAddressError(
                f"{host} resolves to {address}, a private or local address; "
                "set OMNISTREAM_ALLOW_PRIVATE_URLS=true to allow it"
            )


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
