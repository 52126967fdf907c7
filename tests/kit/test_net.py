"""The outgoing-request guard against private addresses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import httpx
import pytest

from omnistream.kit.net import (
    BlockedAddressError,
    GuardedResolver,
    RefusedAddressError,
    connect_checked,
    forbidden_address,
    http_client,
)


class Listener:
    """A server on 127.0.0.1 counting the connections it sees."""

    def __init__(self) -> None:
        self.hits = 0
        self.port = 0

    async def count(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hits += 1
        writer.close()


@asynccontextmanager
async def counting_listener() -> AsyncIterator[Listener]:
    listener = Listener()
    server = await asyncio.start_server(listener.count, "127.0.0.1", 0)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost:9/",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest",
        "http://[::1]:9/",
        "http://192.168.0.1/",
    ],
)
async def test_private_addresses_are_refused(url: str) -> None:
    async with http_client(allow_private=False) as client:
        with pytest.raises(BlockedAddressError):
            await client.get(url)


async def test_allowed_when_configured() -> None:
    async with http_client(allow_private=True, timeout=1) as client:
        # Reaches the network layer (connection refused on a closed port), not the guard.
        with pytest.raises(Exception) as caught:
            await client.get("http://127.0.0.1:9/")
        assert not isinstance(caught.value, BlockedAddressError)


async def test_only_http_schemes() -> None:
    async with http_client(allow_private=True) as client:
        with pytest.raises((BlockedAddressError, httpx.UnsupportedProtocol)):
            await client.get("file:///etc/passwd")


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("10.0.0.1", True),
        ("10.255.255.255", True),
        ("172.16.0.1", True),
        ("172.31.255.254", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # cloud metadata
        ("100.64.0.1", True),  # carrier-grade NAT
        ("0.0.0.0", True),
        ("224.0.0.251", True),
        ("255.255.255.255", True),
        ("::1", True),
        ("::", True),
        ("fc00::1", True),
        ("fdff:ffff::1", True),
        ("fe80::1", True),
        ("ff02::1", True),
        ("::ffff:10.0.0.1", True),  # IPv4-mapped: judged by its IPv4 address
        ("::ffff:169.254.169.254", True),
        ("172.32.0.1", False),
        ("93.184.216.34", False),
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("::ffff:8.8.8.8", False),
    ],
)
def test_the_address_rule(address: str, refused: bool) -> None:
    assert forbidden_address(address) is refused


async def test_the_resolver_hands_aiohttp_only_checked_addresses() -> None:
    """A name resolving to loopback is refused before any connection is made: a server
    listening there never sees one (the connection goes where the check looked)."""
    async with counting_listener() as listener:
        port = listener.port
        with pytest.raises(RefusedAddressError):
            await GuardedResolver().resolve("localhost", port)
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(), use_dns_cache=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            with pytest.raises(aiohttp.ClientConnectorDNSError) as caught:
                await session.get(f"http://localhost:{port}/")
        assert isinstance(caught.value.os_error, RefusedAddressError)
        assert "127.0.0.1" in str(caught.value.os_error) or "::1" in str(caught.value.os_error)
        assert listener.hits == 0


async def test_mail_connections_go_only_to_checked_addresses() -> None:
    """connect_checked (IMAP, SMTP): "localhost", [::1] and 10.x are refused before any
    connection (a listener never sees one); allowed, the socket is connected."""
    async with counting_listener() as listener:
        port = listener.port
        for host in ("localhost", "127.0.0.1", "[::1]", "10.9.8.7"):
            with pytest.raises(RefusedAddressError) as caught:
                await asyncio.wait_for(connect_checked(host, port, allow_private=False), 1)
            assert "OMNISTREAM_ALLOW_PRIVATE_URLS" in str(caught.value)
        await asyncio.sleep(0.1)
        assert listener.hits == 0
        sock = await connect_checked("127.0.0.1", port, allow_private=True)
        assert sock.getpeername()[1] == port
        sock.close()
        with pytest.raises(OSError):
            await connect_checked("no-such-host.invalid", port, allow_private=True)
