"""SQL of SLA policies: the admin API's reads and writes, the rows the SLA engine matches
conversations against, and the nudge that makes the breach loop look at a policy's open
conversations again after it changed or went."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from omnistream.db.pool import Conn

# The unique index of migration 0001: one policy per (channel, division) pair.
SCOPE_KEY = "sla_policies_scope_key"
COLUMNS = (
    "p.id, p.name, p.channel, p.division_id, d.name AS division_name, "
    "p.first_response_minutes, p.next_response_minutes, p.resolution_minutes, "
    "p.warning_percent, p.business_hours, p.priority, p.created_by, p.created_at, p.updated_at"
)
FROM = "sla_policies p LEFT JOIN divisions d ON d.id = p.division_id"
# Most specific first; on equal priority (a channel policy and a division policy, both 2)
# the division policy first, then by name (stable for the API's list).
ORDER = "p.priority DESC, (p.division_id IS NULL), p.name, p.id"
# Columns an insert or update may set (names come from the schema, never from the client).
WRITABLE = frozenset(
    {
        "name",
        "channel",
        "division_id",
        "first_response_minutes",
        "next_response_minutes",
        "resolution_minutes",
        "warning_percent",
        "business_hours",
    }
)


async def all_policies(conn: Conn) -> list[asyncpg.Record]:
    """Every policy, most specific first (see ORDER). Policies are few (one per channel and
    division pair at most), so the API lists them all, unpaged."""
    return await conn.fetch(f"SELECT {COLUMNS} FROM {FROM} ORDER BY {ORDER}")


async def get(conn: Conn, policy_id: UUID, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM {FROM} WHERE p.id = $1{' FOR UPDATE OF p' if lock else ''}",
        policy_id,
    )


async def by_scope(
    conn: Conn, channel: str | None, division_id: UUID | None
) -> asyncpg.Record | None:
    """The policy of this (channel, division) pair, if there is one."""
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM {FROM} "
        "WHERE p.channel IS NOT DISTINCT FROM $1 AND p.division_id IS NOT DISTINCT FROM $2",
        channel,
        division_id,
    )


async def ids_of_division(conn: Conn, division_id: UUID) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT id FROM sla_policies WHERE division_id = $1 ORDER BY id", division_id
    )
    return [r["id"] for r in rows]


async def division_exists(conn: Conn, division_id: UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM divisions WHERE id = $1)", division_id
    )
    return found


async def insert(conn: Conn, values: dict[str, Any], created_by: UUID | None) -> UUID:
    """Raises asyncpg.UniqueViolationError (constraint SCOPE_KEY) when the pair has a
    policy already: call it in a savepoint."""
    names = sorted(values)
    assert set(names) <= WRITABLE, names
    placeholders = ", ".join(f"${i + 1}" for i in range(len(names) + 1))
    policy_id: UUID = await conn.fetchval(
        f"INSERT INTO sla_policies ({', '.join(names)}, created_by) VALUES ({placeholders}) "
        "RETURNING id",
        *(values[n] for n in names),
        created_by,
    )
    return policy_id


async def update(conn: Conn, policy_id: UUID, changes: dict[str, Any]) -> None:
    """Set the given columns. Raises asyncpg.UniqueViolationError (SCOPE_KEY) when the new
    pair has a policy already: call it in a savepoint."""
    names = sorted(changes)
    assert names and set(names) <= WRITABLE, names
    sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
    await conn.execute(
        f"UPDATE sla_policies SET {sets}, updated_at = now() WHERE id = $1",
        policy_id,
        *(changes[n] for n in names),
    )


async def mark_for_recheck(conn: Conn, policy_id: UUID) -> int:
    """The policy's open conversations are due for the breach loop now: it recomputes their
    due times (after an edit) or picks them another policy (before a delete, which nulls
    their sla_policy_id). Returns how many."""
    result: str = await conn.execute(
        """
        INSERT INTO sla_schedule (conversation_id, check_at)
        SELECT id, now() FROM conversations
         WHERE sla_policy_id = $1 AND status <> 'resolved' ORDER BY id
        ON CONFLICT (conversation_id) DO UPDATE SET check_at = EXCLUDED.check_at
        """,
        policy_id,
    )
    return int(result.rsplit(maxsplit=1)[-1])


async def delete(conn: Conn, policy_id: UUID) -> bool:
    """Deletes the policy after marking its open conversations for a recheck (the foreign
    key then sets their sla_policy_id to null, so they could not be found afterwards)."""
    await mark_for_recheck(conn, policy_id)
    result: str = await conn.execute("DELETE FROM sla_policies WHERE id = $1", policy_id)
    return result.endswith(" 1")
