"""Storing inbound messages: one at a time (ingest_inbound), or a batch (ingest_many).

Both keep the same rules: a message is stored once per channel message id (a redelivery is
a no-op: no row, no event, no counter change, no reopen); the contact and a conversation are
created on first contact; the contact's latest conversation on the channel and account is
used, locked (so concurrent messages of one contact serialise), and reopened if resolved
(not by a reaction, nor by a CSAT survey's answer or feedback: csat/answers.py); every
stored message writes message.created in the same transaction.

The batch path does in about six statements what the single path does in four or five per
message; the inbound loop sends plain messages (no file, not a reaction) through it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from omnistream.activity.service import record
from omnistream.contacts import queries as contact_queries
from omnistream.contacts.profile_names import named_events
from omnistream.contacts.service import present as present_contacts
from omnistream.conversations import queries as conversation_queries
from omnistream.conversations.service import audience_of
from omnistream.conversations.service import payload as conversation_payload
from omnistream.csat import answers as csat_answers
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import Draft, emit, emit_many
from omnistream.events.types import EventType
from omnistream.kit.enums import Channel, ConversationStatus
from omnistream.messages import ingest_queries, queries
from omnistream.messages.enums import Direction, MessageStatus, MessageType
from omnistream.messages.presentation import message_payload, preview
from omnistream.messages.service import InboundError, with_counters
from omnistream.snooze.service import notify_assignees, wake_by_customer, woken_event

_WA_ID = re.compile(r"^[0-9]{5,20}$")


@dataclass(frozen=True, slots=True)
class NewInbound:
    """One inbound message for ingest_many (the arguments of ingest_inbound, no file)."""

    channel: str
    integration_account_id: UUID | None
    contact: str  # the sender's id on the channel (see ingest_inbound)
    profile_name: str
    channel_message_id: str
    type: str
    content: Mapping[str, Any]
    occurred_at: datetime
    reply_to_channel_message_id: str | None = None


def check(
    channel: str, sender: str, channel_message_id: str, type: str, occurred_at: datetime
) -> tuple[Channel, MessageType, str]:
    """(channel, type, the sender id as stored), or InboundError saying what is wrong."""
    try:
        chan, kind = Channel(channel), MessageType(type)
    except ValueError as exc:
        raise InboundError(str(exc)) from None
    if not channel_message_id or len(channel_message_id) > 500:
        raise InboundError("channel_message_id must be 1 to 500 characters")
    if occurred_at.tzinfo is None:
        raise InboundError("occurred_at must carry a time zone")
    sender = sender.strip()
    if chan is Channel.WHATSAPP:
        sender = sender.removeprefix("+")
        if not _WA_ID.match(sender):
            raise InboundError(f"sender {sender!r} is not a WhatsApp id (5 to 20 digits)")
    elif not 1 <= len(sender) <= 200:
        raise InboundError(f"sender id must be 1 to 200 characters, got {len(sender)}")
    elif chan is Channel.EMAIL:
        sender = sender.lower()
    return chan, kind, sender


def _actor(person: asyncpg.Record) -> dict[str, Any]:
    return {"type": "contact", "id": str(person["id"]), "name": person["name"]}


async def ingest_inbound(
    tx: Tx,
    *,
    channel: str,
    integration_account_id: UUID | None,
    contact: str,
    profile_name: str,
    channel_message_id: str,
    type: str,
    content: Mapping[str, Any],
    occurred_at: datetime,
    reply_to_channel_message_id: str | None = None,
    media_id: UUID | None = None,
) -> asyncpg.Record | None:
    """Store one inbound message; None when this channel message id is already stored.

    `contact` is the sender's id on the channel: the WhatsApp id (digits, the contact's
    phone) on WhatsApp, else the channel-scoped id (Instagram / Messenger user id, email
    address) kept in contact_identities.
    """
    chan, kind, sender = check(channel, contact, channel_message_id, type, occurred_at)
    conn = tx.conn
    if chan is Channel.WHATSAPP:
        person, contact_created = await contact_queries.find_or_create_by_phone(
            conn, sender, profile_name
        )
        if person["named"]:  # a nameless contact got its name (also on a redelivery)
            await emit_many(conn, await named_events(conn, [person]))
    else:
        person, contact_created = await contact_queries.find_or_create_by_identity(
            conn, chan.value, sender, profile_name
        )
    conversation = await conversation_queries.latest_for_contact(
        conn, person["id"], chan.value, integration_account_id
    )
    created = conversation is None
    if conversation is None:
        # Only on a contact's first message: a redelivery must not open an empty conversation.
        if await queries.exists(conn, chan.value, channel_message_id):
            return None
        conversation = await conversation_queries.insert(
            conn, person["id"], chan.value, integration_account_id
        )
    return await store_inbound(
        conn,
        person=person,
        contact_created=contact_created,
        conversation=conversation,
        conversation_created=created,
        channel=chan,
        type=kind,
        channel_message_id=channel_message_id,
        content=content,
        occurred_at=occurred_at,
        reply_to_channel_message_id=reply_to_channel_message_id,
        media_id=media_id,
    )


async def store_inbound(
    conn: Conn,
    *,
    person: asyncpg.Record,
    contact_created: bool,
    conversation: asyncpg.Record,
    conversation_created: bool,
    channel: Channel,
    type: MessageType,
    channel_message_id: str,
    content: Mapping[str, Any],
    occurred_at: datetime,
    reply_to_channel_message_id: str | None = None,
    media_id: UUID | None = None,
    summary: str | None = None,
    reopen: bool = True,
) -> asyncpg.Record | None:
    """The second half of ingest_inbound, for a channel that finds the sender and the
    conversation (locked; `conversation_created`: inserted by the caller) its own way, as
    email threading does: inserts the message (None when its channel message id is stored
    already), reopens a resolved conversation and writes the events. `summary`: the inbox
    preview line, when not the content's text; `reopen` False: a resolved conversation stays
    resolved (an email auto-reply, say an out-of-office answer to "solved")."""
    kind = type
    row = await queries.insert(
        conn,
        conversation_id=conversation["id"],
        channel=channel.value,
        direction=Direction.INBOUND,
        type=kind.value,
        content=dict(content),
        status=MessageStatus.RECEIVED,
        preview=preview(kind, {"text": summary} if summary is not None else content),
        channel_message_id=channel_message_id,
        reply_to_channel_message_id=reply_to_channel_message_id,
        media_id=media_id,
        occurred_at=occurred_at,
    )
    if row is None:
        return None
    actor = _actor(person)
    audience = audience_of(conversation)
    after = with_counters(conversation, row)
    resolved = conversation["status"] == ConversationStatus.RESOLVED
    # A CSAT survey's answer or feedback (csat/answers.py) does not reopen it either.
    survey = await csat_answers.take(conn, [row], {conversation["id"]} if resolved else set())
    if conversation_created:
        await emit_opened(conn, person, contact_created, after, actor, audience)
    elif (
        resolved
        and reopen
        and kind is not MessageType.REACTION
        and row["id"] not in survey.message_ids
    ):
        # A reaction (a thumbs-up to "solved!") does not reopen the conversation.
        reopened = await conversation_queries.set_status(
            conn, conversation["id"], ConversationStatus.OPEN
        )
        after = conversation_payload(reopened)
        # In the audit trail (events are purged): the history's reopen by the customer.
        by: dict[str, Any] = {"by": "customer", "contact_id": person["id"]}
        await record(conn, None, "reopen_conversation", "conversation", conversation["id"], **by)
        await emit(
            conn,
            EventType.CONVERSATION_REOPENED,
            {"conversation": after},
            actor=actor,
            conversation_id=conversation["id"],
            audience=audience_of(conversation, reopened),
        )
    elif (
        conversation["status"] == ConversationStatus.SNOOZED
        and reopen
        and kind is not MessageType.REACTION
    ):
        # The customer's next message ends a snooze (docs/inbox.md#snooze).
        after = conversation_payload(
            await wake_by_customer(conn, conversation, person["id"], actor)
        )
    await emit(
        conn,
        EventType.MESSAGE_CREATED,
        {"message": message_payload(row), "conversation": after},
        actor=actor,
        conversation_id=conversation["id"],
        audience=audience,
    )
    await csat_answers.finish(conn, survey)
    return row


async def emit_opened(
    conn: Conn,
    person: asyncpg.Record,
    contact_created: bool,
    conversation: dict[str, Any],
    actor: dict[str, Any] | None,
    audience: list[dict[str, Any]],
) -> None:
    """The events of a first message: contact.created (if new) and conversation.created."""
    if contact_created:
        (shown,) = await present_contacts(conn, [person])
        await emit(
            conn,
            EventType.CONTACT_CREATED,
            shown.model_dump(mode="json"),
            actor=actor,
            audience=audience,
        )
    await emit(
        conn,
        EventType.CONVERSATION_CREATED,
        {"conversation": conversation},
        actor=actor,
        conversation_id=conversation["id"],
        audience=audience,
    )


# The batch path --------------------------------------------------------------------------

_Key = tuple[UUID, str, UUID | None]  # (contact id, channel, integration account id)


async def _contacts(
    conn: Conn, senders: dict[tuple[Channel, str], str]
) -> dict[tuple[Channel, str], asyncpg.Record]:
    """(channel, sender) -> contact row (its column `created`: made by this batch), for the
    senders given with their latest profile name."""
    found: dict[tuple[Channel, str], asyncpg.Record] = {}
    phones = {s: n for (c, s), n in senders.items() if c is Channel.WHATSAPP}
    if phones:
        rows = {r["phone"]: r for r in await contact_queries.by_phones(conn, list(phones))}
        new = sorted(p for p in phones if p not in rows)
        if new:
            for r in await contact_queries.insert_phones(conn, new, [phones[p] for p in new]):
                rows[r["phone"]] = r
            late = [p for p in new if p not in rows]  # inserted meanwhile by another batch
            if late:
                rows.update({r["phone"]: r for r in await contact_queries.by_phones(conn, late)})
        nameless = [r for r in rows.values() if not r["created"] and not r["name"]]
        named = [r for r in nameless if phones[r["phone"]]]
        if named:
            ids, names = [r["id"] for r in named], [phones[r["phone"]] for r in named]
            rows.update({r["phone"]: r for r in await contact_queries.fill_names(conn, ids, names)})
        found.update({(Channel.WHATSAPP, p): r for p, r in rows.items()})
    others = [(c, s) for c, s in senders if c is not Channel.WHATSAPP]
    if others:
        rows_by_id = await contact_queries.by_identities(
            conn, [c.value for c, _ in others], [s for _, s in others]
        )
        for r in rows_by_id:
            found[(Channel(r["found_channel"]), r["found_external_id"])] = r
        for chan, sender in others:  # first contact on these channels: one at a time
            if (chan, sender) not in found:
                row, _ = await contact_queries.find_or_create_by_identity(
                    conn, chan.value, sender, senders[(chan, sender)]
                )
                found[(chan, sender)] = row  # its column `created` says if it is new
    return found


async def ingest_many(tx: Tx, items: list[NewInbound]) -> list[asyncpg.Record]:
    """Store a batch of inbound messages without files or reactions; the rows stored, in
    item order (redeliveries, also within the batch, are skipped). Raises InboundError if
    any item is invalid: check() them first. An item quoting another item of the same batch
    loses the link: give such items to ingest_inbound after this."""
    conn = tx.conn
    unique: dict[tuple[str, str], NewInbound] = {}
    for item in items:  # a message delivered twice in one batch: the first one counts
        unique.setdefault((item.channel, item.channel_message_id), item)
    items = list(unique.values())
    checked = [
        check(i.channel, i.contact, i.channel_message_id, i.type, i.occurred_at) for i in items
    ]
    senders: dict[tuple[Channel, str], str] = {}
    for item, (chan, _, sender) in zip(items, checked, strict=True):
        senders[(chan, sender)] = item.profile_name or senders.get((chan, sender), "")
    people = await _contacts(conn, senders)

    keys: dict[_Key, None] = {}
    item_keys: list[_Key] = []
    for item, (chan, _, sender) in zip(items, checked, strict=True):
        key = (people[(chan, sender)]["id"], chan.value, item.integration_account_id)
        keys[key] = None
        item_keys.append(key)
    locked = await ingest_queries.latest_conversations_locked(
        conn, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]
    )
    conversations: dict[_Key, asyncpg.Record] = {
        (r["contact_id"], r["channel"], r["integration_account_id"]): r for r in locked
    }
    opened = await _open_conversations(conn, items, item_keys, conversations)

    rows = await ingest_queries.insert_inbound(
        conn,
        conversation_ids=[conversations[k]["id"] for k in item_keys],
        channels=[c.value for c, _, _ in checked],
        channel_message_ids=[i.channel_message_id for i in items],
        types=[k.value for _, k, _ in checked],
        contents=[orjson.dumps(dict(i.content)).decode() for i in items],
        reply_to_channel_message_ids=[i.reply_to_channel_message_id for i in items],
        occurred_at=[i.occurred_at for i in items],
    )
    resolved = {c["id"] for c in conversations.values() if c["status"] == "resolved"}
    # CSAT answers and feedback (csat/answers.py) leave a resolved conversation resolved.
    survey = await csat_answers.take(conn, rows, resolved)
    reopens = {
        r["conversation_id"]
        for r in rows
        if r["conversation_id"] in resolved and r["id"] not in survey.message_ids
    }
    # The customer's next message (not a reaction) ends a snooze (docs/inbox.md#snooze).
    snoozed = {c["id"] for c in conversations.values() if c["status"] == "snoozed"}
    wakes = {
        r["conversation_id"]
        for r in rows
        if r["conversation_id"] in snoozed and r["type"] != MessageType.REACTION
    }
    items_by_id = {(i.channel, i.channel_message_id): i for i in items}
    after = await _move(conn, rows, items_by_id, reopens, wakes)
    named = await named_events(conn, people.values())  # nameless contacts that got a name
    drafts = await _events(conn, rows, after, conversations, people, opened, reopens, wakes)
    await emit_many(conn, named + drafts)
    await notify_assignees(conn, [after[i] for i in wakes], "customer")
    await csat_answers.finish(conn, survey)
    return rows


async def _open_conversations(
    conn: Conn,
    items: list[NewInbound],
    item_keys: list[_Key],
    conversations: dict[_Key, asyncpg.Record],
) -> set[UUID]:
    """Conversations for keys that have none, unless every message of that key is stored
    already (a redelivery must not open an empty conversation); their ids."""
    missing = [i for i, k in enumerate(item_keys) if k not in conversations]
    if not missing:
        return set()
    stored = await ingest_queries.stored(
        conn,
        [items[i].channel for i in missing],
        [items[i].channel_message_id for i in missing],
    )
    new = list(
        dict.fromkeys(
            item_keys[i]
            for i in missing
            if (items[i].channel, items[i].channel_message_id) not in stored
        )
    )
    if not new:
        return set()
    rows = await ingest_queries.insert_conversations(
        conn, [k[0] for k in new], [k[1] for k in new], [k[2] for k in new]
    )
    for row in rows:
        conversations[(row["contact_id"], row["channel"], row["integration_account_id"])] = row
    return {row["id"] for row in rows}


async def _move(
    conn: Conn,
    rows: list[asyncpg.Record],
    items: dict[tuple[str, str], NewInbound],
    reopens: set[UUID],
    wakes: set[UUID],
) -> dict[UUID, dict[str, Any]]:
    """Moves the conversations of the stored rows (reopening the `reopens` ones, resolved,
    and waking the `wakes` ones, snoozed, all locked since they were read); conversation
    id -> its state after."""
    newest: dict[UUID, asyncpg.Record] = {}
    added: dict[UUID, int] = {}
    for row in rows:  # in item order: on equal times the later item is the newer
        conversation_id = row["conversation_id"]
        added[conversation_id] = added.get(conversation_id, 0) + 1
        if (
            conversation_id not in newest
            or row["created_at"] >= newest[conversation_id]["created_at"]
        ):
            newest[conversation_id] = row
    ids = list(newest)
    previews = []
    for conversation_id in ids:
        row = newest[conversation_id]
        item = items[(row["channel"], row["channel_message_id"])]
        previews.append(preview(row["type"], item.content))
    moved = await ingest_queries.move_conversations(
        conn,
        ids,
        [newest[i]["created_at"] for i in ids],
        previews,
        [added[i] for i in ids],
        [i in reopens or i in wakes for i in ids],
        [i in wakes for i in ids],
    )
    return {row["id"]: conversation_payload(row) for row in moved}


async def _events(
    conn: Conn,
    rows: list[asyncpg.Record],
    after_by_id: dict[UUID, dict[str, Any]],
    conversations: dict[_Key, asyncpg.Record],
    people: dict[tuple[Channel, str], asyncpg.Record],
    opened: set[UUID],
    reopened: set[UUID],
    woken: set[UUID],
) -> list[Draft]:
    before = {c["id"]: c for c in conversations.values()}
    person_by_id = {p["id"]: p for p in people.values()}
    new_people = [p for p in person_by_id.values() if p["created"]]
    shown = {c.id: c for c in await present_contacts(conn, new_people)} if new_people else {}
    drafts: list[Draft] = []
    announced: set[UUID] = set()
    for row in rows:
        conversation_id = row["conversation_id"]
        earlier = before[conversation_id]
        person = person_by_id[earlier["contact_id"]]
        actor = _actor(person)
        audience = audience_of(earlier)  # ingestion never moves a conversation
        after = after_by_id[conversation_id]
        if conversation_id not in announced:
            announced.add(conversation_id)
            if conversation_id in opened:
                if person["id"] in shown:
                    contact = shown.pop(person["id"]).model_dump(mode="json")
                    drafts.append(Draft(EventType.CONTACT_CREATED, contact, actor, None, audience))
                drafts.append(
                    Draft(EventType.CONVERSATION_CREATED, {"conversation": after}, actor,
                          conversation_id, audience)
                )  # fmt: skip
            elif conversation_id in reopened:
                drafts.append(
                    Draft(EventType.CONVERSATION_REOPENED, {"conversation": after}, actor,
                          conversation_id, audience)
                )  # fmt: skip
            elif conversation_id in woken:
                until = earlier["snoozed_until"]
                drafts.append(woken_event(after, "customer", until, actor, audience))
        message = {"message": message_payload(row), "conversation": after}
        drafts.append(Draft(EventType.MESSAGE_CREATED, message, actor, conversation_id, audience))
    return drafts
