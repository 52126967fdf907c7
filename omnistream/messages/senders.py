"""The channel adapters a worker sends with: WhatsApp, Messenger and Instagram through the
Graph API of each conversation's account (credentials cached briefly), email over SMTP from
the conversation's mailbox, plus any adapter registered in code."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from uuid import UUID

from omnistream.channels.email.outbound import EmailAdapter
from omnistream.channels.graph import GraphClient
from omnistream.channels.meta_page.outbound import PageAdapter
from omnistream.channels.registry import (
    ChannelAdapter,
    ChannelRegistry,
    PermanentSendError,
    default_registry,
)
from omnistream.channels.whatsapp.outbound import WhatsAppAdapter
from omnistream.config import Settings
from omnistream.db.pool import Pool
from omnistream.integrations.accounts import AccountConfig, by_id
from omnistream.integrations.credentials import box_from
from omnistream.kit.crypto import DecryptError, SecretBox
from omnistream.kit.enums import Channel

HTTP_TIMEOUT_SECONDS = 10.0
ACCOUNT_TTL_SECONDS = 30.0
KEEPALIVE = 32  # idle HTTP connections kept per origin


class AccountCache:
    """AccountConfig by account id, kept ACCOUNT_TTL_SECONDS (credential changes reach
    running workers within that time)."""

    def __init__(self, pool: Pool, box: SecretBox, ttl: float = ACCOUNT_TTL_SECONDS) -> None:
        self.pool, self.box, self.ttl = pool, box, ttl
        self._items: dict[UUID, tuple[float, AccountConfig | None]] = {}

    async def get(self, account_id: UUID) -> AccountConfig | None:
        hit = self._items.get(account_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        try:
            async with self.pool.acquire() as conn:
                found = await by_id(conn, self.box, account_id)
        except DecryptError as exc:  # the key that sealed the credentials is gone
            raise PermanentSendError(
                "credentials_unreadable", f"the integration's credentials cannot be read: {exc}"
            ) from None
        self._items[account_id] = (time.monotonic() + self.ttl, found)
        return found


@contextlib.asynccontextmanager
async def meta_registry(pool: Pool, settings: Settings) -> AsyncIterator[ChannelRegistry]:
    """The registry a worker sends with: default_registry's adapters, plus WhatsApp,
    Messenger and Instagram through the Graph API of each conversation's account, and email
    through the SMTP server of each conversation's mailbox."""
    http = GraphClient(settings.allow_private_urls, HTTP_TIMEOUT_SECONDS, KEEPALIVE)
    box = box_from(settings)
    accounts = AccountCache(pool, box)
    page = PageAdapter(accounts.get, http)
    email = EmailAdapter(
        pool, box, media_dir=settings.media_dir, allow_private=settings.allow_private_urls
    )
    meta: dict[str, ChannelAdapter] = {
        Channel.WHATSAPP: WhatsAppAdapter(accounts.get, http),
        Channel.MESSENGER: page,
        Channel.INSTAGRAM: page,
        Channel.EMAIL: email,
    }
    registry = ChannelRegistry(meta)
    for name in default_registry.channels():  # adapters registered in code win
        registry.register(name, default_registry.require(name))
    try:
        yield registry
    finally:
        await http.aclose()
        await email.aclose()
