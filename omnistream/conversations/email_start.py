"""Starting an email conversation (issue 16): an agent writes to an address first.

In one transaction: the contact found or made by the address (as the email import finds
them, channels/email/inbound_queries.py), a new open conversation on the chosen mailbox
assigned to the agent, and the first mail stored as a pending reply through the reply path
(messages.service.send: the same checks, event and audit entry), with its subject and CC.
The sender composes it as a new thread (no In-Reply-To), so the customer's answer, which
names our Message-ID, continues this conversation.

Contacts: the address is the contact's identity, so an existing contact is used, unchanged
(the given name renames no one). An agent may write only to a contact they can see already
(one of their conversations): a new conversation would show them a contact of another
division (name, phone, other channels), so that is refused (422 `to`), which tells them no
more than that the address is a customer's. Admins and supervisors see every contact.
"""

from __future__ import annotations

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.channels.email.inbound_queries import find_or_create_contact
from omnistream.contacts import profile_queries
from omnistream.contacts import queries as contact_queries
from omnistream.contacts.service import present as present_contacts
from omnistream.conversations import email_queries, queries
from omnistream.conversations.schemas import EmailConversationCreate
from omnistream.conversations.service import audience_of, payload
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.kit.enums import Channel, Role
from omnistream.kit.errors import Unprocessable
from omnistream.messages import service as messages
from omnistream.messages.schemas import MessageCreate

MAX_ADDRESS_LENGTH = 200  # contact_identities.external_id, as the import keeps it


async def accounts(conn: Conn) -> list[asyncpg.Record]:
    return await email_queries.email_accounts(conn)


async def _division(tx: Tx, actor: Principal, body: EmailConversationCreate) -> None:
    division_id = body.division_id
    if division_id is None:
        return
    if not await queries.division_exists(tx.conn, division_id):
        raise Unprocessable.field("division_id", "no division with this id")
    if actor.role is not Role.ADMIN and division_id not in actor.division_ids:
        raise Unprocessable.field("division_id", "is not one of your divisions")


async def start(
    tx: Tx, actor: Principal, body: EmailConversationCreate, *, assign_on_reply: bool = False
) -> tuple[asyncpg.Record, asyncpg.Record]:
    """The new conversation (as after its first message) and that message; 422 naming the
    field for an account that is not an active email one, a division that is not the
    agent's, an address that is the mailbox itself, a blank text."""
    conn = tx.conn
    account = await email_queries.email_account(conn, body.account_id)
    if account is None:
        raise Unprocessable.field("account_id", "no active email account with this id")
    address = str(body.to).strip().lower()
    if address == str(account["address"]).strip().lower():
        raise Unprocessable.field("to", "is the mailbox itself")
    if len(address) > MAX_ADDRESS_LENGTH:
        raise Unprocessable.field("to", f"is longer than {MAX_ADDRESS_LENGTH} characters")
    if not body.text.strip():
        raise Unprocessable.field("text", "is required")
    await _division(tx, actor, body)
    person, contact_created = await find_or_create_contact(conn, address, body.name or "")
    if not contact_created and not await contact_queries.get_visible(
        conn, Scope.of(actor), person["id"]
    ):
        raise Unprocessable.field(
            "to", "is the address of a customer outside your divisions: ask a supervisor"
        )
    if contact_created and body.name:  # a person named them: channel profiles keep it
        await profile_queries.set_name_source(conn, person["id"], "agent")
    conversation = await queries.insert(
        conn,
        person["id"],
        Channel.EMAIL.value,
        account["id"],
        division_id=body.division_id,
        assigned_agent_id=actor.agent_id,
    )
    audience = audience_of(conversation)
    if contact_created:
        (shown,) = await present_contacts(conn, [person])
        await emit(
            conn, EventType.CONTACT_CREATED, shown.model_dump(mode="json"),
            actor=actor, audience=audience,
        )  # fmt: skip
    await emit(
        conn, EventType.CONVERSATION_CREATED, {"conversation": payload(conversation)},
        actor=actor, conversation_id=conversation["id"], audience=audience,
    )  # fmt: skip
    await record(
        conn, actor, "start_conversation", "conversation", conversation["id"],
        channel=Channel.EMAIL.value, account_id=account["id"], contact_id=person["id"],
        contact_created=contact_created, division_id=body.division_id,
    )  # fmt: skip
    first = MessageCreate(type="text", text=body.text, subject=body.subject, cc=body.cc)
    message = await messages.send(
        tx, actor, conversation["id"], first, assign_on_reply=assign_on_reply
    )
    after = await queries.get(conn, conversation["id"])
    assert after is not None  # made above, in this transaction
    return after, message
