"""The `private` fixture: OMNISTREAM_ALLOW_PRIVATE_URLS=true for the app (ctx.settings) while
a test runs, for servers on loopback (Dovecot, aiosmtpd, the Meta sandbox). Register it in a
conftest or test module:

    from tests.private_urls import private_fixture  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from omnistream.config import Settings
from omnistream.context import AppContext


@pytest.fixture(name="private")
def private_fixture(ctx: AppContext, settings: Settings) -> Iterator[Settings]:
    """The settings with private URLs allowed, also the app's for the test."""
    allowed = settings.model_copy(update={"allow_private_urls": True})
    ctx.settings = allowed
    try:
        yield allowed
    finally:
        ctx.settings = settings
