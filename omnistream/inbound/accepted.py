"""Receipts and echoes that name one of our sends by our id (messages/accepted.py): before
a batch's payloads are applied, the sends the sender never recorded get their channel id
from them, in one statement for the whole batch, so the receipts then apply as usual and
the sender does not send those messages again.

Only WhatsApp statuses carrying biz_opaque_callback_data and Messenger / Instagram echoes
carrying our metadata take part (a batch of customer messages costs nothing), each only
for an active account of an integration that signed the call, as service.apply routes.
"""

from __future__ import annotations

import logging
from uuid import UUID

import asyncpg

from omnistream.campaigns import replies as campaign_replies
from omnistream.db.pool import Tx
from omnistream.inbound.model import Echo, Parsed, StatusUpdate
from omnistream.inbound.service import OWN_METADATA_PREFIX, Accounts, Signed, signed_for
from omnistream.messages.accepted import Accepted, our_id, record_accepted

log = logging.getLogger(__name__)


async def _found(
    parsed: dict[int, Parsed], signed: dict[int, Signed], accounts: Accounts
) -> list[Accepted]:
    found: list[Accepted] = []
    for index, payload in parsed.items():
        for item in payload.items:
            if isinstance(item, StatusUpdate):
                message_id = our_id(item.callback_data)
                channel, names, cmid = item.channel, item.accounts, item.channel_message_id
                status, at = item.status, item.occurred_at
            elif isinstance(item, Echo):
                message_id = our_id(item.metadata, OWN_METADATA_PREFIX)
                m = item.message
                channel, names, cmid = m.channel, m.accounts, m.channel_message_id
                status, at = "sent", m.occurred_at
            else:
                continue
            if message_id is None:
                continue
            account = await accounts.find(channel, names)
            if account is None or not account.is_active or not signed_for(account, signed[index]):
                continue  # applying the payload reports it
            found.append(Accepted(message_id, channel, account.account_id, cmid, status, at))
    return found


async def record_from_receipts(
    tx: Tx, parsed: dict[int, Parsed], signed: dict[int, Signed], accounts: Accounts
) -> int:
    """Record the sends these payloads show the channel accepted; how many moved. Inside
    its own savepoint: should it fail, the receipts wait for the sender's record as before."""
    found = await _found(parsed, signed, accounts)
    if not found:
        return 0
    conn = tx.conn
    await conn.execute("SAVEPOINT accepted_sends")
    try:
        rows = await record_accepted(conn, found)
    except asyncpg.PostgresError:  # e.g. a channel id stored meanwhile by the sender
        await conn.execute("ROLLBACK TO SAVEPOINT accepted_sends")
        log.warning("recording accepted sends from receipts failed", exc_info=True)
        return 0
    await conn.execute("RELEASE SAVEPOINT accepted_sends")
    return len(rows)


async def record_campaign_receipts(
    tx: Tx, parsed: dict[int, Parsed], signed: dict[int, Signed], accounts: Accounts
) -> int:
    """The batch's receipts of campaign sends (`c:<recipient>`), applied together with the
    rows locked in id order, before the payloads one by one (which apply them again, a
    no-op), so receipts and the campaign sender's writes never deadlock. In a savepoint:
    should it fail, the one-by-one path applies them."""
    receipts: list[tuple[UUID, StatusUpdate]] = []
    for index, payload in parsed.items():
        for item in payload.items:
            if not isinstance(item, StatusUpdate):
                continue
            recipient = campaign_replies.recipient_of(item.callback_data)
            if recipient is None:
                continue
            account = await accounts.find(item.channel, item.accounts)
            if account is None or not account.is_active or not signed_for(account, signed[index]):
                continue
            receipts.append((recipient, item))
    if not receipts:
        return 0
    conn = tx.conn
    await conn.execute("SAVEPOINT campaign_receipts")
    try:
        applied = await campaign_replies.apply_receipts(conn, receipts)
    except asyncpg.PostgresError:
        await conn.execute("ROLLBACK TO SAVEPOINT campaign_receipts")
        log.warning("recording campaign receipts in a batch failed", exc_info=True)
        return 0
    await conn.execute("RELEASE SAVEPOINT campaign_receipts")
    return applied
