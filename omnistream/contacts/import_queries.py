"""SQL of the contacts CSV import and export."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from omnistream.contacts.list_queries import last_activity_sql
from omnistream.contacts.queries import COLUMNS, visible_contact_sql
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn


async def taken(conn: Conn, phones: list[str], emails: list[str]) -> list[asyncpg.Record]:
    """(field, value) of the phones and emails existing contacts already have."""
    return await conn.fetch(
        """
        SELECT 'phone' AS field, phone AS value FROM contacts WHERE phone = ANY($1::text[])
        UNION ALL
        SELECT 'email', email FROM contacts WHERE email = ANY($2::text[])
        """,
        phones,
        emails,
    )


async def insert_many(
    conn: Conn,
    names: list[str],
    phones: list[str | None],
    emails: list[str | None],
    attributes: list[str],
) -> list[UUID]:
    """One statement for every row, in file order (attributes as JSON texts). A name given
    in the file is the agent's (channel profiles keep it). Raises UniqueViolationError when
    a concurrent write took a phone or email meanwhile."""
    rows = await conn.fetch(
        """
        INSERT INTO contacts (name, phone, email, attributes, name_source)
        SELECT n, p, e, a::jsonb, CASE WHEN n <> '' THEN 'agent' ELSE 'channel' END
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY
               AS t(n, p, e, a, i)
         ORDER BY i
        RETURNING id
        """,
        names,
        phones,
        emails,
        attributes,
    )
    return [r["id"] for r in rows]


def export_sql() -> str:
    """The visible contacts by (name, id) with their identities as "channel:id" texts
    ($1..$3: the scope; $4: the contains pattern or NULL; $5: phone patterns)."""
    return f"""
        SELECT {COLUMNS}, k.attributes, {last_activity_sql(1)} AS last_activity_at,
               ARRAY(SELECT i.channel || ':' || i.external_id FROM contact_identities i
                      WHERE i.contact_id = k.id ORDER BY i.channel, i.external_id)
               AS identities
          FROM contacts k
         WHERE {visible_contact_sql("k", 1, 2, 3)}
           AND ($4::text IS NULL OR k.name ILIKE $4 OR k.email ILIKE $4
                OR k.phone LIKE ANY($5::text[]))
         ORDER BY k.name, k.id
    """


async def export_cursor(
    conn: Conn, scope: Scope, pattern: str | None, phone_patterns: list[str]
) -> Any:
    """A server-side cursor over export_sql (call inside a transaction)."""
    return await conn.cursor(export_sql(), *scope.params(), pattern, phone_patterns)
