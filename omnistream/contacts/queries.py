"""SQL of contacts. COLUMNS is the one column list every query uses."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.conversations.visibility import Scope, visible_sql
from omnistream.db.pool import Conn

COLUMNS = "k.id, k.phone, k.email, k.name, k.profile_pic_url, k.created_at, k.updated_at"


async def get(conn: Conn, contact_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM contacts k WHERE k.id = $1", contact_id)


async def find_or_create_by_phone(conn: Conn, phone: str, name: str) -> tuple[asyncpg.Record, bool]:
    """The contact with this WhatsApp id (digits), created if new; (row, created).

    A known contact without a name gets the profile name (column `named`: true then, so the
    caller announces it); a name set by an agent is kept.
    """
    row = await conn.fetchrow(
        f"""
        WITH ins AS (INSERT INTO contacts (phone, name) VALUES ($1, $2)
                     ON CONFLICT (phone) WHERE phone IS NOT NULL DO NOTHING RETURNING *)
        SELECT {COLUMNS}, true AS created, false AS named FROM ins k
        """,
        phone,
        name,
    )
    if row is not None:
        return row, True
    row = await conn.fetchrow(
        f"""
        UPDATE contacts k SET name = $2, updated_at = now()
         WHERE k.phone = $1 AND k.name = '' AND $2 <> ''
        RETURNING {COLUMNS}, false AS created, true AS named
        """,
        phone,
        name,
    ) or await conn.fetchrow(
        f"SELECT {COLUMNS}, false AS created, false AS named FROM contacts k WHERE k.phone = $1",
        phone,
    )
    assert row is not None
    return row, False


async def find_or_create_by_identity(
    conn: Conn, channel: str, external_id: str, name: str
) -> tuple[asyncpg.Record, bool]:
    """The contact behind a channel-scoped id (Instagram / Messenger user id, email address)."""
    found = await conn.fetchrow(
        f"SELECT {COLUMNS}, false AS created FROM contact_identities i "
        f"JOIN contacts k ON k.id = i.contact_id WHERE i.channel = $1 AND i.external_id = $2",
        channel,
        external_id,
    )
    if found is not None:
        return found, False
    row = await conn.fetchrow(
        f"""
        WITH k AS (INSERT INTO contacts (name) VALUES ($3) RETURNING *),
             i AS (INSERT INTO contact_identities (channel, external_id, contact_id)
                   SELECT $1, $2, id FROM k ON CONFLICT DO NOTHING RETURNING contact_id)
        SELECT {COLUMNS}, EXISTS (SELECT 1 FROM i) AS created FROM k
        """,
        channel,
        external_id,
        name,
    )
    assert row is not None
    if not row["created"]:  # a concurrent insert won: drop ours, use theirs
        await conn.execute("DELETE FROM contacts WHERE id = $1", row["id"])
        return await find_or_create_by_identity(conn, channel, external_id, name)
    return row, True


async def by_phones(conn: Conn, phones: list[str]) -> list[asyncpg.Record]:
    """The contacts with these WhatsApp ids (a batch of inbound messages)."""
    return await conn.fetch(
        f"SELECT {COLUMNS}, false AS created FROM contacts k WHERE k.phone = ANY($1::text[])",
        phones,
    )


async def insert_phones(conn: Conn, phones: list[str], names: list[str]) -> list[asyncpg.Record]:
    """New contacts for these WhatsApp ids; a phone inserted meanwhile by another transaction
    is skipped (read it with by_phones in a later statement). Sorted, so two batches inserting
    overlapping phones wait on each other in one order and never deadlock."""
    return await conn.fetch(
        f"""
        WITH k AS (INSERT INTO contacts (phone, name)
                   SELECT p, n FROM unnest($1::text[], $2::text[]) AS t(p, n) ORDER BY p
                   ON CONFLICT (phone) WHERE phone IS NOT NULL DO NOTHING RETURNING *)
        SELECT {COLUMNS}, true AS created FROM k
        """,
        phones,
        names,
    )


async def fill_names(conn: Conn, ids: list[UUID], names: list[str]) -> list[asyncpg.Record]:
    """Profile names for known contacts that have none (a name set by an agent is kept);
    the rows named (column `named`, for their contact.updated)."""
    return await conn.fetch(
        f"""
        UPDATE contacts k SET name = t.n, updated_at = now()
          FROM unnest($1::uuid[], $2::text[]) AS t(id, n)
         WHERE k.id = t.id AND k.name = '' AND t.n <> ''
        RETURNING {COLUMNS}, false AS created, true AS named
        """,
        ids,
        names,
    )


async def by_identities(
    conn: Conn, channels: list[str], external_ids: list[str]
) -> list[asyncpg.Record]:
    """Contacts behind these channel-scoped ids, with the id they were found by."""
    return await conn.fetch(
        f"""
        SELECT {COLUMNS}, false AS created, i.channel AS found_channel,
               i.external_id AS found_external_id
          FROM unnest($1::text[], $2::text[]) AS t(channel, external_id)
          JOIN contact_identities i ON i.channel = t.channel AND i.external_id = t.external_id
          JOIN contacts k ON k.id = i.contact_id
        """,
        channels,
        external_ids,
    )


# --- the contacts API (search, CRUD, merge) --------------------------------------------------
IDENTITY_COLUMNS = "i.contact_id, i.channel, i.external_id, i.created_at"
AUDIENCE_CAP = 50  # distinct conversation states carried by one contact event


def visible_contact_sql(k: str, role: int, me: int, divisions: int) -> str:
    """Admins and supervisors see every contact; an agent those with a conversation they see."""
    return (
        f"(${role}::text <> 'agent' OR EXISTS (SELECT 1 FROM conversations c"
        f" WHERE c.contact_id = {k}.id AND {visible_sql('c', role, me, divisions)}))"
    )


async def get_visible(
    conn: Conn, scope: Scope, contact_id: UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF k" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM contacts k "
        f"WHERE k.id = $1 AND {visible_contact_sql('k', 2, 3, 4)}{lock}",
        contact_id,
        *scope.params(),
    )


async def lock(conn: Conn, contact_ids: list[UUID]) -> list[asyncpg.Record]:
    """Row locks in id order, so two merges of the same pair cannot deadlock."""
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM contacts k WHERE k.id = ANY($1::uuid[]) ORDER BY k.id FOR UPDATE",
        contact_ids,
    )


async def identities_of(conn: Conn, contact_ids: list[UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {IDENTITY_COLUMNS} FROM contact_identities i "
        "WHERE i.contact_id = ANY($1::uuid[]) ORDER BY i.channel, i.external_id",
        contact_ids,
    )


async def insert(
    conn: Conn, name: str, phone: str | None, email: str | None, profile_pic_url: str | None
) -> asyncpg.Record:
    """Raises asyncpg.UniqueViolationError on a taken phone or email (call in a savepoint)."""
    row = await conn.fetchrow(
        f"""
        WITH k AS (INSERT INTO contacts (name, phone, email, profile_pic_url)
                   VALUES ($1, $2, $3, $4) RETURNING *)
        SELECT {COLUMNS} FROM k
        """,
        name,
        phone,
        email,
        profile_pic_url,
    )
    assert row is not None
    return row


async def add_identities(
    conn: Conn, contact_id: UUID, channels: list[str], external_ids: list[str]
) -> None:
    """Raises asyncpg.UniqueViolationError when one belongs to a contact already."""
    await conn.execute(
        "INSERT INTO contact_identities (channel, external_id, contact_id) "
        "SELECT x.channel, x.external_id, $1 FROM unnest($2::text[], $3::text[]) "
        "AS x(channel, external_id)",
        contact_id,
        channels,
        external_ids,
    )


async def update(
    conn: Conn,
    contact_id: UUID,
    name: str,
    phone: str | None,
    email: str | None,
    profile_pic_url: str | None,
) -> asyncpg.Record:
    """Writes every field (the caller holds the row lock and merged the changes)."""
    row = await conn.fetchrow(
        f"""
        WITH k AS (UPDATE contacts SET name = $2, phone = $3, email = $4, profile_pic_url = $5,
                          updated_at = now()
                    WHERE id = $1 RETURNING *)
        SELECT {COLUMNS} FROM k
        """,
        contact_id,
        name,
        phone,
        email,
        profile_pic_url,
    )
    assert row is not None
    return row


async def conflicts(
    conn: Conn,
    phone: str | None,
    email: str | None,
    channels: list[str],
    external_ids: list[str],
    except_id: UUID | None = None,
) -> list[asyncpg.Record]:
    """(field, contact_id) of every other contact already holding one of these values."""
    return await conn.fetch(
        """
        SELECT 'phone' AS field, id AS contact_id FROM contacts
         WHERE $1::text IS NOT NULL AND phone = $1 AND id IS DISTINCT FROM $5::uuid
        UNION ALL
        SELECT 'email', id FROM contacts
         WHERE $2::text IS NOT NULL AND email = $2 AND id IS DISTINCT FROM $5::uuid
        UNION ALL
        SELECT 'identities.' || (x.n - 1) || '.external_id', i.contact_id
          FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS x(channel, external_id, n)
          JOIN contact_identities i
            ON i.channel = x.channel AND i.external_id = x.external_id
         WHERE i.contact_id IS DISTINCT FROM $5::uuid
        """,
        phone,
        email,
        channels,
        external_ids,
        except_id,
    )


async def audience(conn: Conn, contact_ids: list[UUID]) -> list[asyncpg.Record]:
    """The distinct visibility states of these contacts' conversations (capped)."""
    return await conn.fetch(
        "SELECT DISTINCT division_id, assigned_agent_id FROM conversations "
        "WHERE contact_id = ANY($1::uuid[]) ORDER BY 1, 2 LIMIT $2",
        contact_ids,
        AUDIENCE_CAP,
    )


async def move_children(conn: Conn, from_id: UUID, to_id: UUID) -> tuple[int, int]:
    """Moves conversations, CSAT surveys and identities; (conversations, identities) moved."""
    moved = await conn.fetchrow(
        """
        WITH c AS (UPDATE conversations SET contact_id = $2, updated_at = now()
                    WHERE contact_id = $1 RETURNING 1),
             s AS (UPDATE csat_surveys SET contact_id = $2 WHERE contact_id = $1 RETURNING 1),
             i AS (UPDATE contact_identities SET contact_id = $2
                    WHERE contact_id = $1 RETURNING 1)
        SELECT (SELECT count(*) FROM c)::int AS conversations,
               (SELECT count(*) FROM s)::int AS surveys,
               (SELECT count(*) FROM i)::int AS identities
        """,
        from_id,
        to_id,
    )
    assert moved is not None
    return moved["conversations"], moved["identities"]


async def fill_empty(
    conn: Conn,
    contact_id: UUID,
    name: str,
    phone: str | None,
    email: str | None,
    profile_pic_url: str | None,
) -> asyncpg.Record:
    """Keeps every field the contact has; fills only the empty ones."""
    row = await conn.fetchrow(
        f"""
        WITH k AS (UPDATE contacts
                      SET name = CASE WHEN name = '' THEN $2 ELSE name END,
                          phone = COALESCE(phone, $3), email = COALESCE(email, $4),
                          profile_pic_url = COALESCE(profile_pic_url, $5), updated_at = now()
                    WHERE id = $1 RETURNING *)
        SELECT {COLUMNS} FROM k
        """,
        contact_id,
        name,
        phone,
        email,
        profile_pic_url,
    )
    assert row is not None
    return row


async def delete(conn: Conn, contact_id: UUID) -> None:
    """Deletes the contact; its identities, conversations and their messages cascade."""
    await conn.execute("DELETE FROM contacts WHERE id = $1", contact_id)
