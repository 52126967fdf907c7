"""Which Messenger / Instagram senders of a batch need their profile looked up.

The batch never calls Meta (it holds a transaction over hundreds of messages): it only marks
the senders' identities due, in one statement, and wakes the profile loop
(contacts/worker.py), which asks the Graph API later. Marking is a no-op for an identity
looked up recently (contact_identities.profile_not_before), so a chatty customer costs one
lookup a refresh interval, however many messages they send.
"""

from __future__ import annotations

from uuid import UUID

from omnistream.contacts import profile_queries
from omnistream.db.pool import Conn
from omnistream.inbound.model import InboundMessage, Parsed
from omnistream.inbound.service import Accounts, Signed, signed_for

Sender = tuple[str, str, UUID]  # (channel, PSID / IGSID, the account that received it)


async def senders(parsed: Parsed, accounts: Accounts, signed: Signed) -> list[Sender]:
    """The payload's Messenger / Instagram message senders, with the active account of a
    signing integration that received each (others are not applied, so not looked up)."""
    found: list[Sender] = []
    for item in parsed.items:
        if not isinstance(item, InboundMessage):
            continue
        if item.channel not in profile_queries.PROFILE_CHANNELS:
            continue
        sender = item.contact.strip()
        if not 1 <= len(sender) <= 200:  # refused by the store (messages.ingest.check)
            continue
        account = await accounts.find(item.channel, item.accounts)
        if account is None or not account.is_active or not signed_for(account, signed):
            continue
        found.append((item.channel, sender, account.account_id))
    return found


async def mark_due(conn: Conn, found: list[Sender]) -> None:
    """Marks the senders' lookups due (identities the batch did not store are not matched)
    and wakes the profile loop when any was."""
    if not found:
        return
    marked = await profile_queries.mark_due(
        conn, [c for c, _, _ in found], [s for _, s, _ in found], [a for _, _, a in found]
    )
    if marked:
        await profile_queries.wake(conn)
