"""An email integration and its mailbox account for the email benches (bench/email_import.py,
bench/email_send.py), its credentials sealed as the API would store them."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import asyncpg
from outbound import SECRET_KEY

from omnistream.integrations.credentials import seal
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel


async def email_account(
    conn: asyncpg.Connection, values: dict[str, Any], mailbox: str, *, rate: int = 80
) -> UUID:
    """The account's id; `rate` its send_rate_per_second (the column's default is 80)."""
    integration_id = uuid4()
    stored = seal(SecretBox(SECRET_KEY), Channel.EMAIL, integration_id, values)
    await conn.execute(
        "INSERT INTO integrations (id, channel, name, credentials_json) "
        "VALUES ($1, 'email', 'Support mailbox', $2)",
        integration_id,
        stored,
    )
    account: UUID = await conn.fetchval(
        "INSERT INTO integration_accounts (integration_id, external_id, display_name, "
        "is_default, send_rate_per_second) VALUES ($1, $2, 'Support', true, $3) RETURNING id",
        integration_id,
        mailbox,
        rate,
    )
    return account
