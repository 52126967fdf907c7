"""Bulk actions API: each action through the single action's rules (event and activity entry
per conversation), a mix of visible and invisible conversations as an agent (refused as not
found, never changed, never revealed), a refusal per conversation that leaves the others
done, and bad input refused with nothing written."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

from tests import factories
from tests.conftest import Actors, Agent, fields, problem

URL = "/api/v1/conversations/bulk"


async def bulk(client, who: Agent, **body: Any) -> dict[str, Any]:
    r = await client.post(URL, headers=who.headers, json=jsonable(body))
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def jsonable(body: dict[str, Any]) -> dict[str, Any]:
    return {
        k: [str(i) for i in v] if k == "ids" else str(v) if isinstance(v, UUID) else v
        for k, v in body.items()
    }


async def state(ctx, ids: list[UUID]) -> dict[UUID, tuple[Any, ...]]:
    """Everything an action could change on these conversations."""
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, status, priority, assigned_agent_id, division_id, updated_at, "
            "conversation_labels_json(id) AS labels FROM conversations WHERE id = ANY($1)",
            ids,
        )
    return {r["id"]: tuple(r)[1:] for r in rows}


async def trail(ctx, ids: list[UUID]) -> tuple[list[tuple[str, UUID]], list[tuple[str, UUID]]]:
    """(event type, conversation) and (activity action, conversation) written about `ids`."""
    async with ctx.pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT type, conversation_id FROM event_outbox WHERE conversation_id = ANY($1) "
            "ORDER BY pos",
            ids,
        )
        entries = await conn.fetch(
            "SELECT action, target_id FROM activity_logs WHERE target_id = ANY($1) "
            "ORDER BY created_at, id",
            ids,
        )
    return [(e["type"], e["conversation_id"]) for e in events], [
        (e["action"], e["target_id"]) for e in entries
    ]


async def test_agent_mixing_visible_and_invisible(client, ctx, actors: Actors) -> None:
    a = await factories.division(ctx)
    b = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[a])
    colleague = await actors.make("agent", divisions=[a])
    pool = [await factories.conversation(ctx, division_id=a) for _ in range(3)]
    mine = await factories.conversation(ctx, division_id=b, assigned_agent_id=agent.id)
    visible = [*pool, mine]
    hidden = [
        await factories.conversation(ctx, division_id=b),  # another division's pool
        await factories.conversation(ctx, division_id=a, assigned_agent_id=colleague.id),
    ]
    missing = uuid4()
    before = await state(ctx, hidden)
    asked = [hidden[0], *visible[:2], missing, hidden[1], *visible[2:]]
    result = await bulk(client, agent, action="resolve", ids=asked)
    assert (result["done"], result["refused"]) == (4, 3)
    assert [UUID(i["id"]) for i in result["items"]] == asked  # in the order asked
    by_id = {UUID(i["id"]): i for i in result["items"]}
    for cid in visible:
        item = by_id[cid]
        assert item["ok"] and item["problem"] is None
        assert item["conversation"]["status"] == "resolved"
    # Invisible and nonexistent answer alike (only the id differs): nothing is revealed.
    refusals = {
        cid: (by_id[cid]["ok"], by_id[cid]["conversation"], by_id[cid]["problem"])
        for cid in [*hidden, missing]
    }
    for cid, (ok, conversation, refused) in refusals.items():
        assert not ok and conversation is None
        assert refused == {
            "status": 404,
            "title": "Not found",
            "detail": f"no conversation with id {cid}",
        }
    assert await state(ctx, hidden) == before  # never changed
    events, entries = await trail(ctx, [*visible, *hidden])
    assert sorted(events) == sorted(("conversation.resolved", c) for c in visible)
    assert sorted(entries) == sorted(("resolve_conversation", c) for c in visible)
    # Again: already resolved, nothing to change and nothing written; still "ok".
    again = await bulk(client, agent, action="resolve", ids=visible)
    assert again["done"] == 4 and await trail(ctx, visible) == (events, entries)


async def test_each_action_writes_what_the_single_action_writes(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    a = await factories.division(ctx)
    b = await factories.division(ctx)
    supervisor = await actors.make("supervisor", divisions=[a, b])
    helper = await actors.make("agent", divisions=[a, b])
    ids = [await factories.conversation(ctx, division_id=a) for _ in range(3)]
    label = (
        await client.post(
            "/api/v1/labels", headers=admin.headers, json={"name": "VIP", "colour": "#c62828"}
        )
    ).json()
    steps: list[tuple[dict[str, Any], str, str]] = [
        ({"action": "assign", "agent_id": helper.id}, "conversation.assigned", "assign_conversation"),
        ({"action": "unassign"}, "conversation.assigned", "unassign_conversation"),
        ({"action": "transfer", "division_id": b, "reason": "billing"},
         "conversation.transferred", "transfer_conversation"),
        ({"action": "add_label", "label_id": label["id"]}, "conversation.updated", "add_label"),
        ({"action": "remove_label", "label_id": label["id"]}, "conversation.updated", "remove_label"),
        ({"action": "set_priority", "priority": "urgent"}, "conversation.updated", "set_priority"),
        ({"action": "resolve"}, "conversation.resolved", "resolve_conversation"),
        ({"action": "reopen"}, "conversation.reopened", "reopen_conversation"),
    ]  # fmt: skip
    seen = 0
    for body, event, action in steps:
        result = await bulk(client, supervisor, ids=ids, **body)
        assert (result["done"], result["refused"]) == (3, 0), (body, result)
        events, entries = await trail(ctx, ids)
        # One event and one activity entry per conversation, of this action.
        assert sorted(events[seen:]) == sorted((event, c) for c in ids), body
        assert sorted(entries[seen:]) == sorted((action, c) for c in ids), body
        seen += 3
        now = await state(ctx, ids)
        if body["action"] == "assign":
            assert {s[2] for s in now.values()} == {helper.id}
        if body["action"] == "transfer":
            assert {(s[2], s[3]) for s in now.values()} == {(None, b)}
        if body["action"] == "add_label":
            assert all([lb["name"] for lb in s[5]] == ["VIP"] for s in now.values())
        if body["action"] == "set_priority":
            assert {s[1] for s in now.values()} == {"urgent"}
    assert {s[0] for s in (await state(ctx, ids)).values()} == {"open"}
    async with ctx.pool.acquire() as conn:
        moved = await conn.fetchval(
            "SELECT count(*) FROM conversation_transfers WHERE conversation_id = ANY($1) "
            "AND reason = 'billing'",
            ids,
        )
    assert moved == 3


async def test_a_refusal_leaves_the_others_done(client, ctx, actors: Actors) -> None:
    a = await factories.division(ctx)
    b = await factories.division(ctx)
    supervisor = await actors.make("supervisor", divisions=[a, b])
    member_of_a = await actors.make("agent", divisions=[a])
    in_a = [await factories.conversation(ctx, division_id=a) for _ in range(2)]
    in_b = [await factories.conversation(ctx, division_id=b) for _ in range(2)]
    before = await state(ctx, in_b)
    result = await bulk(
        client, supervisor, action="assign", agent_id=member_of_a.id, ids=[*in_b, *in_a]
    )
    assert (result["done"], result["refused"]) == (2, 2)
    by_id = {UUID(i["id"]): i for i in result["items"]}
    for cid in in_b:  # the single action's own refusal, per conversation
        assert by_id[cid]["problem"]["status"] == 422
        assert "not a member" in by_id[cid]["problem"]["detail"]
    assert await state(ctx, in_b) == before
    assert {s[2] for s in (await state(ctx, in_a)).values()} == {member_of_a.id}
    events, entries = await trail(ctx, [*in_a, *in_b])
    assert sorted(e[1] for e in events) == sorted(in_a)
    assert sorted(e[1] for e in entries) == sorted(in_a)


async def test_bad_input_is_refused_and_writes_nothing(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    d = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d])
    ids = [str(await factories.conversation(ctx, division_id=d)) for _ in range(2)]
    nobody = str(uuid4())
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"action": "close", "ids": ids}, {"action"}),
        ({"ids": ids}, {"action"}),
        ({"action": "assign", "ids": ids}, {"agent_id"}),
        ({"action": "assign", "agent_id": nobody, "ids": ids}, {"agent_id"}),
        ({"action": "resolve", "priority": "high", "ids": ids}, {"priority"}),
        ({"action": "set_priority", "priority": "critical", "ids": ids}, {"priority"}),
        ({"action": "add_label", "label_id": nobody, "ids": ids}, {"label_id"}),
        ({"action": "transfer", "reason": "x", "ids": ids}, {"agent_id", "division_id"}),
        ({"action": "transfer", "division_id": nobody, "reason": "x", "ids": ids},
         {"division_id"}),
        ({"action": "transfer", "division_id": str(d), "reason": " ", "ids": ids}, {"reason"}),
        ({"action": "resolve"}, {"ids", "filter"}),
        ({"action": "resolve", "ids": ids, "filter": {"status": "open"}}, {"ids", "filter"}),
        ({"action": "resolve", "ids": []}, {"ids"}),
        ({"action": "resolve", "ids": ["nope"]}, {"ids.0"}),
        ({"action": "resolve", "ids": [str(uuid4()) for _ in range(1001)]}, {"ids"}),
        ({"action": "resolve", "filter": {"priority": "huge"}}, {"filter.priority"}),
        ({"action": "resolve", "filter": {"label": nobody}}, {"filter.label"}),
        ({"action": "resolve", "filter": {"assignee": "someone"}}, {"filter.assignee"}),
        ({"action": "resolve", "filter": {"colour": "red"}}, {"filter.colour"}),
    ]  # fmt: skip
    for body, named in cases:
        r = await client.post(URL, headers=agent.headers, json=body)
        assert fields(problem(r, 422)) == named, (body, r.text)
    events, entries = await trail(ctx, [UUID(i) for i in ids])
    assert events == [] and entries == []
    # The limit is on distinct conversations: 1,000 ids are accepted.
    r = await client.post(
        URL, headers=agent.headers, json={"action": "resolve", "ids": [*ids, *ids] * 250}
    )
    assert r.status_code == 200 and r.json()["done"] == 2 and len(r.json()["items"]) == 2
    problem(await client.post(URL, json={"action": "resolve", "ids": ids}), 401)


async def test_overlapping_bulk_actions_wait_for_each_other(client, ctx, admin: Agent) -> None:
    """The rows are locked in id order up front: two calls over the same conversations in
    opposite orders queue instead of deadlocking (a 500 for one of them)."""
    ids = [await factories.conversation(ctx) for _ in range(40)]
    forward = jsonable({"action": "set_priority", "priority": "high", "ids": ids})
    backward = jsonable({"action": "resolve", "ids": ids[::-1]})
    first, second = await asyncio.gather(
        client.post(URL, headers=admin.headers, json=forward),
        client.post(URL, headers=admin.headers, json=backward),
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert first.json()["done"] == second.json()["done"] == 40
    assert {s[:2] for s in (await state(ctx, ids)).values()} == {("resolved", "high")}
