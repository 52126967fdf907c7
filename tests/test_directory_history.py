"""The two reads the web app needs beyond the inbox API: the directory of colleagues and
divisions (every role), and a conversation's history of changes (its system lines)."""

from __future__ import annotations

from tests import factories
from tests.conftest import Actors, problem


async def test_the_directory_names_active_agents_and_divisions(ctx, client, actors: Actors) -> None:
    sales = await factories.division(ctx, "Sales")
    agent = await actors.make("agent", divisions=[sales])
    colleague = await actors.make("supervisor", divisions=[sales])
    gone = await actors.make("agent")
    admin = await actors.make("admin")
    r = await client.patch(
        f"/api/v1/agents/{gone.id}", headers=admin.headers, json={"is_active": False}
    )
    assert r.status_code == 200, r.text

    r = await client.get("/api/v1/directory", headers=agent.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    people = {a["id"]: a for a in body["agents"]}
    assert str(gone.id) not in people
    assert people[str(colleague.id)]["division_ids"] == [str(sales)]
    assert people[str(colleague.id)]["role"] == "supervisor"
    assert set(people[str(agent.id)]) == {"id", "name", "role", "division_ids"}  # no emails
    assert body["divisions"] == [{"id": str(sales), "name": "Sales"}]
    assert (await client.get("/api/v1/directory")).status_code == 401


async def test_history_lists_a_conversations_changes_oldest_first(
    ctx, client, actors: Actors
) -> None:
    sales, billing = await factories.division(ctx, "Sales"), await factories.division(ctx)
    admin = await actors.make("admin")
    agent = await actors.make("agent", divisions=[sales])
    conversation = await factories.conversation(ctx, division_id=sales)
    base = f"/api/v1/conversations/{conversation}"
    for path, body in [
        ("/take", None),
        ("/resolve", None),
        ("/reopen", None),
        ("/transfer", {"division_id": str(billing), "reason": "Tagihan"}),
    ]:
        r = await client.post(base + path, headers=agent.headers, json=body)
        assert r.status_code == 200, (path, r.text)

    r = await client.get(base + "/history", headers=admin.headers)
    assert r.status_code == 200, r.text
    entries = r.json()
    assert [e["action"] for e in entries] == ["taken", "resolved", "reopened", "transferred"]
    assert {e["agent_name"] for e in entries} == {f"Agent {agent.email[:8]}"}
    transfer = entries[-1]["details"]["transfer"]
    assert transfer["to_division_id"] == str(billing) and transfer["reason"] == "Tagihan"
    # The agent has lost sight of it (another division, back in the pool): 404 like any.
    problem(await client.get(base + "/history", headers=agent.headers), 404)
    r = await client.get(base + "/history", headers=admin.headers, params={"limit": 2})
    assert [e["action"] for e in r.json()] == ["reopened", "transferred"]  # the latest two
