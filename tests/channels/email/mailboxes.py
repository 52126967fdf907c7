"""Email integrations for the outbound and connection-test tests, made straight in the tables
(the API does not create email integrations until the channel ships): sealed credentials,
one account per mailbox address, and email conversations with their earlier messages; `tick`
runs the sender until nothing is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson

from omnistream.channels.registry import ChannelRegistry
from omnistream.config import Settings
from omnistream.context import AppContext
from omnistream.integrations.credentials import seal
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel
from omnistream.messages.worker import send_due
from tests.channels.email.smtp_server import TEST_PASSWORD, TEST_USER

MAILBOX = "support@omnistream.test"
CUSTOMER = "budi@example.id"


def credentials(smtp_port: int, **over: Any) -> dict[str, Any]:
    """Loopback IMAP and SMTP (TLS none), the SMTP test user, a From name."""
    return {
        "imap_host": "127.0.0.1",
        "imap_tls": "none",
        "imap_password": "unused-here",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_tls": "none",
        "smtp_username": TEST_USER,
        "smtp_password": TEST_PASSWORD,
        "from_name": "Acme Support",
        **over,
    }


@dataclass(frozen=True)
class MailAccount:
    integration_id: UUID
    account_id: UUID
    address: str


async def email_integration(
    ctx: AppContext, credentials: dict[str, Any], **options: Any
) -> MailAccount:
    """insert_email_integration on one of the app's connections, sealed with its box."""
    async with ctx.pool.acquire() as conn:
        return await insert_email_integration(conn, ctx.box, credentials, **options)


async def insert_email_integration(
    conn: asyncpg.Connection,
    box: SecretBox,
    credentials: dict[str, Any],
    *,
    mailbox: str = MAILBOX,
    active: bool = True,
    display_name: str = "Support",
) -> MailAccount:
    """An email integration named 'Support mailbox' (its credentials sealed with `box`, as the
    API stores them) and its default account for `mailbox`, on a connection with OmniStream's
    JSON codecs (omnistream.db.pool.init_connection)."""
    integration_id = uuid4()
    stored = seal(box, Channel.EMAIL, integration_id, credentials)
    await conn.execute(
        "INSERT INTO integrations (id, channel, name, credentials_json, is_active) "
        "VALUES ($1, 'email', 'Support mailbox', $2, $3)",
        integration_id,
        stored,
        active,
    )
    account_id = await conn.fetchval(
        "INSERT INTO integration_accounts (integration_id, external_id, display_name, "
        "is_default) VALUES ($1, $2, $3, true) RETURNING id",
        integration_id,
        mailbox,
        display_name,
    )
    return MailAccount(integration_id, account_id, mailbox)


async def email_conversation(
    ctx: AppContext, account: MailAccount, customer: str = CUSTOMER
) -> UUID:
    """A contact known by address (and its email identity) with an open email conversation."""
    async with ctx.pool.acquire() as conn:
        contact_id = await conn.fetchval(
            "INSERT INTO contacts (name, email) VALUES ('Budi Santoso', $1) RETURNING id",
            customer,
        )
        await conn.execute(
            "INSERT INTO contact_identities (channel, external_id, contact_id) "
            "VALUES ('email', $1, $2)",
            customer,
            contact_id,
        )
        conversation_id: UUID = await conn.fetchval(
            "INSERT INTO conversations (contact_id, channel, integration_account_id, "
            "last_inbound_at) VALUES ($1, 'email', $2, now()) RETURNING id",
            contact_id,
            account.account_id,
        )
    return conversation_id


async def earlier_message(
    ctx: AppContext,
    conversation_id: UUID,
    message_id: str,
    *,
    direction: str = "inbound",
    minutes_ago: int,
    subject: str | None = None,
    text: str = "Hello",
) -> UUID:
    """A message already in the thread: a customer's mail (inbound) or one of our sent
    replies, with its Message-ID as channel id."""
    content: dict[str, Any] = {"text": text}
    if subject is not None:
        content["subject"] = subject
    async with ctx.pool.acquire() as conn:
        found: UUID = await conn.fetchval(
            "INSERT INTO messages (conversation_id, channel, channel_message_id, direction, type, "
            "content, status, created_at) VALUES ($1, 'email', $2, $3, 'text', $4, $5, $6) "
            "RETURNING id",
            conversation_id,
            message_id,
            direction,
            orjson.loads(orjson.dumps(content)),
            "received" if direction == "inbound" else "sent",
            datetime.now(UTC) - timedelta(minutes=minutes_ago),
        )
    return found


async def tick(ctx: AppContext, settings: Settings, registry: ChannelRegistry) -> int:
    total = 0
    while handled := await send_due(ctx.pool, settings, registry):
        total += handled
    return total
