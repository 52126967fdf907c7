"""The automatic assignment settings API (admins): the global and per-division switches,
capacities in all and per channel, their activity entries and events, refusals that write
nothing, and who may do what."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from tests import factories
from tests.assignment.support import URL
from tests.conftest import Actors, Agent, fields, problem


async def written(ctx) -> tuple[list[Any], list[tuple[str, Any]]]:
    async with ctx.pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT data, audience FROM event_outbox WHERE type = 'assignment_settings.updated' "
            "ORDER BY pos"
        )
        entries = await conn.fetch(
            "SELECT action, metadata_json FROM activity_logs "
            "WHERE action IN ('update_assignment_settings', 'set_agent_capacity') "
            "ORDER BY created_at, id"
        )
    assert all(e["audience"] == [{"admins": True}] for e in events)
    return [e["data"] for e in events], [(e["action"], e["metadata_json"]) for e in entries]


async def test_switch_divisions_and_global(client, ctx, admin: Agent) -> None:
    sales = await factories.division(ctx, "Sales")
    await factories.division(ctx, "Billing")
    body = {"global_enabled": True, "divisions": [{"division_id": str(sales), "enabled": True}]}
    r = await client.put(f"{URL}/settings", headers=admin.headers, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["global_enabled"] is True
    assert [(d["name"], d["enabled"]) for d in r.json()["divisions"]] == [
        ("Billing", False),
        ("Sales", True),
    ]
    again = await client.put(f"{URL}/settings", headers=admin.headers, json=body)
    assert again.status_code == 200 and again.json() == r.json()
    r = await client.put(f"{URL}/settings", headers=admin.headers, json={"global_enabled": False})
    assert r.json()["global_enabled"] is False
    assert [d["enabled"] for d in r.json()["divisions"]] == [False, True]  # left as it was
    events, entries = await written(ctx)
    change = {"global_enabled": True, "divisions": {str(sales): True}}
    assert events == [{"changes": change}, {"changes": {"global_enabled": False}}]
    assert entries == [
        ("update_assignment_settings", {"changes": change}),
        ("update_assignment_settings", {"changes": {"global_enabled": False}}),
    ]


async def test_capacity_in_all_and_per_channel(client, ctx, admin: Agent, actors) -> None:
    ana = await actors.make("agent", login=False)
    url = f"{URL}/agents/{ana.id}"
    r = await client.put(url, headers=admin.headers, json={"capacity": 4, "channels": {"email": 2}})
    assert r.status_code == 200, r.text
    assert (r.json()["capacity"], r.json()["channels"], r.json()["open"]) == (4, {"email": 2}, 0)
    r = await client.put(url, headers=admin.headers, json={"capacity": 4, "channels": {"email": 2}})
    assert r.status_code == 200
    r = await client.put(url, headers=admin.headers, json={"capacity": 0})
    assert (r.json()["capacity"], r.json()["channels"]) == (0, {})
    listed = (await client.get(f"{URL}/agents", headers=admin.headers)).json()["items"]
    assert {i["agent_id"]: i["capacity"] for i in listed}[str(ana.id)] == 0
    events, entries = await written(ctx)
    assert [e["capacity"] for e in events] == [4, 0]  # the repeat changed nothing
    assert entries[1] == (
        "set_agent_capacity",
        {"capacity": 0, "channels": {}, "previous_capacity": 4, "previous_channels": {"email": 2}},
    )


async def test_bad_input_is_refused_and_writes_nothing(client, ctx, admin: Agent, actors) -> None:
    sales = await factories.division(ctx)
    ana = await actors.make("agent", login=False)
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        (
            "settings",
            {
                "divisions": [
                    {"division_id": str(sales), "enabled": True},
                    {"division_id": str(uuid4()), "enabled": True},
                ]
            },
            422,
            "divisions[1].division_id",
        ),
        (
            "settings",
            {
                "divisions": [
                    {"division_id": str(sales), "enabled": True},
                    {"division_id": str(sales), "enabled": False},
                ]
            },
            422,
            "divisions[1].division_id",
        ),
        ("settings", {"global_enabled": "maybe"}, 422, "global_enabled"),
        ("settings", {"globally": True}, 422, "globally"),
        (f"agents/{ana.id}", {"capacity": -1}, 422, "capacity"),
        (f"agents/{ana.id}", {"capacity": 1001}, 422, "capacity"),
        (f"agents/{ana.id}", {"capacity": 3, "channels": {"fax": 1}}, 422, "channels.fax"),
        (f"agents/{ana.id}", {"capacity": 3, "channels": {"email": -2}}, 422, "channels.email"),
        (f"agents/{ana.id}", {}, 422, "capacity"),
    ]
    for path, body, status, field in cases:
        found = problem(await client.put(f"{URL}/{path}", headers=admin.headers, json=body), status)
        assert any(f == field or f.startswith(field) for f in fields(found)), (body, found)
    problem(
        await client.put(f"{URL}/agents/{uuid4()}", headers=admin.headers, json={"capacity": 3}),
        404,
    )
    r = await client.get(f"{URL}/settings", headers=admin.headers)
    assert [d["enabled"] for d in r.json()["divisions"]] == [False]  # the first item neither
    assert await written(ctx) == ([], [])


async def test_only_admins(client, ctx, actors: Actors) -> None:
    for role in ("supervisor", "agent"):
        who = await actors.make(role)
        problem(await client.get(f"{URL}/settings", headers=who.headers), 403)
        problem(await client.get(f"{URL}/agents", headers=who.headers), 403)
        problem(
            await client.put(f"{URL}/settings", headers=who.headers, json={"global_enabled": True}),
            403,
        )
        problem(
            await client.put(f"{URL}/agents/{who.id}", headers=who.headers, json={"capacity": 50}),
            403,
        )
    problem(await client.get(f"{URL}/settings"), 401)
