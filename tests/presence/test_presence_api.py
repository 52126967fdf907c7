"""PUT / GET /api/v1/me/presence: the agent's own choice (event, activity entry), the web
app's automatic away and back (the choice kept, no activity entry), refusals that write
nothing, and presence in the agent listings the web app reads."""

from __future__ import annotations

from datetime import datetime

from omnistream.conversations.visibility import Scope, Viewer, parse_audience
from omnistream.kit.enums import Role
from tests import factories
from tests.conftest import Actors, Agent, fields, problem
from tests.presence.written import presence_entries, presence_events, presence_row

URL = "/api/v1/me/presence"


async def put(client, who: Agent, **body) -> dict:
    r = await client.put(URL, headers=who.headers, json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def test_an_agent_sets_their_presence(client, ctx, actors: Actors, admin: Agent) -> None:
    agent = await actors.make("agent")
    assert (await client.get(URL, headers=agent.headers)).json()["presence"] == "offline"
    body = await put(client, agent, presence="away")
    assert (body["agent_id"], body["presence"], body["choice"]) == (str(agent.id), "away", "away")
    again = await put(client, agent, presence="away")  # no change: nothing written
    assert again == body
    got = (await client.get(URL, headers=agent.headers)).json()
    assert got == body

    events = await presence_events(ctx, agent.id)
    assert len(events) == 1
    data = events[0]["data"]
    assert (data["presence"], data["previous"], data["reason"]) == ("away", "offline", "set")
    assert datetime.fromisoformat(data["changed_at"]) == datetime.fromisoformat(body["changed_at"])
    assert events[0]["actor"]["id"] == str(agent.id)
    entries = await presence_entries(ctx, agent.id)
    assert [(e["target_type"], e["target_id"], e["metadata_json"]) for e in entries] == [
        ("agent", agent.id, {"presence": "away", "previous": "offline"})
    ]

    await put(client, agent, presence="online")
    assert await presence_row(ctx, agent.id) == ("online", "online")
    assert [e["data"]["presence"] for e in await presence_events(ctx, agent.id)] == [
        "away",
        "online",
    ]
    assert len(await presence_entries(ctx, agent.id)) == 2

    # Where the web app shows names: the directory (every role) and Settings › Agents.
    directory = (await client.get("/api/v1/directory", headers=agent.headers)).json()
    people = {a["id"]: a for a in directory["agents"]}
    assert people[str(agent.id)]["presence"] == "online"
    assert people[str(admin.id)]["presence"] == "offline"
    listed = (await client.get("/api/v1/agents", headers=admin.headers)).json()["items"]
    assert {a["id"]: a["presence"] for a in listed}[str(agent.id)] == "online"
    one = (await client.get(f"/api/v1/agents/{agent.id}", headers=admin.headers)).json()
    assert one["presence"] == "online" and one["presence_changed_at"]
    me = (await client.get("/api/v1/auth/me", headers=agent.headers)).json()
    assert "presence" not in me  # cached profile: GET /me/presence is the live value


async def test_automatic_away_keeps_the_choice(client, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    await put(client, agent, presence="online")
    body = await put(client, agent, presence="away", automatic=True)
    assert (body["presence"], body["choice"]) == ("away", "online")
    body = await put(client, agent, presence="online", automatic=True)
    assert (body["presence"], body["choice"]) == ("online", "online")
    reasons = [e["data"]["reason"] for e in await presence_events(ctx, agent.id)]
    assert reasons == ["set", "idle", "active"]
    assert len(await presence_entries(ctx, agent.id)) == 1  # only the agent's own choice

    # An agent who chose away or offline is not made away by idling, nor online by input.
    await put(client, agent, presence="offline")
    body = await put(client, agent, presence="away", automatic=True)
    assert (body["presence"], body["choice"]) == ("offline", "offline")
    body = await put(client, agent, presence="online", automatic=True)
    assert (body["presence"], body["choice"]) == ("offline", "offline")
    await put(client, agent, presence="away")
    body = await put(client, agent, presence="online", automatic=True)
    assert (body["presence"], body["choice"]) == ("away", "away")
    reasons = [e["data"]["reason"] for e in await presence_events(ctx, agent.id)]
    assert reasons == ["set", "idle", "active", "set", "set"]


async def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    client, ctx, actors: Actors
) -> None:
    agent = await actors.make("agent")
    for body in (
        {"presence": "busy"},
        {},
        {"presence": "online", "automatic": "maybe"},
        {"presence": "offline", "automatic": True},  # idling never takes one offline
    ):
        refused = problem(await client.put(URL, headers=agent.headers, json=body), 422)
        assert fields(refused) & {"presence", "automatic"}, refused
    refused = problem(
        await client.put(URL, headers=agent.headers, json={"presence": "online", "mood": 1}),
        422,
    )
    assert "mood" in fields(refused)
    problem(await client.put(URL, json={"presence": "online"}), 401)
    assert await presence_row(ctx, agent.id) == ("offline", "online")
    assert await presence_events(ctx, agent.id) == []
    assert await presence_entries(ctx, agent.id) == []


async def test_every_signed_in_role_sees_the_event(client, ctx, actors: Actors) -> None:
    """Every role lists every active colleague (GET /directory), whatever the divisions."""
    sales = await factories.division(ctx, "Sales")
    support = await factories.division(ctx, "Support")
    agent = await actors.make("agent", divisions=[sales])
    await put(client, agent, presence="online")
    (event,) = await presence_events(ctx, agent.id)
    states = parse_audience(event["audience"])
    for role, divisions in (
        (Role.AGENT, [support]),
        (Role.AGENT, []),
        (Role.SUPERVISOR, [support]),
        (Role.ADMIN, []),
    ):
        other = await actors.make(role.value, divisions=divisions, login=False)
        scope = Scope(role, other.id, frozenset(divisions))
        assert scope.can_see_any(event["audience"]) and Viewer.of(scope).sees(states)
