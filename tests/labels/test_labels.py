"""Labels API: create, list, edit and delete (activity entries and label.* events), names
unique ignoring case, colours #rrggbb, refusals that write nothing, and who may do what."""

from __future__ import annotations

from typing import Any

from tests.conftest import Actors, Agent, fields, problem

URL = "/api/v1/labels"


async def written(ctx) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """(type, data) of the label events and (action, metadata) of the label entries."""
    async with ctx.pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT type, data, audience FROM event_outbox WHERE type LIKE 'label.%' ORDER BY pos"
        )
        entries = await conn.fetch(
            "SELECT action, metadata_json FROM activity_logs WHERE target_type = 'label' "
            "ORDER BY created_at, id"
        )
    for e in events:  # every signed-in role reads labels: the audience is everyone's
        assert e["audience"] == [{"division_id": None, "assigned_agent_id": None}]
    return [(e["type"], e["data"]) for e in events], [
        (e["action"], e["metadata_json"]) for e in entries
    ]


async def names(client, who: Agent) -> list[str]:
    r = await client.get(URL, headers=who.headers)
    assert r.status_code == 200, r.text
    return [i["name"] for i in r.json()["items"]]


async def test_crud_with_events_and_activity(client, ctx, admin: Agent) -> None:
    r = await client.post(
        URL,
        headers=admin.headers,
        json={"name": "  VIP ", "colour": "#C62828", "description": "Top customers"},
    )
    assert r.status_code == 201, r.text
    vip = r.json()
    assert (vip["name"], vip["colour"], vip["description"]) == ("VIP", "#c62828", "Top customers")
    r = await client.post(URL, headers=admin.headers, json={"name": "Billing", "colour": "#1d6fb8"})
    assert r.status_code == 201 and r.json()["description"] == ""
    assert await names(client, admin) == ["Billing", "VIP"]
    page = (await client.get(URL, headers=admin.headers, params={"limit": 1})).json()
    assert [i["name"] for i in page["items"]] == ["Billing"]
    rest = await client.get(URL, headers=admin.headers, params={"cursor": page["next_cursor"]})
    assert [i["name"] for i in rest.json()["items"]] == ["VIP"]

    url = f"{URL}/{vip['id']}"
    r = await client.patch(url, headers=admin.headers, json={"name": "VIP customer"})
    assert r.status_code == 200 and r.json()["name"] == "VIP customer"
    assert r.json()["colour"] == "#c62828" and r.json()["updated_at"] > vip["updated_at"]
    same = await client.patch(url, headers=admin.headers, json={"colour": "#C62828"})
    assert same.status_code == 200 and same.json()["updated_at"] == r.json()["updated_at"]
    assert (await client.delete(url, headers=admin.headers)).status_code == 204
    problem(await client.delete(url, headers=admin.headers), 404)
    problem(await client.patch(url, headers=admin.headers, json={"name": "x"}), 404)
    assert await names(client, admin) == ["Billing"]

    events, entries = await written(ctx)
    assert [t for t, _ in events] == [
        "label.created",
        "label.created",
        "label.updated",
        "label.deleted",
    ]
    assert events[0][1]["label"]["name"] == "VIP" and events[2][1]["changes"] == ["name"]
    assert events[3][1] == {
        "label": events[2][1]["label"],
        "conversations": 0,
    }
    assert entries == [
        ("create_label", {"name": "VIP"}),
        ("create_label", {"name": "Billing"}),
        ("update_label", {"changes": {"name": "VIP customer"}}),
        ("delete_label", {"name": "VIP customer", "conversations": 0}),
    ]


async def test_refusals_write_nothing(client, ctx, admin: Agent) -> None:
    r = await client.post(URL, headers=admin.headers, json={"name": "Refund", "colour": "#00aa00"})
    refund = r.json()
    bad_bodies = [
        ({"name": "", "colour": "#00aa00"}, "name"),
        ({"name": "   ", "colour": "#00aa00"}, "name"),
        ({"name": "x" * 51, "colour": "#00aa00"}, "name"),
        ({"colour": "#00aa00"}, "name"),
        ({"name": "Ok"}, "colour"),
        ({"name": "Ok", "colour": "red"}, "colour"),
        ({"name": "Ok", "colour": "#12345"}, "colour"),
        ({"name": "Ok", "colour": "#1234567"}, "colour"),
        ({"name": "Ok", "colour": "#00aa00", "description": "d" * 501}, "description"),
        ({"name": "Ok", "colour": "#00aa00", "color": "#00aa00"}, "color"),
    ]
    for body, field in bad_bodies:
        res = await client.post(URL, headers=admin.headers, json=body)
        assert field in fields(problem(res, 422)), body
    # A name another label has, in any case: 409 naming it.
    for body in ({"name": "refund", "colour": "#111111"}, {"name": " REFUND", "colour": "#111111"}):
        assert fields(problem(await client.post(URL, headers=admin.headers, json=body), 409)) == {
            "name"
        }
    r = await client.post(URL, headers=admin.headers, json={"name": "Other", "colour": "#222222"})
    other = f"{URL}/{r.json()['id']}"
    res = await client.patch(other, headers=admin.headers, json={"name": "REFUND"})
    assert problem(res, 409)["errors"][0] == {
        "field": "name",
        "message": "a label named 'REFUND' already exists",
        "type": "taken",
    }
    for body, field in (({"colour": "blue"}, "colour"), ({"name": ""}, "name")):
        assert field in fields(
            problem(await client.patch(other, headers=admin.headers, json=body), 422)
        )
    # Renaming to itself in another case is a rename, not a conflict.
    r = await client.patch(f"{URL}/{refund['id']}", headers=admin.headers, json={"name": "REFUND"})
    assert r.status_code == 200 and r.json()["name"] == "REFUND"
    assert await names(client, admin) == ["Other", "REFUND"]
    events, entries = await written(ctx)
    assert [t for t, _ in events] == ["label.created", "label.created", "label.updated"]
    assert [a for a, _ in entries] == ["create_label", "create_label", "update_label"]


async def test_everyone_reads_only_admins_manage(client, actors: Actors, admin: Agent) -> None:
    r = await client.post(URL, headers=admin.headers, json={"name": "Bug", "colour": "#333333"})
    label = f"{URL}/{r.json()['id']}"
    for role in ("supervisor", "agent"):
        who = await actors.make(role)
        assert await names(client, who) == ["Bug"]
        counts = await client.get(f"{URL}/counts", headers=who.headers)
        assert counts.status_code == 200 and counts.json()["items"][0]["open"] == 0
        body = {"name": role, "colour": "#444444"}
        problem(await client.post(URL, headers=who.headers, json=body), 403)
        problem(await client.patch(label, headers=who.headers, json={"name": role}), 403)
        problem(await client.delete(label, headers=who.headers), 403)
    problem(await client.get(URL), 401)
    assert await names(client, admin) == ["Bug"]
