"""Rules about contacts: normalised phones, unique identifiers, visibility, merging.

Phone numbers are stored as WhatsApp ids (E.164 digits without '+'); emails lower-cased.
Uniqueness is the database's job (unique indexes): a write runs in a savepoint and a
unique violation becomes a 409 naming the contact that holds the value, so concurrent
duplicates can never slip through or answer 500.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import phonenumbers

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.contacts import (
    attribute_queries,
    list_queries,
    note_queries,
    profile_queries,
    queries,
)
from omnistream.contacts.attribute_values import apply, checked
from omnistream.contacts.merge_plan import plan_merge
from omnistream.contacts.page_schemas import DeletePreview, MergePreview
from omnistream.contacts.phones import invalid_phone_message, phone_example, whatsapp_id
from omnistream.contacts.schemas import ContactCreate, ContactOut, ContactUpdate, IdentityOut
from omnistream.conversations.visibility import STAFF, Scope, state
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.errors import TAKEN, Conflict, NotFound, Unprocessable

T = TypeVar("T")
_PHONE_QUERY = re.compile(r"[\d\s()+\-.]+")


def normalise_phone(raw: str, region: str) -> str:
    """Any usual spelling of a number -> its WhatsApp id; 422 naming `phone` if invalid."""
    number = whatsapp_id(raw, region)
    if number is None:
        example = phone_example(region)
        raise Unprocessable(
            f"phone: {invalid_phone_message(example)}",
            errors=[
                {
                    "field": "phone",
                    "message": invalid_phone_message(example),
                    "type": "phone",
                    "example": example or "",
                }
            ],
        )
    return number


def phone_patterns(q: str | None, region: str) -> list[str]:
    """LIKE patterns on stored phones for a query that looks like (part of) a number.

    "0812 3456" matches "6281234567890": the national trunk 0 becomes the country code.
    """
    if q is None or not _PHONE_QUERY.fullmatch(q.strip()):
        return []
    digits = re.sub(r"\D", "", q)
    if len(digits) < 3:
        return []
    patterns = [f"%{digits}%"]
    if digits[0] == "0" and digits[1] != "0" and not q.strip().startswith("+"):
        patterns.append(f"{phonenumbers.country_code_for_region(region)}{digits[1:]}%")
    return patterns


async def present(conn: Conn, rows: list[asyncpg.Record]) -> list[ContactOut]:
    """Contacts as the API returns them, with their identities and attributes (two extra
    queries)."""
    identities: dict[UUID, list[IdentityOut]] = {r["id"]: [] for r in rows}
    attributes: dict[UUID, dict[str, Any]] = {}
    if rows:
        for i in await queries.identities_of(conn, list(identities)):
            identities[i["contact_id"]].append(
                IdentityOut(
                    channel=i["channel"], external_id=i["external_id"], created_at=i["created_at"]
                )
            )
        attributes = await attribute_queries.attributes_of(conn, list(identities))
    fields = set(ContactOut.model_fields) - {"identities", "attributes"}
    return [
        ContactOut(
            **{k: r[k] for k in fields},
            identities=identities[r["id"]],
            attributes=attributes.get(r["id"], {}),
        )
        for r in rows
    ]


async def get(conn: Conn, scope: Scope, contact_id: UUID) -> ContactOut:
    """The contact, or 404 when it does not exist or the caller may not see it."""
    row = await queries.get_visible(conn, scope, contact_id)
    if row is None:
        raise NotFound(f"no contact with id {contact_id}")
    return (await present(conn, [row]))[0]


async def check_visible(conn: Conn, scope: Scope, contact_id: UUID) -> None:
    """404 when the contact does not exist or the caller may not see it (as `get`)."""
    if await queries.get_visible(conn, scope, contact_id) is None:
        raise NotFound(f"no contact with id {contact_id}")


async def lock_visible(conn: Conn, scope: Scope, contact_id: UUID) -> asyncpg.Record:
    row = await queries.get_visible(conn, scope, contact_id, for_update=True)
    if row is None:
        raise NotFound(f"no contact with id {contact_id}")
    return row


async def audience_of(conn: Conn, contact_id: UUID) -> list[dict[str, Any]]:
    """Every admin and supervisor (they see every contact), and the agents who may see one
    of the contact's conversations."""
    return [
        STAFF,
        *(
            state(r["division_id"], r["assigned_agent_id"])
            for r in await queries.audience(conn, [contact_id])
        ),
    ]


async def _unique(
    conn: Conn,
    write: Callable[[], Awaitable[T]],
    scope: Scope,
    *,
    phone: str | None,
    email: str | None,
    identities: Sequence[tuple[str, str]] = (),
    except_id: UUID | None = None,
) -> T:
    """Runs a write in a savepoint; a unique violation becomes a 409 naming the holder."""
    try:
        async with conn.transaction():
            return await write()
    except asyncpg.UniqueViolationError as exc:
        channels = [c for c, _ in identities]
        external_ids = [e for _, e in identities]
        found = await queries.conflicts(conn, phone, email, channels, external_ids, except_id)
        if not found:  # the holder vanished meanwhile; name the index's field anyway
            field = {"contacts_phone_key": "phone", "contacts_email_key": "email"}.get(
                exc.constraint_name or "", "identities"
            )
            raise Conflict.field(field, "is already taken by another contact", TAKEN) from None
        # The holder's id only for a caller who may see it: an agent must not learn that a
        # contact outside their conversations exists, nor its id (the 409 itself stays).
        holders = {r["contact_id"] for r in found}
        seen = {h for h in holders if await queries.get_visible(conn, scope, h) is not None}
        errors = [
            {
                "field": r["field"],
                "type": TAKEN,
                "message": f"already belongs to contact {r['contact_id']}"
                if r["contact_id"] in seen
                else "already belongs to another contact",
            }
            for r in found
        ]
        names = ", ".join(e["field"] for e in errors)
        first = found[0]["contact_id"]
        raise Conflict(
            f"another contact already has this {names}",
            errors=errors,
            extra={"existing_contact_id": str(first)} if first in seen else None,
        ) from None


async def create(tx: Tx, actor: Principal, region: str, data: ContactCreate) -> ContactOut:
    conn = tx.conn
    phone = normalise_phone(data.phone, region) if data.phone else None
    attributes = apply({}, checked(await attribute_queries.by_key(conn), data.attributes))
    identities = list(dict.fromkeys((i.channel.value, i.external_id) for i in data.identities))

    async def write() -> asyncpg.Record:
        row = await queries.insert(conn, data.name, phone, data.email, data.profile_pic_url)
        if identities:
            await queries.add_identities(
                conn, row["id"], [c for c, _ in identities], [e for _, e in identities]
            )
        return row

    row = await _unique(
        conn, write, Scope.of(actor), phone=phone, email=data.email, identities=identities
    )
    if data.name:  # a person named them: channel profiles never overwrite it
        await profile_queries.set_name_source(conn, row["id"], "agent")
    if attributes:
        await attribute_queries.set_attributes(conn, row["id"], attributes)
    contact = (await present(conn, [row]))[0]
    await emit(conn, EventType.CONTACT_CREATED, contact.model_dump(mode="json"), actor=actor)
    await record(
        conn,
        actor,
        "create_contact",
        "contact",
        contact.id,
        name=contact.name,
        phone=phone,
        email=contact.email,
        identities=len(identities),
        attributes=attributes,
    )
    return contact


async def update(
    tx: Tx, actor: Principal, region: str, contact_id: UUID, data: ContactUpdate
) -> ContactOut:
    conn = tx.conn
    current = await lock_visible(conn, Scope.of(actor), contact_id)
    wanted = dict(current)
    for name in data.model_fields_set - {"attributes"}:
        value = getattr(data, name)
        wanted[name] = normalise_phone(value, region) if name == "phone" and value else value
    fields = ("name", "phone", "email", "profile_pic_url")
    changes: dict[str, Any] = {f: wanted[f] for f in fields if wanted[f] != current[f]}
    held = (await attribute_queries.attributes_of(conn, [contact_id]))[contact_id]
    sent = checked(await attribute_queries.by_key(conn), data.attributes or {})
    attributes = apply(held, sent)
    if attributes != held:  # {key: new value or None when removed}
        changes["attributes"] = {
            k: attributes.get(k) for k in sorted(set(held) | set(attributes))
            if held.get(k) != attributes.get(k)
        }  # fmt: skip
    if not changes:
        return (await present(conn, [current]))[0]

    async def write() -> asyncpg.Record:
        return await queries.update(conn, contact_id, *(wanted[f] for f in fields))

    row = await _unique(
        conn,
        write,
        Scope.of(actor),
        phone=changes.get("phone"),
        email=changes.get("email"),
        except_id=contact_id,
    )
    if "attributes" in changes:
        await attribute_queries.set_attributes(conn, contact_id, attributes)
    if "name" in changes:  # cleared: the channel's profile name may fill it again
        source = "agent" if changes["name"] else "channel"
        await profile_queries.set_name_source(conn, contact_id, source)
    contact = (await present(conn, [row]))[0]
    await emit(
        conn,
        EventType.CONTACT_UPDATED,
        contact.model_dump(mode="json"),
        actor=actor,
        audience=await audience_of(conn, contact_id),
    )
    await record(conn, actor, "update_contact", "contact", contact_id, changes=changes)
    return contact


async def delete_preview(conn: Conn, scope: Scope, contact_id: UUID) -> DeletePreview:
    await check_visible(conn, scope, contact_id)
    counts = await list_queries.taken_along(conn, contact_id)
    return DeletePreview(contact_id=contact_id, **dict(counts))


async def delete(
    tx: Tx, actor: Principal, contact_id: UUID, expected_conversations: int | None = None
) -> None:
    """With expected_conversations (what the delete preview showed): 409 when the contact
    has another number of conversations by now, so nobody deletes more than they saw."""
    conn = tx.conn
    current = await lock_visible(conn, Scope.of(actor), contact_id)
    counts = await list_queries.taken_along(conn, contact_id)
    if expected_conversations is not None and counts["conversations"] != expected_conversations:
        raise Conflict(
            f"the contact has {counts['conversations']} conversations now, not "
            f"{expected_conversations}: look again before deleting",
            errors=[
                {
                    "field": "expected_conversations",
                    "message": f"the contact has {counts['conversations']} conversations",
                    "type": "changed",
                }
            ],
            extra={"conversations": counts["conversations"]},
        )
    contact = (await present(conn, [current]))[0]
    audience = await audience_of(conn, contact_id)  # read before its conversations cascade away
    await queries.delete(conn, contact_id)
    await emit(
        conn,
        EventType.CONTACT_DELETED,
        contact.model_dump(mode="json"),
        actor=actor,
        audience=audience,
    )
    await record(
        conn,
        actor,
        "delete_contact",
        "contact",
        contact_id,
        name=contact.name,
        phone=contact.phone,
        email=contact.email,
        conversations=counts["conversations"],
        notes=counts["notes"],
    )


async def _pair(
    conn: Conn, scope: Scope, contact_id: UUID, other_id: UUID
) -> tuple[asyncpg.Record, asyncpg.Record]:
    """Both contacts, locked in id order; 404 / 422 as the merge answers."""
    if other_id == contact_id:
        raise Unprocessable.field("other_contact_id", "a contact cannot be merged into itself")
    if await queries.get_visible(conn, scope, contact_id) is None:
        raise NotFound(f"no contact with id {contact_id}")
    if await queries.get_visible(conn, scope, other_id) is None:
        raise NotFound.field("other_contact_id", f"no contact with id {other_id}")
    locked = {r["id"]: r for r in await queries.lock(conn, [contact_id, other_id])}
    if contact_id not in locked:  # deleted by a concurrent request since the check
        raise NotFound(f"no contact with id {contact_id}")
    if other_id not in locked:
        raise NotFound.field("other_contact_id", f"no contact with id {other_id}")
    return locked[contact_id], locked[other_id]


async def merge_preview(tx: Tx, actor: Principal, contact_id: UUID, other_id: UUID) -> MergePreview:
    """What merge() would do now (read under the same locks, in a transaction that writes
    nothing)."""
    keep, other = await _pair(tx.conn, Scope.of(actor), contact_id, other_id)
    return await plan_merge(tx.conn, keep, other)


async def merge(tx: Tx, actor: Principal, contact_id: UUID, other_id: UUID) -> ContactOut:
    """Moves the other contact's conversations and identities here, then deletes it."""
    conn = tx.conn
    keep, other = await _pair(conn, Scope.of(actor), contact_id, other_id)
    plan = await plan_merge(conn, keep, other)  # what the preview showed, read under the locks
    held = (await attribute_queries.attributes_of(conn, [contact_id]))[contact_id]
    other_source = await profile_queries.name_source(conn, other_id)
    conversations, identities = await queries.move_children(conn, other_id, contact_id)
    notes = await note_queries.move(conn, other_id, contact_id)
    await queries.delete(conn, other_id)  # first: its phone and email are unique
    row = await queries.fill_empty(
        conn, contact_id, other["name"], other["phone"], other["email"], other["profile_pic_url"]
    )
    if plan.attributes:
        await attribute_queries.set_attributes(conn, contact_id, plan.attributes | held)
    if not keep["name"] and other["name"] and other_source:  # took its name
        await profile_queries.set_name_source(conn, contact_id, other_source)
    contact = (await present(conn, [row]))[0]
    await emit(
        conn,
        EventType.CONTACT_MERGED,
        {**contact.model_dump(mode="json"), "merged_contact_id": str(other_id)},
        actor=actor,
        audience=await audience_of(conn, contact_id),
    )
    await record(
        conn,
        actor,
        "merge_contacts",
        "contact",
        contact_id,
        removed_contact_id=other_id,
        removed_name=other["name"],
        conversations_moved=conversations,
        identities_moved=identities,
        notes_moved=notes,
        fields_taken=plan.fields,
        attributes_taken=plan.attributes,
    )
    return contact
