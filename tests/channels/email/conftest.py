"""Dovecot for the email tests: one server for the session, a mailbox user of its own for each
test (so tests never see each other's mail), and a server of its own for tests that stop or
restart it (see dovecot.py); a recording SMTP server requiring AUTH (smtp_server.py), the
sender's channel registry with loopback allowed, and loopback allowed for the app (`private`,
tests/private_urls.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from omnistream.channels.registry import ChannelRegistry
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.messages import worker
from tests.channels.email.dovecot import Dovecot, MailUser, running_dovecot
from tests.channels.email.smtp_server import smtp_fixture  # noqa: F401
from tests.private_urls import private_fixture  # noqa: F401


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot() as server:
        yield server


@pytest.fixture
def mail_user(dovecot: Dovecot) -> MailUser:
    return dovecot.add_user()


@pytest.fixture
def own_dovecot() -> Iterator[Dovecot]:
    """A Dovecot for this test alone (it may stop or restart it)."""
    with running_dovecot() as server:
        yield server


@pytest.fixture
async def registry(ctx: AppContext, settings: Settings) -> AsyncIterator[ChannelRegistry]:
    loopback = settings.model_copy(update={"allow_private_urls": True})  # aiosmtpd on loopback
    async with worker.meta_registry(ctx.pool, loopback) as channels:
        yield channels
