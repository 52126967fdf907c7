"""The contacts screen's API: sorted pages within the caller's visibility, a contact's
conversations (visible ones only), notes, the merge preview being exactly what the merge
does, and the delete count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx

from tests import factories
from tests.conftest import Actors, Agent, fields, problem
from tests.contacts.screen import CONTACTS, count, rows, standard_attributes


async def pages(client: httpx.AsyncClient, who: Agent, **params: Any) -> list[str]:
    """Every page's contact names, in order."""
    names: list[str] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        r = await client.get(CONTACTS, params=query, headers=who.headers)
        assert r.status_code == 200, r.text
        names += [c["name"] for c in r.json()["items"]]
        if (cursor := r.json()["next_cursor"]) is None:
            return names


async def test_an_agent_lists_only_contacts_of_conversations_they_may_see(
    client, ctx, actors: Actors
) -> None:
    mine, other = await factories.division(ctx), await factories.division(ctx)
    agent = await actors.make("agent", divisions=[mine])
    colleague = await actors.make("agent", divisions=[mine])
    now = datetime.now(UTC)
    seen: dict[str, UUID] = {}
    for i, (name, division, assignee) in enumerate(
        [
            ("Ani", mine, None),  # the division's pool: visible
            ("Bayu", mine, agent.id),  # assigned to the agent: visible
            ("Citra", None, None),  # no division: visible to everyone
            ("Dewi", mine, colleague.id),  # a colleague's: hidden
            ("Eka", other, None),  # another division: hidden
        ]
    ):
        contact_id = await factories.contact(ctx, name=name)
        seen[name] = contact_id
        await factories.conversation(
            ctx,
            contact_id=contact_id,
            division_id=division,
            assigned_agent_id=assignee,
            last_message_at=now - timedelta(minutes=10 * i),
        )
    await factories.contact(ctx, name="Fajar")  # no conversation: staff only

    assert await pages(client, agent, limit=1) == ["Ani", "Bayu", "Citra"]
    assert await pages(client, agent, sort="last_activity", limit=2) == ["Ani", "Bayu", "Citra"]
    supervisor = await actors.make("supervisor")
    everyone = ["Ani", "Bayu", "Citra", "Dewi", "Eka", "Fajar"]
    assert await pages(client, supervisor, limit=4) == everyone
    assert await pages(client, supervisor, sort="created", limit=4) == everyone[::-1]
    # The hidden contact answers 404, its conversations and notes too.
    for path in ("", "/conversations", "/notes"):
        problem(await client.get(f"{CONTACTS}/{seen['Dewi']}{path}", headers=agent.headers), 404)
    problem(
        await client.get(
            CONTACTS, params={"sort": "created", "cursor": "x"}, headers=agent.headers
        ),
        400,
    )


async def test_a_contacts_conversations_are_the_visible_ones_on_every_channel(
    client, ctx, actors: Actors
) -> None:
    mine, other = await factories.division(ctx), await factories.division(ctx)
    agent = await actors.make("agent", divisions=[mine])
    contact_id = await factories.contact(ctx)
    shown = [
        await factories.conversation(ctx, contact_id=contact_id, division_id=mine, channel=c)
        for c in ("whatsapp", "instagram", "email")
    ]
    await factories.conversation(ctx, contact_id=contact_id, division_id=other)
    r = await client.get(f"{CONTACTS}/{contact_id}/conversations", headers=agent.headers)
    assert r.status_code == 200, r.text
    assert {UUID(c["id"]) for c in r.json()["items"]} == set(shown)
    assert {c["channel"] for c in r.json()["items"]} == {"whatsapp", "instagram", "email"}


async def test_notes_about_a_contact(client, ctx, actors: Actors) -> None:
    division = await factories.division(ctx)
    author = await actors.make("agent", divisions=[division])
    colleague = await actors.make("agent", divisions=[division])
    contact_id = await factories.contact(ctx)
    await factories.conversation(ctx, contact_id=contact_id, division_id=division)
    url = f"{CONTACTS}/{contact_id}/notes"
    problem(await client.post(url, json={"body": "  "}, headers=author.headers), 422)
    r = await client.post(url, json={"body": "Prefers email"}, headers=author.headers)
    assert r.status_code == 201, r.text
    note = r.json()
    r = await client.get(url, headers=colleague.headers)
    assert [n["body"] for n in r.json()["items"]] == ["Prefers email"]
    problem(await client.delete(f"{url}/{note['id']}", headers=colleague.headers), 403)
    assert (await client.delete(f"{url}/{note['id']}", headers=author.headers)).status_code == 204
    assert (await client.get(url, headers=author.headers)).json()["items"] == []
    kinds = await rows(
        ctx, "SELECT type FROM event_outbox WHERE type LIKE 'contact_note.%' ORDER BY pos"
    )
    assert [k["type"] for k in kinds] == ["contact_note.created", "contact_note.deleted"]
    assert (
        await count(
            ctx,
            "SELECT count(*) FROM activity_logs WHERE action IN ('add_contact_note', "
            "'delete_contact_note') AND target_id = $1",
            contact_id,
        )
        == 2
    )


async def test_merge_preview_is_exactly_what_the_merge_does(client, ctx, admin: Agent) -> None:
    await standard_attributes(client, admin)
    keep = (
        await client.post(
            CONTACTS,
            json={"name": "Budi", "attributes": {"tier": "gold"}},
            headers=admin.headers,
        )
    ).json()
    other = (
        await client.post(
            CONTACTS,
            json={
                "name": "Budi S",
                "phone": "+62 812 3456 7001",
                "email": "budi@example.com",
                "identities": [{"channel": "instagram", "external_id": "ig-budi"}],
                "attributes": {"tier": "silver", "age": 40},
            },
            headers=admin.headers,
        )
    ).json()
    conversations = [
        await factories.conversation(ctx, contact_id=UUID(other["id"]), channel=c)
        for c in ("whatsapp", "instagram")
    ]
    await client.post(
        f"{CONTACTS}/{other['id']}/notes", json={"body": "VIP"}, headers=admin.headers
    )
    r = await client.get(
        f"{CONTACTS}/{keep['id']}/merge-preview",
        params={"other_contact_id": other["id"]},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["conversations"] == 2 and preview["notes"] == 1
    assert preview["identities"] == [{"channel": "instagram", "external_id": "ig-budi"}]
    assert preview["fields"] == {"phone": "6281234567001", "email": "budi@example.com"}
    assert preview["attributes"] == {"age": 40}  # the kept contact's tier wins
    assert await count(ctx, "SELECT count(*) FROM contacts") == 2  # the preview wrote nothing

    r = await client.post(
        f"{CONTACTS}/{keep['id']}/merge",
        json={"other_contact_id": other["id"]},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    merged = r.json()
    for field, value in preview["fields"].items():
        assert merged[field] == value
    assert merged["name"] == "Budi"
    assert merged["attributes"] == {"tier": "gold", **preview["attributes"]}
    assert [(i["channel"], i["external_id"]) for i in merged["identities"]] == [
        (i["channel"], i["external_id"]) for i in preview["identities"]
    ]
    moved = await rows(ctx, "SELECT id FROM conversations WHERE contact_id = $1", UUID(keep["id"]))
    assert {m["id"] for m in moved} == set(conversations)
    notes = (await client.get(f"{CONTACTS}/{keep['id']}/notes", headers=admin.headers)).json()
    assert len(notes["items"]) == preview["notes"]
    entry = (await rows(ctx, "SELECT metadata_json AS m FROM activity_logs "
                             "WHERE action = 'merge_contacts'"))[0]["m"]  # fmt: skip
    assert entry["conversations_moved"] == preview["conversations"]
    assert entry["notes_moved"] == preview["notes"]
    assert entry["fields_taken"] == preview["fields"]
    assert entry["attributes_taken"] == preview["attributes"]


async def test_delete_tells_and_checks_the_number_of_conversations(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    contact_id = await factories.contact(ctx)
    for _ in range(3):
        await factories.conversation(ctx, contact_id=contact_id)
    supervisor = await actors.make("supervisor")
    url = f"{CONTACTS}/{contact_id}"
    problem(await client.get(f"{url}/delete-preview", headers=supervisor.headers), 403)
    r = await client.get(f"{url}/delete-preview", headers=admin.headers)
    assert r.json() == {"contact_id": str(contact_id), "conversations": 3, "notes": 0}
    await factories.conversation(ctx, contact_id=contact_id)  # arrives after the preview
    err = problem(
        await client.delete(url, params={"expected_conversations": 3}, headers=admin.headers), 409
    )
    assert fields(err) == {"expected_conversations"} and err["conversations"] == 4
    assert await count(ctx, "SELECT count(*) FROM conversations") == 4
    r = await client.delete(url, params={"expected_conversations": 4}, headers=admin.headers)
    assert r.status_code == 204
    assert await count(ctx, "SELECT count(*) FROM conversations") == 0
    entry = (await rows(ctx, "SELECT metadata_json AS m FROM activity_logs "
                             "WHERE action = 'delete_contact'"))[0]["m"]  # fmt: skip
    assert entry["conversations"] == 4
