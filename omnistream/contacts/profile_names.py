"""Announcing a name an inbound message gave a contact that had none (WhatsApp's profile
name): contact.updated and an audit entry, in the inbound transaction, so every screen and
consumer showing the contact learns it like any other edit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg

from omnistream.activity.service import record
from omnistream.contacts import queries
from omnistream.contacts.service import present
from omnistream.conversations.visibility import STAFF, state
from omnistream.db.pool import Conn
from omnistream.events.outbox import Draft
from omnistream.events.types import EventType


async def named_events(conn: Conn, people: Iterable[asyncpg.Record]) -> list[Draft]:
    """contact.updated drafts (actor: the contact) for the rows an inbound message named
    (column `named` of contacts.queries.find_or_create_by_phone / fill_names), each with
    its `update_contact` audit entry; none for the others."""
    named = {p["id"]: p for p in people if p.get("named")}
    drafts: list[Draft] = []
    for contact in await present(conn, list(named.values())) if named else []:
        audience: list[dict[str, Any]] = [
            STAFF,
            *(
                state(r["division_id"], r["assigned_agent_id"])
                for r in await queries.audience(conn, [contact.id])
            ),
        ]
        actor = {"type": "contact", "id": str(contact.id), "name": contact.name}
        data = contact.model_dump(mode="json")
        drafts.append(Draft(EventType.CONTACT_UPDATED, data, actor, None, audience))
        await record(
            conn,
            None,
            "update_contact",
            "contact",
            contact.id,
            changes={"name": contact.name},
            source="whatsapp_profile",
        )
    return drafts
