"""GET /api/v1/activity names what people know: the acting agent, the target (an agent, a
division, a conversation's contact, a quick reply...; once it is gone, the name the entry
kept), and the agents and divisions its metadata refers to by id (a transfer's from / to)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from tests import factories
from tests.activity.test_activity import activity, login
from tests.conftest import PASSWORD, Agent, problem

URL = "/api/v1/conversations"


async def named_agent(client: httpx.AsyncClient, admin: Agent, name: str, division: str) -> str:
    r = await client.post(
        "/api/v1/agents",
        json={"email": f"{name.lower()}@example.com", "name": name, "password": PASSWORD},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    agent_id = str(r.json()["id"])
    r = await client.put(f"/api/v1/divisions/{division}/members/{agent_id}", headers=admin.headers)
    assert r.status_code == 204, r.text
    return agent_id


def entry(items: list[dict[str, Any]], action: str) -> dict[str, Any]:
    found = [i for i in items if i["action"] == action]
    assert len(found) == 1, (action, found)
    return found[0]


async def test_entries_name_agents_targets_and_transfers(client, ctx, admin: Agent) -> None:
    admin_name = (await client.get("/api/v1/auth/me", headers=admin.headers)).json()["name"]
    r = await client.post("/api/v1/divisions", json={"name": "Sales"}, headers=admin.headers)
    sales = r.json()["id"]
    ana = await named_agent(client, admin, "Ana", sales)
    budi = await named_agent(client, admin, "Budi", sales)
    citra = await factories.contact(ctx, name="Citra Lestari")
    conversation = await factories.conversation(
        ctx, contact_id=citra, division_id=UUID(sales), assigned_agent_id=UUID(ana)
    )
    r = await client.post(
        f"{URL}/{conversation}/transfer",
        json={"agent_id": budi, "reason": "billing"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    await client.post(f"{URL}/{conversation}/resolve", headers=admin.headers)
    nameless = await factories.contact(ctx, name="", phone="628111222333")
    other = await factories.conversation(ctx, contact_id=nameless)
    r = await client.post(
        f"{URL}/{other}/messages", json={"type": "text", "text": "Halo"}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    problem(await login(client, "nobody@example.com", PASSWORD), 401)

    items = await activity(client, admin)
    moved = entry(items, "transfer_conversation")
    assert (moved["agent_name"], moved["target_name"]) == (admin_name, "Citra Lestari")
    by = str(admin.id)  # transferred_by
    assert moved["names"] == {ana: "Ana", budi: "Budi", sales: "Sales", by: admin_name}
    assert moved["metadata"]["transfer"]["from_agent_id"] == ana
    assert entry(items, "resolve_conversation")["target_name"] == "Citra Lestari"
    sent = entry(items, "send_message")
    assert sent["target_name"] == "+628111222333" and sent["names"] == {}
    took = entry(items, "take_conversation")  # the reply took the unassigned conversation
    assert took["names"] == {took["agent_id"]: admin_name}
    member = next(i for i in items if i["action"] == "add_division_member")  # newest first
    assert (member["target_name"], member["names"]) == ("Sales", {budi: "Budi"})
    created = next(i for i in items if i["action"] == "create_agent")
    assert created["target_name"] == "Budi" and created["agent_name"] == admin_name
    failed = entry(items, "login_failed")
    assert (failed["agent_name"], failed["target_name"]) == (None, "nobody@example.com")

    # A deleted target keeps the name its entry recorded.
    r = await client.post("/api/v1/divisions", json={"name": "Temp"}, headers=admin.headers)
    assert (
        await client.delete(f"/api/v1/divisions/{r.json()['id']}", headers=admin.headers)
    ).status_code == 204
    items = await activity(client, admin, action="delete_division")
    assert items[0]["target_name"] == "Temp"
    r = await client.post(
        "/api/v1/quick-replies", json={"title": "Ongkir", "body": "Gratis"}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    items = await activity(client, admin, target_type="quick_reply")
    assert items[0]["target_name"] == "Ongkir"
