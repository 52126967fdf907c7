"""The CSAT tests' fixtures: the sandbox, OmniStream receiving its webhooks, loopback
allowed for the sender, and the sender's channel registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from omnistream.channels.registry import ChannelRegistry
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.messages.senders import meta_registry
from tests.campaigns.support import live_fixture  # noqa: F401
from tests.inbound.test_inbound_support import _fresh_secrets  # noqa: F401 - autouse
from tests.sandbox_fixture import sandbox_fixture  # noqa: F401


@pytest.fixture
def private(ctx: AppContext, settings: Settings) -> Iterator[Settings]:
    """OMNISTREAM_ALLOW_PRIVATE_URLS=true: the sandbox listens on loopback."""
    allowed = settings.model_copy(update={"allow_private_urls": True})
    ctx.settings = allowed
    yield allowed
    ctx.settings = settings


@pytest.fixture
async def registry(ctx: AppContext, private: Settings) -> AsyncIterator[ChannelRegistry]:
    async with meta_registry(ctx.pool, private) as channels:
        yield channels
