"""The outgoing-request guard against private addresses."""

from __future__ import annotations

import httpx
import pytest

from omnistream.kit.net import BlockedAddressError, http_client


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
