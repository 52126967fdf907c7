"""Rules about SLA policies: one per (channel, division) pair, a division that exists, and
every change an activity-log entry and an event for admins only. A change also makes the
breach loop look again at the policy's open conversations (policy_queries.mark_for_recheck):
an edit's new minutes or hours apply to them, a deleted policy's are given another."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.conversations.visibility import ADMINS
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.errors import TAKEN, Conflict, NotFound, Unprocessable
from omnistream.sla import policy_queries as queries
from omnistream.sla.schemas import SlaPolicyCreate, SlaPolicyOut, SlaPolicyUpdate

TARGET = "sla_policy"
# PATCH: these may not be set to null (the others mean "any" or "untracked" when null).
NOT_NULL = (
    "name",
    "first_response_minutes",
    "resolution_minutes",
    "warning_percent",
    "business_hours",
)
# Written to the table as their JSON form (the channel's text, the hours' JSON object).
AS_JSON = frozenset({"channel", "business_hours"})


def view(row: asyncpg.Record) -> SlaPolicyOut:
    return SlaPolicyOut.model_validate(dict(row))


async def get(conn: Conn, policy_id: UUID, *, lock: bool = False) -> SlaPolicyOut:
    row = await queries.get(conn, policy_id, lock=lock)
    if row is None:
        raise NotFound(f"no SLA policy with id {policy_id}")
    return view(row)


async def list_all(conn: Conn) -> list[SlaPolicyOut]:
    return [view(r) for r in await queries.all_policies(conn)]


def _scope(channel: str | None, division_id: UUID | None) -> str:
    return (
        f"channel {channel or 'any'} and division {division_id}"
        if division_id
        else f"channel {channel or 'any'} and every division"
    )


async def _taken(conn: Conn, channel: str | None, division_id: UUID | None) -> Conflict:
    """409 naming the policy that has this pair already."""
    existing = await queries.by_scope(conn, channel, division_id)
    who = f"'{existing['name']}' ({existing['id']})" if existing else "another policy"
    message = f"the SLA policy {who} already covers {_scope(channel, division_id)}"
    errors = [{"field": f, "message": message, "type": TAKEN} for f in ("channel", "division_id")]
    extra = {"existing_policy_id": str(existing["id"])} if existing else None
    return Conflict(
        message + ": edit that one, or choose another channel or division",
        errors=errors,
        extra=extra,
    )


def _no_division(division_id: UUID) -> Unprocessable:
    return Unprocessable.field("division_id", f"no division with id {division_id}")


async def _write(conn: Conn, channel: str | None, division_id: UUID | None, write: Any) -> Any:
    """Run an insert or update in a savepoint: the pair's unique key answers 409 (a
    concurrent request took it between the check and the write), a division deleted
    meanwhile 422."""
    try:
        async with conn.transaction():
            return await write()
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != queries.SCOPE_KEY:
            raise
        raise await _taken(conn, channel, division_id) from None
    except asyncpg.ForeignKeyViolationError:
        assert division_id is not None
        raise _no_division(division_id) from None


async def _check_scope(
    conn: Conn, channel: str | None, division_id: UUID | None, own_id: UUID | None = None
) -> None:
    if division_id is not None and not await queries.division_exists(conn, division_id):
        raise _no_division(division_id)
    existing = await queries.by_scope(conn, channel, division_id)
    if existing is not None and existing["id"] != own_id:
        raise await _taken(conn, channel, division_id)


async def _announce(tx: Tx, actor: Principal, kind: EventType, data: dict[str, Any]) -> None:
    await emit(tx.conn, kind, data, actor=actor, audience=[ADMINS])


async def create(tx: Tx, actor: Principal, body: SlaPolicyCreate) -> SlaPolicyOut:
    channel = str(body.channel) if body.channel else None
    await _check_scope(tx.conn, channel, body.division_id)
    as_json = body.model_dump(mode="json")
    values = {k: (as_json[k] if k in AS_JSON else v) for k, v in body.model_dump().items()}

    async def insert() -> UUID:
        return await queries.insert(tx.conn, values, actor.agent_id)

    policy_id: UUID = await _write(tx.conn, channel, body.division_id, insert)
    out = await get(tx.conn, policy_id)
    await _announce(
        tx, actor, EventType.SLA_POLICY_CREATED, {"policy": out.model_dump(mode="json")}
    )
    await record(
        tx.conn,
        actor,
        "create_sla_policy",
        TARGET,
        policy_id,
        name=out.name,
        channel=channel,
        division_id=body.division_id,
    )
    return out


async def update(tx: Tx, actor: Principal, policy_id: UUID, body: SlaPolicyUpdate) -> SlaPolicyOut:
    """PATCH: only the fields given; an edit that changes nothing writes nothing."""
    current = await get(tx.conn, policy_id, lock=True)
    fields = body.model_fields_set
    for name in NOT_NULL:
        if name in fields and getattr(body, name) is None:
            raise Unprocessable.field(name, "must not be null")
    before = current.model_dump(mode="json")
    given = body.model_dump(mode="json", include=fields)
    values = body.model_dump(include=fields)
    changes = {k: (given[k] if k in AS_JSON else values[k]) for k in given if given[k] != before[k]}
    if not changes:
        return current
    channel = given.get("channel", before["channel"])
    division_id = values.get("division_id", current.division_id)
    if "channel" in changes or "division_id" in changes:
        await _check_scope(tx.conn, channel, division_id, own_id=policy_id)

    async def write() -> None:
        await queries.update(tx.conn, policy_id, changes)

    await _write(tx.conn, channel, division_id, write)
    marked = 0
    if set(changes) - {"name"}:  # the clock's terms changed
        marked = await queries.mark_for_recheck(tx.conn, policy_id)
    out = await get(tx.conn, policy_id)
    changed = sorted(changes)
    await _announce(
        tx,
        actor,
        EventType.SLA_POLICY_UPDATED,
        {"policy": out.model_dump(mode="json"), "changed": changed},
    )
    await record(
        tx.conn,
        actor,
        "update_sla_policy",
        TARGET,
        policy_id,
        name=out.name,
        changed=changed,
        open_conversations=marked,
    )
    return out


async def delete(tx: Tx, actor: Principal, policy_id: UUID, **extra: Any) -> None:
    """Its open conversations are marked for the breach loop, which picks them another
    policy (queries.delete); their due times until then stay as they were. `extra` goes
    into the event and the activity entry (a division's deletion: `reason`)."""
    current = await get(tx.conn, policy_id, lock=True)
    await queries.delete(tx.conn, policy_id)
    await _announce(tx, actor, EventType.SLA_POLICY_DELETED, {"policy_id": policy_id, **extra})
    await record(
        tx.conn,
        actor,
        "delete_sla_policy",
        TARGET,
        policy_id,
        name=current.name,
        channel=current.channel,
        division_id=current.division_id,
        **extra,
    )


async def delete_with_division(tx: Tx, actor: Principal, division_id: UUID) -> int:
    """A division is being deleted (its row locked by the caller): its policies go first,
    each with the event and activity entry a delete by hand writes (plus `reason`), so an
    open policies page drops them (a cascade would write none). Returns how many."""
    ids = await queries.ids_of_division(tx.conn, division_id)
    for policy_id in ids:
        await delete(tx, actor, policy_id, reason="division_deleted")
    return len(ids)
