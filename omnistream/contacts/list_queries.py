"""SQL of the contacts screen's reads: the sorted list and what a merge or a delete would
take along (the previews). A contact's conversations: GET /contacts/{id}/conversations
(conversations/routes.py).

Sorts (keyset pages on the sort key, then id):
- name: (name, id) ascending, on contacts_name_idx;
- created: (created_at, id) newest first, on contacts_created_idx;
- last_activity: the newest message of the contact's conversations the caller may see (the
  contact's creation when none), newest first. Computed per visible contact before the page
  is cut (no index holds it: keeping a column would rewrite the contact on every inbound
  message, the hot path), so it costs a read of the caller's contacts; fine for the screen.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

import asyncpg

from omnistream.contacts.queries import COLUMNS, visible_contact_sql
from omnistream.conversations.visibility import Scope, visible_sql
from omnistream.db.pool import Conn

Sort = Literal["name", "created", "last_activity"]
_KEYSET = {  # (ORDER BY, keyset condition on $8 / $9, cast of $8)
    "name": ("k.name, k.id", "(k.name, k.id) > ($8::text, $9::uuid)"),
    "created": ("k.created_at DESC, k.id DESC", "(k.created_at, k.id) < ($8::timestamptz, $9)"),
    "last_activity": (
        "k.last_activity_at DESC, k.id DESC",
        "(k.last_activity_at, k.id) < ($8::timestamptz, $9)",
    ),
}


def last_activity_sql(scope_first: int) -> str:
    r, m, d = scope_first, scope_first + 1, scope_first + 2
    return (
        "COALESCE((SELECT max(c.last_message_at) FROM conversations c"
        f" WHERE c.contact_id = k.id AND {visible_sql('c', r, m, d)}), k.created_at)"
    )


async def search(
    conn: Conn,
    scope: Scope,
    *,
    pattern: str | None,
    phone_patterns: list[str],
    channel: str | None,
    division_id: UUID | None,
    sort: Sort,
    after: tuple[Any, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Contacts the scope may see in the sort's order; q matches name, email, phone or a
    channel id. Each row carries last_activity_at."""
    order, keyset = _KEYSET[sort]
    return await conn.fetch(
        f"""
        SELECT * FROM (
            SELECT {COLUMNS}, {last_activity_sql(1)} AS last_activity_at FROM contacts k
             WHERE {visible_contact_sql("k", 1, 2, 3)}
               AND ($4::text IS NULL OR k.name ILIKE $4 OR k.email ILIKE $4
                    OR k.phone LIKE ANY($5::text[])
                    OR EXISTS (SELECT 1 FROM contact_identities i
                                WHERE i.contact_id = k.id AND i.external_id ILIKE $4))
               AND (($6::text IS NULL AND $7::uuid IS NULL)
                    OR EXISTS (SELECT 1 FROM conversations f
                                WHERE f.contact_id = k.id
                                  AND ($6::text IS NULL OR f.channel = $6)
                                  AND ($7::uuid IS NULL OR f.division_id = $7)))
        ) k
         WHERE ($9::uuid IS NULL OR {keyset})
         ORDER BY {order}
         LIMIT $10
        """,
        *scope.params(),
        pattern,
        phone_patterns,
        channel,
        division_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def taken_along(conn: Conn, contact_id: UUID) -> asyncpg.Record:
    """How many conversations and notes the contact has (all of them, seen or not)."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM conversations WHERE contact_id = $1)::int AS conversations,
               (SELECT count(*) FROM contact_notes WHERE contact_id = $1)::int AS notes
        """,
        contact_id,
    )
    assert row is not None
    return row
