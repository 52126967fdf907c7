"""SQL of channel profiles: Messenger / Instagram names and pictures looked up from Meta.

The lookup's state lives on the identity it is about (contact_identities.profile_*:
migration 0012); who set a contact's name on contacts.name_source ('channel' | 'agent').
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.contacts.queries import COLUMNS
from omnistream.db.pool import Conn

WAKE_CHANNEL = "omnistream_contact_profiles"  # lookups were marked due
PROFILE_CHANNELS = ("messenger", "instagram")
NAME_SOURCES = ("channel", "agent")
# Claimed lookups: the identity, whom it belongs to, and the account whose token asks.
CLAIM_COLUMNS = "i.channel, i.external_id, i.contact_id, i.profile_account_id, i.profile_attempts"


async def mark_due(
    conn: Conn, channels: list[str], external_ids: list[str], account_ids: list[UUID]
) -> int:
    """The inbound batch's one statement: these senders' identities are due for a lookup
    now, by the account that received their message, unless one is scheduled already or
    the last one is too recent (profile_not_before). Rows another transaction holds are
    skipped (they are being looked up, or marked, right now); locks are taken in key order,
    so two batches never deadlock here. Returns how many were marked."""
    status: str = await conn.execute(
        """
        WITH t AS (
            SELECT DISTINCT ON (channel, external_id) channel, external_id, account
              FROM unnest($1::text[], $2::text[], $3::uuid[]) AS t(channel, external_id, account)
             ORDER BY channel, external_id
        ), due AS (
            SELECT i.channel, i.external_id, t.account
              FROM contact_identities i
              JOIN t ON t.channel = i.channel AND t.external_id = i.external_id
             WHERE i.channel = ANY($4::text[]) AND i.profile_due_at IS NULL
               AND (i.profile_not_before IS NULL OR i.profile_not_before <= now())
             ORDER BY i.channel, i.external_id
               FOR UPDATE OF i SKIP LOCKED
        )
        UPDATE contact_identities i
           SET profile_due_at = now(), profile_account_id = due.account, profile_attempts = 0
          FROM due
         WHERE i.channel = due.channel AND i.external_id = due.external_id
        """,
        channels,
        external_ids,
        account_ids,
        list(PROFILE_CHANNELS),
    )
    return int(status.rsplit(" ", 1)[-1])


async def wake(conn: Conn) -> None:
    await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)


async def claim(
    conn: Conn, limit: int, lease_seconds: float, owner: int | None = None
) -> list[asyncpg.Record]:
    """Due lookups, leased: attempts + 1 and profile_due_at moved past the lease, so a
    crashed lookup is tried again once the lease runs out (or sooner, take_over, when
    `owner`, the claiming worker's liveness key, is gone)."""
    return await conn.fetch(
        f"""
        WITH due AS (
            SELECT channel, external_id FROM contact_identities
             WHERE profile_due_at <= now()
             ORDER BY profile_due_at LIMIT $1 FOR UPDATE SKIP LOCKED
        ), i AS (
            UPDATE contact_identities i
               SET profile_attempts = i.profile_attempts + 1,
                   profile_due_at = now() + make_interval(secs => $2),
                   profile_claimed_by = $3
              FROM due WHERE i.channel = due.channel AND i.external_id = due.external_id
            RETURNING i.*
        )
        SELECT {CLAIM_COLUMNS} FROM i ORDER BY i.channel, i.external_id
        """,
        limit,
        lease_seconds,
        owner,
    )


async def settle(
    conn: Conn,
    channel: str,
    external_id: str,
    attempt: int,
    *,
    error: str | None,
    not_before_seconds: float,
    refresh_seconds: float | None,
    active_seconds: float,
) -> UUID | None:
    """The lookup is over (fetched, refused, or given up), if this attempt still holds the
    lease: no new lookup is marked due for `not_before_seconds`; with `refresh_seconds`,
    the next one is scheduled that far ahead while the customer wrote on this channel within
    `active_seconds` (a customer who went quiet is looked up again at their next message).
    Returns the contact id, or None when the lease was lost."""
    contact_id: UUID | None = await conn.fetchval(
        """
        UPDATE contact_identities i
           SET profile_attempts = 0, profile_checked_at = now(), profile_error = $4,
               profile_claimed_by = NULL,
               profile_not_before = now() + make_interval(secs => $5),
               profile_due_at = CASE
                   WHEN $6::float8 IS NOT NULL AND EXISTS (
                        SELECT 1 FROM conversations c
                         WHERE c.contact_id = i.contact_id AND c.channel = i.channel
                           AND c.last_inbound_at > now() - make_interval(secs => $7))
                   THEN now() + make_interval(secs => $6::float8) END
         WHERE i.channel = $1 AND i.external_id = $2 AND i.profile_attempts = $3
           AND i.profile_due_at IS NOT NULL
        RETURNING i.contact_id
        """,
        channel,
        external_id,
        attempt,
        error,
        not_before_seconds,
        refresh_seconds,
        active_seconds,
    )
    return contact_id


async def retry(
    conn: Conn, channel: str, external_id: str, attempt: int, delay_seconds: float, error: str
) -> None:
    """A failed try: the next one after `delay_seconds` (if this attempt holds the lease)."""
    await conn.execute(
        """
        UPDATE contact_identities
           SET profile_due_at = now() + make_interval(secs => $4), profile_error = $5,
               profile_claimed_by = NULL
         WHERE channel = $1 AND external_id = $2 AND profile_attempts = $3
           AND profile_due_at IS NOT NULL
        """,
        channel,
        external_id,
        attempt,
        delay_seconds,
        error,
    )


async def apply_profile(
    conn: Conn, contact_id: UUID, name: str, picture: str | None
) -> asyncpg.Record | None:
    """The looked-up name (unless an agent named the contact, or Meta gave none) and
    picture; the contact after (COLUMNS, with `old_name`), or None when nothing changed."""
    return await conn.fetchrow(
        f"""
        WITH old AS (SELECT id, name, profile_pic_url FROM contacts WHERE id = $1 FOR UPDATE),
        k AS (
            UPDATE contacts k
               SET name = CASE WHEN k.name_source = 'agent' OR $2::text = '' THEN k.name
                               ELSE $2::text END,
                   profile_pic_url = COALESCE($3::text, k.profile_pic_url), updated_at = now()
              FROM old
             WHERE k.id = old.id
               AND ((k.name_source <> 'agent' AND $2::text <> '' AND k.name <> $2::text)
                    OR ($3::text IS NOT NULL AND k.profile_pic_url IS DISTINCT FROM $3::text))
            RETURNING k.*, old.name AS old_name
        )
        SELECT {COLUMNS}, k.old_name FROM k
        """,
        contact_id,
        name,
        picture,
    )


async def set_name_source(conn: Conn, contact_id: UUID, source: str) -> None:
    """Who set the contact's name: 'agent' (kept from channels) or 'channel'."""
    await conn.execute("UPDATE contacts SET name_source = $2 WHERE id = $1", contact_id, source)


async def name_source(conn: Conn, contact_id: UUID) -> str | None:
    source: str | None = await conn.fetchval(
        "SELECT name_source FROM contacts WHERE id = $1", contact_id
    )
    return source
