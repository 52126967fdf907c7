"""Rules about agents: unique emails, the last active admin, sessions on deactivation."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.agents import queries
from omnistream.agents.schemas import AgentCreate, AgentUpdate
from omnistream.auth import queries as auth_queries
from omnistream.auth.passwords import Passwords
from omnistream.auth.principal import Principal
from omnistream.context import AppContext
from omnistream.db.pool import Conn, Tx
from omnistream.kit.enums import Role
from omnistream.kit.errors import TAKEN, Conflict, NotFound


async def get(conn: Conn, agent_id: UUID) -> asyncpg.Record:
    row = await queries.get(conn, agent_id)
    if row is None:
        raise NotFound(f"no agent with id {agent_id}")
    return row


async def create(
    tx: Tx, passwords: Passwords, actor: Principal | None, data: AgentCreate
) -> asyncpg.Record:
    email = data.email.strip().lower()
    row = await queries.insert(
        tx.conn, email, data.name.strip(), data.role, await passwords.hash(data.password)
    )
    if row is None:
        raise Conflict.field("email", f"an agent with the email {email} already exists", TAKEN)
    await record(tx.conn, actor, "create_agent", "agent", row["id"], email=email, role=data.role)
    return row


async def update(
    tx: Tx, ctx: AppContext, actor: Principal, agent_id: UUID, data: AgentUpdate
) -> asyncpg.Record:
    conn = tx.conn
    admins = await queries.lock_active_admins(conn)
    current = await queries.get_for_update(conn, agent_id)
    if current is None:
        raise NotFound(f"no agent with id {agent_id}")
    loses_admin = (
        current["role"] == Role.ADMIN
        and current["is_active"]
        and ((data.role is not None and data.role != Role.ADMIN) or data.is_active is False)
    )
    if loses_admin and admins == [agent_id]:
        raise Conflict(
            "this is the last active admin; make another agent admin first",
            errors=[
                {
                    "field": "role" if data.role else "is_active",
                    "message": "the last active admin cannot be demoted or deactivated",
                }
            ],
        )
    name = data.name.strip() if data.name is not None else None
    wanted = data.model_dump(exclude_none=True) | ({"name": name} if name is not None else {})
    changes = {k: v for k, v in wanted.items() if current[k] != v}
    if not changes:  # nothing to do: no new updated_at, no activity row
        return current
    row = await queries.update(conn, agent_id, name, data.role, data.is_active)
    if data.is_active is False and current["is_active"]:
        await auth_queries.revoke_agent_sessions(conn, agent_id)
    if changes:  # cached principals carry the profile too (GET /auth/me)
        await auth_queries.notify_auth_changed(conn, agent_id)
        tx.after_commit(lambda: ctx.principals.evict_agent(agent_id))
    action = "deactivate_agent" if changes.get("is_active") is False else "update_agent"
    await record(conn, actor, action, "agent", agent_id, changes=changes)
    return row


async def reset_password(
    tx: Tx, ctx: AppContext, actor: Principal, agent_id: UUID, password: str
) -> None:
    current = await queries.get_for_update(tx.conn, agent_id)
    if current is None:
        raise NotFound(f"no agent with id {agent_id}")
    await auth_queries.set_password_hash(tx.conn, agent_id, await ctx.passwords.hash(password))
    ended = await auth_queries.revoke_agent_sessions(tx.conn, agent_id)
    await auth_queries.notify_auth_changed(tx.conn, agent_id)
    await record(tx.conn, actor, "reset_password", "agent", agent_id, sessions_ended=ended)
    tx.after_commit(lambda: ctx.principals.evict_agent(agent_id))
