"""Custom contact attributes: admin-defined definitions, values validated per type on the
contact (422 naming attributes.<key>, nothing written), a type change refused while values
exist, a deleted definition taking its values along; events and activity for each change."""

from __future__ import annotations

from tests import factories
from tests.conftest import Actors, Agent, fields, problem
from tests.contacts.screen import ATTRIBUTES, CONTACTS, count, define, rows, standard_attributes


async def test_values_are_validated_per_type_and_nothing_partial_is_written(
    client, ctx, admin: Agent
) -> None:
    await standard_attributes(client, admin)
    contact_id = await factories.contact(ctx, name="Sari")
    url = f"{CONTACTS}/{contact_id}"
    bad = {
        "tier": "platinum",  # not an option
        "age": "thirty",  # not a number
        "birthday": "2024-02-30",  # not a day of the calendar
        "company": 12,  # not a string
        "shoe_size": 42,  # not defined
    }
    body = problem(
        await client.patch(url, json={"name": "Sari W", "attributes": bad}, headers=admin.headers),
        422,
    )
    assert fields(body) == {f"attributes.{k}" for k in bad}
    types = {e["field"]: e["type"] for e in body["errors"]}
    assert types["attributes.tier"] == "enum"
    assert types["attributes.shoe_size"] == "unknown_attribute"
    assert await count(ctx, "SELECT count(*) FROM contacts WHERE name = 'Sari'") == 1
    body = problem(
        await client.patch(url, json={"attributes": {"age": True}}, headers=admin.headers), 422
    )
    assert fields(body) == {"attributes.age"}  # a boolean is no number

    good = {"tier": "gold", "age": 31.5, "birthday": "1993-04-01", "company": "PT Maju"}
    r = await client.patch(url, json={"attributes": good}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["attributes"] == good
    # Only the keys sent change; null removes one.
    r = await client.patch(
        url, json={"attributes": {"age": None, "tier": "silver"}}, headers=admin.headers
    )
    assert r.json()["attributes"] == {"tier": "silver", "birthday": "1993-04-01",
                                      "company": "PT Maju"}  # fmt: skip
    r = await client.get(url, headers=admin.headers)
    assert r.json()["attributes"]["tier"] == "silver"
    entries = await rows(
        ctx,
        "SELECT metadata_json AS m FROM activity_logs WHERE action = 'update_contact' "
        "ORDER BY created_at, id",
    )
    assert entries[-1]["m"]["changes"] == {"attributes": {"age": None, "tier": "silver"}}
    events = await rows(
        ctx, "SELECT data FROM event_outbox WHERE type = 'contact.updated' ORDER BY pos"
    )
    assert events[-1]["data"]["attributes"]["tier"] == "silver"


async def test_definitions_are_admin_only_and_validated(client, actors: Actors, admin) -> None:
    supervisor = await actors.make("supervisor")
    body = {"key": "tier", "label": "Tier", "type": "list", "options": ["a"]}
    problem(await client.post(ATTRIBUTES, json=body, headers=supervisor.headers), 403)
    for bad, field in [
        ({"key": "Tier", "label": "T", "type": "text"}, "key"),
        ({"key": "tier", "label": " ", "type": "text"}, "label"),
        ({"key": "tier", "label": "T", "type": "colour"}, "type"),
    ]:
        err = problem(await client.post(ATTRIBUTES, json=bad, headers=admin.headers), 422)
        assert field in fields(err), err
    problem(
        await client.post(
            ATTRIBUTES, json={"key": "tier", "label": "T", "type": "list"}, headers=admin.headers
        ),
        422,
    )  # a list needs options
    await define(client, admin, **body)
    err = problem(await client.post(ATTRIBUTES, json=body, headers=admin.headers), 409)
    assert fields(err) == {"key"}
    r = await client.get(ATTRIBUTES, headers=supervisor.headers)
    assert [a["key"] for a in r.json()] == ["tier"]


async def test_type_change_refused_while_values_exist_and_delete_removes_values(
    client, ctx, admin: Agent
) -> None:
    await standard_attributes(client, admin)
    definitions = {
        a["key"]: a for a in (await client.get(ATTRIBUTES, headers=admin.headers)).json()
    }
    contact_id = await factories.contact(ctx)
    r = await client.patch(
        f"{CONTACTS}/{contact_id}",
        json={"attributes": {"age": 40, "tier": "gold"}},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    age = f"{ATTRIBUTES}/{definitions['age']['id']}"
    err = problem(await client.patch(age, json={"type": "text"}, headers=admin.headers), 409)
    assert fields(err) == {"type"}
    tier = f"{ATTRIBUTES}/{definitions['tier']['id']}"
    err = problem(
        await client.patch(tier, json={"options": ["silver"]}, headers=admin.headers), 409
    )
    assert fields(err) == {"options"}
    r = await client.patch(tier, json={"options": ["gold", "bronze"]}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["options"] == ["gold", "bronze"]
    # An unused attribute may change its type.
    company = f"{ATTRIBUTES}/{definitions['company']['id']}"
    r = await client.patch(company, json={"type": "number"}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["type"] == "number"

    r = await client.delete(age, headers=admin.headers)
    assert r.status_code == 204
    r = await client.get(f"{CONTACTS}/{contact_id}", headers=admin.headers)
    assert r.json()["attributes"] == {"tier": "gold"}
    deleted = await rows(
        ctx, "SELECT data FROM event_outbox WHERE type = 'contact_attribute.deleted'"
    )
    assert deleted[0]["data"]["contacts"] == 1
    entries = await rows(
        ctx,
        "SELECT action FROM activity_logs WHERE target_type = 'contact_attribute' "
        "ORDER BY created_at, id",
    )
    assert [e["action"] for e in entries].count("create_contact_attribute") == 4
    assert entries[-1]["action"] == "delete_contact_attribute"
