"""Dovecot for the email tests: one server for the session, a mailbox user of its own for each
test (so tests never see each other's mail), and a server of its own for tests that stop or
restart it. See dovecot.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from omnistream.config import Settings
from omnistream.context import AppContext
from tests.channels.email.dovecot import Dovecot, MailUser, running_dovecot


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
def private(ctx: AppContext, settings: Settings) -> Iterator[Settings]:
    """OMNISTREAM_ALLOW_PRIVATE_URLS=true for the app: Dovecot and aiosmtpd are on loopback."""
    allowed = settings.model_copy(update={"allow_private_urls": True})
    ctx.settings = allowed
    yield allowed
    ctx.settings = settings
