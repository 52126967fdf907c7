"""The CSAT tests' fixtures: the sandbox, OmniStream receiving its webhooks, loopback
allowed for the sender, and the sender's channel registry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from omnistream.channels.registry import ChannelRegistry
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.messages.senders import meta_registry
from tests.campaigns.support import live_fixture  # noqa: F401
from tests.inbound.test_inbound_support import _fresh_secrets  # noqa: F401 - autouse
from tests.private_urls import private_fixture  # noqa: F401
from tests.sandbox_fixture import sandbox_fixture  # noqa: F401


@pytest.fixture
async def registry(ctx: AppContext, private: Settings) -> AsyncIterator[ChannelRegistry]:
    async with meta_registry(ctx.pool, private) as channels:
        yield channels
