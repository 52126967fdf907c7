"""Snoozing a conversation over the API: the three choices, the list and its filter, events
and activity, refusals (422 naming the field, 404 outside visibility; nothing written),
unsnooze, resolve and reopen of a snoozed conversation, the agent's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from tests import factories
from tests.conftest import Actors, fields, problem
from tests.conversations.written import listed
from tests.snooze.helpers import URL, entries, events, status


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def test_snooze_until_a_time_leaves_the_open_list(client, ctx, actors: Actors) -> None:
    d = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d])
    cid = await factories.conversation(ctx, division_id=d, assigned_agent_id=agent.id)
    other = await factories.conversation(ctx, division_id=d, assigned_agent_id=agent.id)
    until = datetime.now(UTC) + timedelta(hours=2)
    r = await client.post(f"{URL}/{cid}/snooze", headers=agent.headers, json={"until": iso(until)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "snoozed" and body["snoozed_by"] == str(agent.id)
    assert datetime.fromisoformat(body["snoozed_until"]) == until
    assert await listed(client, agent, status="open") == [other]
    assert await listed(client, agent, status="snoozed") == [cid]
    assert set(await listed(client, agent)) == {cid, other}  # every status
    counts = (await client.get(f"{URL}/counts", headers=agent.headers)).json()
    assert counts["mine"] == 1  # open ones only
    (event,) = await events(ctx, "conversation.snoozed")
    assert event["data"]["conversation"]["status"] == "snoozed"
    assert event["data"]["until_next_message"] is False
    assert datetime.fromisoformat(event["data"]["snoozed_until"]) == until
    assert event["audience"] == [{"division_id": str(d), "assigned_agent_id": str(agent.id)}]
    (entry,) = await entries(ctx, "snooze_conversation")
    assert (entry["agent_id"], entry["target_id"]) == (agent.id, cid)
    assert entry["metadata_json"]["until_next_message"] is False
    # The same time again changes nothing; another time moves it (a second event).
    await client.post(f"{URL}/{cid}/snooze", headers=agent.headers, json={"until": iso(until)})
    assert len(await events(ctx, "conversation.snoozed")) == 1
    later = until + timedelta(days=1)
    r = await client.post(f"{URL}/{cid}/snooze", headers=agent.headers, json={"until": iso(later)})
    assert datetime.fromisoformat(r.json()["snoozed_until"]) == later
    assert len(await events(ctx, "conversation.snoozed")) == 2


async def test_until_next_message_has_no_time(client, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    cid = await factories.conversation(ctx, assigned_agent_id=agent.id)
    r = await client.post(
        f"{URL}/{cid}/snooze", headers=agent.headers, json={"until_next_message": True}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["snoozed_until"]) == ("snoozed", None)
    assert await status(ctx, cid) == ("snoozed", None)
    (event,) = await events(ctx, "conversation.snoozed")
    assert event["data"]["until_next_message"] is True


async def test_tomorrow_is_nine_in_the_agents_zone(client, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    cid = await factories.conversation(ctx, assigned_agent_id=agent.id)
    r = await client.put(
        "/api/v1/auth/me/timezone", headers=agent.headers, json={"timezone": "Asia/Jakarta"}
    )
    assert r.status_code == 200 and r.json() == {"timezone": "Asia/Jakarta"}
    (entry,) = await entries(ctx, "set_timezone")
    assert entry["metadata_json"] == {"timezone": "Asia/Jakarta"}
    r = await client.post(f"{URL}/{cid}/snooze", headers=agent.headers, json={"preset": "tomorrow"})
    assert r.status_code == 200, r.text
    woke = datetime.fromisoformat(r.json()["snoozed_until"]).astimezone(UTC)
    jakarta = timedelta(hours=7)  # no DST there
    tomorrow = (datetime.now(UTC) + jakarta).date() + timedelta(days=1)
    assert woke == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=UTC) - jakarta
    # The request's zone (the web app sends the browser's) wins over the profile's.
    r = await client.post(
        f"{URL}/{cid}/snooze",
        headers=agent.headers,
        json={"preset": "tomorrow", "timezone": "UTC"},
    )
    woke = datetime.fromisoformat(r.json()["snoozed_until"])
    assert (woke.hour, woke.minute, woke.utcoffset()) == (9, 0, timedelta(0))
    assert woke.date() == datetime.now(UTC).date() + timedelta(days=1)


async def test_refusals_name_the_field_and_write_nothing(client, ctx, actors: Actors) -> None:
    a = await factories.division(ctx)
    b = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[a])
    outsider = await actors.make("agent", divisions=[b])
    cid = await factories.conversation(ctx, division_id=a)
    resolved = await factories.conversation(ctx, division_id=a, status="resolved")
    now = datetime.now(UTC)
    bad = [
        ({}, {"until"}),
        ({"until": iso(now - timedelta(minutes=1))}, {"until"}),
        ({"until": iso(now + timedelta(days=400))}, {"until"}),
        ({"until": "2030-01-01T09:00:00"}, {"until"}),  # no offset
        ({"until": iso(now + timedelta(hours=1)), "preset": "tomorrow"}, {"until", "preset"}),
        ({"preset": "next_year"}, {"preset"}),
        ({"preset": "tomorrow", "timezone": "Mars/Olympus"}, {"timezone"}),
        ({"preset": "tomorrow", "timezone": "../../etc/passwd"}, {"timezone"}),
        ({"until_next_message": True, "wake": 1}, {"wake"}),
    ]
    for body, named in bad:
        r = await client.post(f"{URL}/{cid}/snooze", headers=agent.headers, json=body)
        assert fields(problem(r, 422)) == named, body
    r = await client.post(
        f"{URL}/{resolved}/snooze", headers=agent.headers, json={"until_next_message": True}
    )
    assert fields(problem(r, 422)) == {"status"}
    # Another division's agent: 404 for snooze and unsnooze, as for any action.
    for path, body in (("snooze", {"until_next_message": True}), ("unsnooze", None)):
        r = await client.post(f"{URL}/{cid}/{path}", headers=outsider.headers, json=body)
        problem(r, 404)
    r = await client.put(
        "/api/v1/auth/me/timezone", headers=agent.headers, json={"timezone": "Nowhere/Land"}
    )
    assert fields(problem(r, 422)) == {"timezone"}
    assert await status(ctx, cid) == ("open", None)
    assert await events(ctx, "conversation.snoozed") == []
    assert await entries(ctx, "snooze_conversation") == []
    assert await entries(ctx, "set_timezone") == []


async def test_unsnooze_resolve_and_reopen_end_a_snooze(client, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    cid = await factories.conversation(ctx, assigned_agent_id=agent.id)
    until = {"until": iso(datetime.now(UTC) + timedelta(hours=1))}
    await client.post(f"{URL}/{cid}/snooze", headers=agent.headers, json=until)
    r = await client.post(f"{URL}/{cid}/unsnooze", headers=agent.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["snoozed_until"], r.json()["snoozed_by"]) == (
        "open",
        None,
        None,
    )
    (event,) = await events(ctx, "conversation.unsnoozed")
    assert event["data"]["by"] == "agent" and event["actor"]["id"] == str(agent.id)
    (entry,) = await entries(ctx, "unsnooze_conversation")
    assert entry["agent_id"] == agent.id and entry["metadata_json"]["by"] == "agent"
    # Not snoozed: nothing changes.
    r = await client.post(f"{URL}/{cid}/unsnooze", headers=agent.headers)
    assert r.json()["status"] == "open" and len(await events(ctx, "conversation.unsnoozed")) == 1
    # Resolving a snoozed conversation ends its snooze (no wake later).
    await client.post(f"{URL}/{cid}/snooze", headers=agent.headers, json=until)
    r = await client.post(f"{URL}/{cid}/resolve", headers=agent.headers)
    assert (r.json()["status"], r.json()["snoozed_until"]) == ("resolved", None)
    r = await client.post(f"{URL}/{cid}/reopen", headers=agent.headers)
    assert r.json()["status"] == "open"
    await client.post(f"{URL}/{cid}/snooze", headers=agent.headers, json=until)
    r = await client.post(f"{URL}/{cid}/reopen", headers=agent.headers)  # reopen = wake now
    assert (r.json()["status"], r.json()["snoozed_until"]) == ("open", None)
    # The timeline's history has the snoozes and the unsnooze, oldest first.
    r = await client.get(f"{URL}/{cid}/history", headers=agent.headers)
    lines = [(h["action"], h["details"].get("by")) for h in r.json()]
    assert lines == [
        ("snoozed", None),
        ("unsnoozed", "agent"),
        ("snoozed", None),
        ("resolved", None),
        ("reopened", None),
        ("snoozed", None),
        ("reopened", None),
    ]
    assert r.json()[0]["details"]["until_next_message"] is False
    assert r.json()[0]["agent_id"] == str(agent.id)


async def test_supervisor_sees_snoozed_in_the_division(client, ctx, actors: Actors) -> None:
    d = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d])
    boss = await actors.make("supervisor", divisions=[d])
    cid = await factories.conversation(ctx, division_id=d, assigned_agent_id=agent.id)
    r = await client.post(
        f"{URL}/{cid}/snooze", headers=boss.headers, json={"until_next_message": True}
    )
    assert r.status_code == 200 and r.json()["snoozed_by"] == str(boss.id)
    assert await listed(client, agent, status="snoozed") == [cid]
    assert await listed(client, boss, status="snoozed", division_id=str(d)) == [cid]
    got = (await client.get(f"{URL}/{cid}", headers=agent.headers)).json()
    assert got["status"] == "snoozed" and got["snoozed_by"] == str(boss.id)
    assert UUID(got["id"]) == cid
