"""Rules about contact attribute definitions: unique keys, a type that fits the values
contacts hold, and the values going with a deleted definition. Announced to everyone signed
in (every role reads and fills attributes), audited like every change."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.contacts import attribute_queries as queries
from omnistream.contacts.attribute_schemas import AttributeCreate, AttributeUpdate
from omnistream.conversations.visibility import state
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.errors import TAKEN, Conflict, NotFound, Unprocessable

TARGET = "contact_attribute"
EVERYONE = [state(None, None)]  # as labels: an unassigned conversation everyone sees


async def get(conn: Conn, attribute_id: UUID, *, for_update: bool = False) -> asyncpg.Record:
    row = await queries.get(conn, attribute_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no contact attribute with id {attribute_id}")
    return row


async def _announce(tx: Tx, actor: Principal, kind: EventType, data: dict[str, Any]) -> None:
    await emit(tx.conn, kind, data, actor=actor, audience=EVERYONE)


async def create(tx: Tx, actor: Principal, data: AttributeCreate) -> asyncpg.Record:
    row = await queries.insert(tx.conn, data.key, data.label, data.type, data.options)
    if row is None:
        raise Conflict.field("key", f"an attribute with key {data.key!r} exists", TAKEN)
    await record(tx.conn, actor, "create_contact_attribute", TARGET, row["id"], key=data.key)
    await _announce(tx, actor, EventType.CONTACT_ATTRIBUTE_CREATED, {"attribute": dict(row)})
    return row


async def update(
    tx: Tx, actor: Principal, attribute_id: UUID, data: AttributeUpdate
) -> asyncpg.Record:
    current = await get(tx.conn, attribute_id, for_update=True)
    wanted = {"label": current["label"], "type": current["type"], "options": current["options"]}
    wanted |= data.model_dump(exclude_none=True)
    if wanted["type"] != "list":
        if data.options:
            raise Unprocessable.field("options", "only a list attribute has options")
        wanted["options"] = []
    elif not wanted["options"]:
        raise Unprocessable.field("options", "a list attribute needs at least one option")
    changes = {k: v for k, v in wanted.items() if current[k] != v}
    if not changes:
        return current
    key = current["key"]
    if "type" in changes and (held := await queries.holders(tx.conn, key)):
        raise Conflict.field(
            "type", f"{held} contacts have a value for {key!r}: clear them first", "in_use"
        )
    removed = sorted(set(current["options"]) - set(wanted["options"]))
    still_list = current["type"] == "list" == wanted["type"]
    if still_list and removed and (held := await queries.holders(tx.conn, key, removed)):
        raise Conflict.field(
            "options", f"{held} contacts hold a removed option ({', '.join(removed)})", "in_use"
        )
    row = await queries.update(
        tx.conn, attribute_id, wanted["label"], wanted["type"], wanted["options"]
    )
    await record(tx.conn, actor, "update_contact_attribute", TARGET, attribute_id, changes=changes)
    await _announce(
        tx,
        actor,
        EventType.CONTACT_ATTRIBUTE_UPDATED,
        {"attribute": dict(row), "changes": sorted(changes)},
    )
    return row


async def delete(tx: Tx, actor: Principal, attribute_id: UUID) -> None:
    """The definition goes, and its value with it on every contact (one statement; one
    event says so, not a contact.updated per contact)."""
    current = await get(tx.conn, attribute_id, for_update=True)
    contacts = await queries.delete(tx.conn, attribute_id, current["key"])
    await record(
        tx.conn,
        actor,
        "delete_contact_attribute",
        TARGET,
        attribute_id,
        key=current["key"],
        contacts=contacts,
    )
    await _announce(
        tx,
        actor,
        EventType.CONTACT_ATTRIBUTE_DELETED,
        {"attribute": dict(current), "contacts": contacts},
    )
