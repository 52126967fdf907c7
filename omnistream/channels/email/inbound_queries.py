"""SQL of the email import (importer.py, inbound.py): import cursors, contacts, thread lookup."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.contacts.queries import COLUMNS as CONTACT_COLUMNS
from omnistream.conversations.queries import COLUMNS as CONVERSATION_COLUMNS
from omnistream.db.pool import Conn

ERROR_MAX = 2000  # characters of an error message kept


async def active_accounts(conn: Conn) -> list[asyncpg.Record]:
    """The accounts of active email integrations, with their integration's stored
    (sealed) credentials."""
    return await conn.fetch(
        """
        SELECT a.id, a.integration_id, a.external_id, i.credentials_json
          FROM integration_accounts a JOIN integrations i ON i.id = a.integration_id
         WHERE i.channel = 'email' AND i.is_active
         ORDER BY a.created_at, a.id
        """
    )


async def account(conn: Conn, account_id: UUID) -> asyncpg.Record | None:
    """One account (of an active email integration) as active_accounts has it."""
    return await conn.fetchrow(
        """
        SELECT a.id, a.integration_id, a.external_id, i.credentials_json
          FROM integration_accounts a JOIN integrations i ON i.id = a.integration_id
         WHERE a.id = $1 AND i.channel = 'email' AND i.is_active
        """,
        account_id,
    )


async def cursor(conn: Conn, account_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT uidvalidity, last_uid, last_error FROM email_import_cursors "
        "WHERE integration_account_id = $1",
        account_id,
    )


async def start_cursor(conn: Conn, account_id: UUID, uidvalidity: int, last_uid: int) -> bool:
    """The first import's starting point, unless the account has a cursor already (its
    UIDVALIDITY 0 means none: a row made by record_error); True when this one was stored."""
    stored = await conn.fetchval(
        """
        INSERT INTO email_import_cursors (integration_account_id, uidvalidity, last_uid)
        VALUES ($1, $2, $3)
        ON CONFLICT (integration_account_id) DO UPDATE
           SET uidvalidity = EXCLUDED.uidvalidity, last_uid = EXCLUDED.last_uid,
               updated_at = now()
         WHERE email_import_cursors.uidvalidity = 0
        RETURNING true
        """,
        account_id,
        uidvalidity,
        last_uid,
    )
    return bool(stored)


async def lock_cursor(conn: Conn, account_id: UUID) -> asyncpg.Record:
    """The account's cursor, created if missing (UIDVALIDITY 0: none yet) and locked: the
    batches of one account, from any number of workers, store one after the other."""
    await conn.execute(
        "INSERT INTO email_import_cursors (integration_account_id, uidvalidity, last_uid) "
        "VALUES ($1, 0, 0) ON CONFLICT DO NOTHING",
        account_id,
    )
    row = await conn.fetchrow(
        "SELECT uidvalidity, last_uid FROM email_import_cursors "
        "WHERE integration_account_id = $1 FOR UPDATE",
        account_id,
    )
    assert row is not None
    return row


async def move_cursor(conn: Conn, account_id: UUID, uidvalidity: int, last_uid: int) -> None:
    """After a stored batch (the row is locked by lock_cursor); clears the last error."""
    await conn.execute(
        """
        UPDATE email_import_cursors
           SET uidvalidity = $2, last_uid = $3, updated_at = now(),
               last_error = NULL, last_error_at = NULL
         WHERE integration_account_id = $1
        """,
        account_id,
        uidvalidity,
        last_uid,
    )


async def record_error(conn: Conn, account_id: UUID, error: str | None) -> None:
    """The latest failure of the account's import (None: it works again)."""
    await conn.execute(
        """
        INSERT INTO email_import_cursors
               (integration_account_id, uidvalidity, last_uid, last_error, last_error_at)
        VALUES ($1, 0, 0, $2, CASE WHEN $2::text IS NOT NULL THEN now() END)
        ON CONFLICT (integration_account_id) DO UPDATE
           SET last_error = EXCLUDED.last_error, last_error_at = EXCLUDED.last_error_at
        """,
        account_id,
        None if error is None else error[:ERROR_MAX],
    )


async def find_or_create_contact(
    conn: Conn, address: str, name: str
) -> tuple[asyncpg.Record, bool]:
    """The contact behind an email address (lower-cased): by its email identity, else by
    the contacts.email column (gets the identity), else a new contact with both; True when
    new. A concurrent insert of the same address wins and is used."""
    while True:
        found = await conn.fetchrow(
            f"SELECT {CONTACT_COLUMNS} FROM contact_identities i "
            f"JOIN contacts k ON k.id = i.contact_id "
            f"WHERE i.channel = 'email' AND i.external_id = $1",
            address,
        )
        if found is not None:
            return found, False
        by_email = await conn.fetchrow(
            f"SELECT {CONTACT_COLUMNS} FROM contacts k WHERE k.email = $1", address
        )
        if by_email is not None:
            added = await conn.fetchval(
                "INSERT INTO contact_identities (channel, external_id, contact_id) "
                "VALUES ('email', $1, $2) ON CONFLICT DO NOTHING RETURNING contact_id",
                address,
                by_email["id"],
            )
            if added is not None:
                return by_email, False
            continue  # another transaction gave the address to a contact meanwhile
        row = await conn.fetchrow(
            f"""
            WITH k AS (INSERT INTO contacts (name, email) VALUES ($2, $1)
                       ON CONFLICT (email) WHERE email IS NOT NULL DO NOTHING RETURNING *),
                 i AS (INSERT INTO contact_identities (channel, external_id, contact_id)
                       SELECT 'email', $1, id FROM k ON CONFLICT DO NOTHING
                       RETURNING contact_id)
            SELECT {CONTACT_COLUMNS}, EXISTS (SELECT 1 FROM i) AS created FROM k
            """,
            address,
            name,
        )
        if row is None:
            continue  # the address became another contact's email meanwhile: find it
        if not row["created"]:  # the identity went to another contact meanwhile
            await conn.execute("DELETE FROM contacts WHERE id = $1", row["id"])
            continue
        return row, True


async def thread_matches(
    conn: Conn, message_ids: list[str], own_message_ids: list[UUID], own_conversations: list[UUID]
) -> list[asyncpg.Record]:
    """The email conversations these ids name: rows (kind 'channel' with key = a stored
    message's Message-ID, 'message' with key = one of our messages' id, 'conversation'
    with key = a conversation id) and the conversation_id each one names."""
    return await conn.fetch(
        """
        SELECT 'channel' AS kind, m.channel_message_id AS key, m.conversation_id
          FROM messages m
         WHERE m.channel = 'email' AND m.channel_message_id = ANY($1::text[])
        UNION ALL
        SELECT 'message', m.id::text, m.conversation_id
          FROM messages m WHERE m.id = ANY($2::uuid[]) AND m.channel = 'email'
        UNION ALL
        SELECT 'conversation', c.id::text, c.id
          FROM conversations c WHERE c.id = ANY($3::uuid[]) AND c.channel = 'email'
        """,
        message_ids,
        own_message_ids,
        own_conversations,
    )


async def lock_conversation(conn: Conn, conversation_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1 FOR UPDATE",
        conversation_id,
    )


async def delete_empty_conversation(conn: Conn, conversation_id: UUID) -> None:
    """A conversation opened for a mail that another transaction stored meanwhile."""
    await conn.execute(
        "DELETE FROM conversations c WHERE c.id = $1 "
        "AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)",
        conversation_id,
    )


async def outbound_channel_id(conn: Conn, message_id: UUID) -> str | None:
    """The channel message id recorded for one of our outbound email messages."""
    value: str | None = await conn.fetchval(
        "SELECT channel_message_id FROM messages "
        "WHERE id = $1 AND channel = 'email' AND direction = 'outbound'",
        message_id,
    )
    return value


async def insert_media(
    conn: Conn,
    *,
    conversation_id: UUID,
    filename: str,
    mime_type: str,
    size_bytes: int,
    sha256: str,
    storage_path: str,
) -> UUID:
    """A mail's attachment, stored (inbound_media.py)."""
    value: UUID = await conn.fetchval(
        """
        INSERT INTO media (conversation_id, origin, status, filename, mime_type, size_bytes,
                           sha256, storage_path)
        VALUES ($1, 'inbound', 'ready', $2, $3, $4, $5, $6) RETURNING id
        """,
        conversation_id,
        filename,
        mime_type,
        size_bytes,
        sha256,
        storage_path,
    )
    return value


async def delete_media(conn: Conn, media_ids: list[UUID]) -> None:
    await conn.execute("DELETE FROM media WHERE id = ANY($1::uuid[])", media_ids)
