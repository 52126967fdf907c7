"""Rules about divisions: unique names, memberships kept in step with cached principals."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.agents import queries as agent_queries
from omnistream.auth import queries as auth_queries
from omnistream.auth.principal import Principal
from omnistream.context import AppContext
from omnistream.db.pool import Conn, Tx
from omnistream.divisions import queries
from omnistream.divisions.schemas import DivisionCreate, DivisionUpdate
from omnistream.kit.errors import TAKEN, Conflict, NotFound
from omnistream.quick_replies import service as quick_replies
from omnistream.sla import policy_service as sla_policies


async def get(conn: Conn, division_id: UUID) -> asyncpg.Record:
    row = await queries.get(conn, division_id)
    if row is None:
        raise NotFound(f"no division with id {division_id}")
    return row


def _taken(name: str) -> Conflict:
    return Conflict.field("name", f"a division named {name!r} already exists", TAKEN)


async def create(tx: Tx, actor: Principal, data: DivisionCreate) -> asyncpg.Record:
    name = data.name.strip()
    division_id = await queries.insert(tx.conn, name, data.description.strip())
    if division_id is None:
        raise _taken(name)
    await record(tx.conn, actor, "create_division", "division", division_id, name=name)
    return await get(tx.conn, division_id)


async def update(
    tx: Tx, ctx: AppContext, actor: Principal, division_id: UUID, data: DivisionUpdate
) -> asyncpg.Record:
    current = await get(tx.conn, division_id)
    name = data.name.strip() if data.name is not None else None
    wanted = data.model_dump(exclude_none=True) | ({"name": name} if name is not None else {})
    changes = {k: v for k, v in wanted.items() if current[k] != v}
    if not changes:  # nothing to do: no new updated_at, no activity row
        return current
    if name is not None and await queries.name_taken(tx.conn, name, division_id):
        raise _taken(name)
    try:
        await queries.update(tx.conn, division_id, name, data.description)
    except asyncpg.UniqueViolationError:  # a concurrent rename took the name
        raise _taken(name or "") from None
    if "name" in changes:  # members' cached profiles list division names
        await auth_queries.notify_everyone(tx.conn)
        tx.after_commit(ctx.principals.clear)
    await record(tx.conn, actor, "update_division", "division", division_id, changes=changes)
    return await get(tx.conn, division_id)


def _evict_later(tx: Tx, ctx: AppContext, agent_ids: list[UUID]) -> None:
    def evict() -> None:
        for agent_id in agent_ids:
            ctx.principals.evict_agent(agent_id)

    tx.after_commit(evict)


async def delete(tx: Tx, ctx: AppContext, actor: Principal, division_id: UUID) -> None:
    """Refused (409) while conversations belong to the division: without a division they
    would become visible to every agent (strict team isolation), so they are transferred
    first. Memberships go and transfers keep no division (the schema's ON DELETE rules).
    Its quick replies and SLA policies are deleted here, before the division, so that each
    writes its event and activity entry (a cascade writes none); the division's row lock
    keeps new replies and conversations out meanwhile (their foreign key checks wait)."""
    current = await get(tx.conn, division_id)
    if not await queries.lock(tx.conn, division_id):
        raise NotFound(f"no division with id {division_id}")
    held = await queries.conversation_count(tx.conn, division_id)
    if held:
        raise Conflict(
            f"the division still has {held} conversation{'s' if held != 1 else ''}: "
            "transfer them to another division first (deleting it would show them to "
            "every agent)"
        )
    replies = await quick_replies.delete_with_division(tx, actor, division_id)
    policies = await sla_policies.delete_with_division(tx, actor, division_id)
    members = await queries.delete(tx.conn, division_id)
    for agent_id in members:
        await auth_queries.notify_auth_changed(tx.conn, agent_id)
    _evict_later(tx, ctx, members)
    await record(
        tx.conn,
        actor,
        "delete_division",
        "division",
        division_id,
        name=current["name"],
        members=len(members),
        quick_replies=replies,
        sla_policies=policies,
    )


async def add_member(
    tx: Tx, ctx: AppContext, actor: Principal, division_id: UUID, agent_id: UUID
) -> bool:
    await get(tx.conn, division_id)
    if await agent_queries.get(tx.conn, agent_id) is None:
        raise NotFound(f"no agent with id {agent_id}")
    added = await queries.add_member(tx.conn, division_id, agent_id)
    if added:
        await auth_queries.notify_auth_changed(tx.conn, agent_id)
        _evict_later(tx, ctx, [agent_id])
        await record(
            tx.conn, actor, "add_division_member", "division", division_id, agent_id=agent_id
        )
    return added


async def remove_member(
    tx: Tx, ctx: AppContext, actor: Principal, division_id: UUID, agent_id: UUID
) -> None:
    await get(tx.conn, division_id)
    if not await queries.remove_member(tx.conn, division_id, agent_id):
        raise NotFound(f"agent {agent_id} is not a member of division {division_id}")
    await auth_queries.notify_auth_changed(tx.conn, agent_id)
    _evict_later(tx, ctx, [agent_id])
    await record(
        tx.conn, actor, "remove_division_member", "division", division_id, agent_id=agent_id
    )
