"""SQL of labels and of labels on conversations (the list's label filter is in
conversations/queries.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.conversations.queries import COLUMNS as CONVERSATION_COLUMNS
from omnistream.conversations.queries import (
    ListFilter,
    Params,
    label_ids_sql,
    list_branches,
    visibility_branches,
)
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn

COLUMNS = "l.id, l.name, l.colour, l.description, l.created_at, l.updated_at"
ORDER = "l.name, l.id"  # the order of lists and of a conversation's labels


async def insert(conn: Conn, name: str, colour: str, description: str) -> asyncpg.Record | None:
    """None when the name is taken (names are unique ignoring case)."""
    return await conn.fetchrow(
        f"""
        WITH l AS (INSERT INTO labels (name, colour, description) VALUES ($1, $2, $3)
                   ON CONFLICT ((lower(name))) DO NOTHING RETURNING *)
        SELECT {COLUMNS} FROM l
        """,
        name,
        colour,
        description,
    )


async def get(conn: Conn, label_id: UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM labels l WHERE l.id = $1{lock}", label_id)


async def existing(conn: Conn, label_ids: list[UUID]) -> set[UUID]:
    rows = await conn.fetch("SELECT id FROM labels WHERE id = ANY($1::uuid[])", label_ids)
    return {r["id"] for r in rows}


async def name_taken(conn: Conn, name: str, except_id: UUID) -> bool:
    value: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM labels WHERE lower(name) = lower($1) AND id <> $2)",
        name,
        except_id,
    )
    return value


async def update(conn: Conn, label_id: UUID, changes: dict[str, Any]) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH l AS (UPDATE labels SET name = COALESCE($2, name), colour = COALESCE($3, colour),
                          description = COALESCE($4, description), updated_at = now()
                    WHERE id = $1 RETURNING *)
        SELECT {COLUMNS} FROM l
        """,
        label_id,
        changes.get("name"),
        changes.get("colour"),
        changes.get("description"),
    )
    assert row is not None
    return row


async def delete(conn: Conn, label_id: UUID) -> int:
    """Deletes the label (its rows on conversations go with it: ON DELETE CASCADE); returns
    on how many conversations it was."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM conversation_labels WHERE label_id = $1", label_id
    )
    await conn.execute("DELETE FROM labels WHERE id = $1", label_id)
    return count


async def search(conn: Conn, after: tuple[str, UUID] | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM labels l
         WHERE ($1::text IS NULL OR (l.name, l.id) > ($1, $2::uuid))
         ORDER BY {ORDER} LIMIT $3
        """,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


# --- on conversations -----------------------------------------------------------------------


async def add(conn: Conn, conversation_id: UUID, label_id: UUID, agent_id: UUID) -> bool:
    """False when the conversation had it already. The row copies the conversation's
    status, division and assignee (the caller holds the conversation's row lock; the trigger
    of migration 0027 keeps them equal afterwards)."""
    result: str = await conn.execute(
        """
        INSERT INTO conversation_labels
               (conversation_id, label_id, added_by, status, division_id, assigned_agent_id)
        SELECT c.id, $2, $3, c.status, c.division_id, c.assigned_agent_id
          FROM conversations c WHERE c.id = $1
        ON CONFLICT DO NOTHING
        """,
        conversation_id,
        label_id,
        agent_id,
    )
    return result.endswith(" 1")


async def remove(conn: Conn, conversation_id: UUID, label_id: UUID) -> bool:
    result: str = await conn.execute(
        "DELETE FROM conversation_labels WHERE conversation_id = $1 AND label_id = $2",
        conversation_id,
        label_id,
    )
    return result.endswith(" 1")


async def touch(conn: Conn, conversation_id: UUID) -> asyncpg.Record:
    """A new updated_at (live clients keep the newest state by it), with the labels now."""
    row = await conn.fetchrow(
        f"""
        WITH c AS (UPDATE conversations SET updated_at = now() WHERE id = $1 RETURNING *)
        SELECT {CONVERSATION_COLUMNS} FROM c
        """,
        conversation_id,
    )
    assert row is not None
    return row


async def counts(conn: Conn, scope: Scope, cap: int) -> list[asyncpg.Record]:
    """Per label (by name), its open conversations the scope may see, counted up to `cap`:
    per visibility branch a range of one conversation_labels index, never conversations."""
    # The cap and the status are literals: with parameters, a generic plan guessed a tenth of
    # the rows for the LIMIT and half for the status, and scanned the table per label.
    p = Params()
    limit = int(cap)
    parts = [
        f"(SELECT 1 FROM conversation_labels cl WHERE cl.label_id = l.id "
        f"AND cl.status = 'open' {''.join(' AND ' + c for c in b.sql(p, 'cl'))} "
        f"LIMIT {limit})"
        for b in visibility_branches(scope)
    ]
    union = " UNION ALL ".join(parts)
    return await conn.fetch(
        f"""
        SELECT l.id AS label_id,
               (SELECT count(*) FROM (SELECT 1 FROM ({union}) u LIMIT {limit}) x)::int AS open
          FROM labels l ORDER BY {ORDER}
        """,
        *p.values,
    )


# A list filtered by labels starts from the label rows when at most this many are in view
# (ListFilter.labels_first): reading them costs about as much as walking the branches for a
# label that common would (docs/inbox.md#labels, "Why the label filter is fast").
FEW = 5000


async def few_rows(conn: Conn, scope: Scope, f: ListFilter) -> bool:
    """Whether at most FEW label rows match the list's branches (the caller's visibility, the
    status, assignee and division filters): an index-only count of conversation_labels that
    stops after FEW + 1 (a conversation with two of the labels counts twice)."""
    p = Params()
    stop = FEW + 1
    branches = sorted({replace(b, priority=None) for b in list_branches(scope, f)}, key=repr)
    if not branches:
        return True
    parts = [
        f"(SELECT 1 FROM conversation_labels l WHERE l.label_id IN ({label_ids_sql(f.labels)})"
        f"{''.join(' AND ' + c for c in b.sql(p, 'l'))} LIMIT {stop})"
        for b in branches
    ]
    union = " UNION ALL ".join(parts)
    found: int = await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 FROM ({union}) u LIMIT {stop}) x", *p.values
    )
    return found <= FEW
