"""A contact saved without a name (an agent knew only the phone) takes the WhatsApp profile
name of its first message, and says so: contact.updated (actor: the contact) and an audit
entry in the same transaction, so every open screen shows the name without a reload."""

from __future__ import annotations

from typing import Any

import httpx

from omnistream.context import AppContext
from tests.conftest import Agent
from tests.inbound.test_inbound_support import (
    _fresh_secrets,  # noqa: F401 - autouse
    deliver,
    drain,
    fixture,
    one,
    rows,
    whatsapp,
)

ANA = "16505551234"  # the sender of the fixtures, profile name "Ana"


async def nameless_contact(client: httpx.AsyncClient, admin: Agent) -> dict[str, Any]:
    r = await client.post("/api/v1/contacts", headers=admin.headers, json={"phone": f"+{ANA}"})
    assert r.status_code == 201, r.text
    contact: dict[str, Any] = r.json()
    assert contact["name"] == ""
    return contact


async def contact_events(ctx: AppContext) -> list[Any]:
    return await rows(
        ctx,
        "SELECT type, data, actor, audience FROM event_outbox "
        "WHERE type LIKE 'contact.%' ORDER BY pos",
    )


async def test_a_batch_names_a_nameless_contact_and_announces_it(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent
) -> None:
    await whatsapp(ctx)
    contact = await nameless_contact(client, admin)
    await deliver(client, fixture("wa_text"))  # a plain text: the batch path
    assert await drain(ctx) == 1

    created, updated = await contact_events(ctx)
    assert created["type"] == "contact.created"
    assert updated["type"] == "contact.updated"
    assert (updated["data"]["id"], updated["data"]["name"]) == (contact["id"], "Ana")
    assert updated["data"]["phone"] == ANA
    assert updated["actor"] == {"type": "contact", "id": contact["id"], "name": "Ana"}
    conversation = await one(ctx, "SELECT division_id, assigned_agent_id FROM conversations")
    assert {"staff": True} in updated["audience"]
    assert {
        "division_id": conversation["division_id"],
        "assigned_agent_id": conversation["assigned_agent_id"],
    } in updated["audience"]
    audit = await one(
        ctx, "SELECT * FROM activity_logs WHERE action = 'update_contact' AND agent_id IS NULL"
    )
    assert str(audit["target_id"]) == contact["id"]
    assert audit["metadata_json"] == {"changes": {"name": "Ana"}, "source": "whatsapp_profile"}

    # Named now: the next message changes nothing about the contact.
    await deliver(client, fixture("wa_text", **{"wamid.TEXT1": "wamid.TEXT2"}))
    await drain(ctx)
    assert [e["type"] for e in await contact_events(ctx)] == ["contact.created", "contact.updated"]


async def test_a_single_message_names_a_nameless_contact_and_announces_it(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent
) -> None:
    await whatsapp(ctx)
    contact = await nameless_contact(client, admin)
    await deliver(client, fixture("wa_media"))  # files go one at a time (ingest_inbound)
    await drain(ctx)
    events = await contact_events(ctx)
    assert [e["type"] for e in events] == ["contact.created", "contact.updated"]
    assert (events[1]["data"]["id"], events[1]["data"]["name"]) == (contact["id"], "Ana")
    named = await one(ctx, "SELECT name FROM contacts WHERE id = $1::uuid", contact["id"])
    assert named["name"] == "Ana"
