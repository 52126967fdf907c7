"""Bulk snooze and unsnooze: one wake time for all, the single snooze's refusals per
conversation (resolved: 422 on status; invisible: 404), its event and activity entry each;
a bad snooze is a 422 naming the field inside `snooze`, with nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from tests import factories
from tests.bulk.test_bulk import URL, bulk, state, trail
from tests.conftest import Actors, fields, problem


async def test_snooze_and_unsnooze_many(client, ctx, actors: Actors) -> None:
    a = await factories.division(ctx)
    b = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[a])
    open_ones = [await factories.conversation(ctx, division_id=a) for _ in range(3)]
    resolved = await factories.conversation(ctx, division_id=a, status="resolved")
    hidden = await factories.conversation(ctx, division_id=b)
    before = await state(ctx, [resolved, hidden])
    until = (datetime.now(UTC) + timedelta(hours=5)).replace(microsecond=0)
    result = await bulk(
        client,
        agent,
        action="snooze",
        snooze={"until": until.isoformat()},
        ids=[*open_ones, resolved, hidden],
    )
    assert (result["done"], result["refused"]) == (3, 2)
    by_id = {UUID(i["id"]): i for i in result["items"]}
    for cid in open_ones:
        conversation = by_id[cid]["conversation"]
        assert conversation["status"] == "snoozed"
        assert datetime.fromisoformat(conversation["snoozed_until"]) == until
    assert by_id[resolved]["problem"]["status"] == 422
    assert by_id[hidden]["problem"]["status"] == 404
    assert await state(ctx, [resolved, hidden]) == before
    events, entries = await trail(ctx, [*open_ones, resolved, hidden])
    assert sorted(events) == sorted(("conversation.snoozed", c) for c in open_ones)
    assert sorted(entries) == sorted(("snooze_conversation", c) for c in open_ones)

    result = await bulk(client, agent, action="unsnooze", ids=[*open_ones, resolved])
    assert result["done"] == 4  # not snoozed: nothing to change, as the single action
    assert {s[0] for s in (await state(ctx, open_ones)).values()} == {"open"}
    events, entries = await trail(ctx, [*open_ones, resolved])
    assert sorted(events[3:]) == sorted(("conversation.unsnoozed", c) for c in open_ones)
    assert sorted(entries[3:]) == sorted(("unsnooze_conversation", c) for c in open_ones)


async def test_bad_snooze_is_refused(client, ctx, actors: Actors) -> None:
    d = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d])
    ids = [str(await factories.conversation(ctx, division_id=d))]
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    cases = [
        ({"action": "snooze", "ids": ids}, {"snooze"}),
        ({"action": "snooze", "snooze": {}, "ids": ids}, {"snooze.until"}),
        ({"action": "snooze", "snooze": {"until": past}, "ids": ids}, {"snooze.until"}),
        ({"action": "snooze", "snooze": {"preset": "someday"}, "ids": ids}, {"snooze.preset"}),
        ({"action": "resolve", "snooze": {"preset": "tomorrow"}, "ids": ids}, {"snooze"}),
    ]
    for body, named in cases:
        r = await client.post(URL, headers=agent.headers, json=body)
        assert fields(problem(r, 422)) == named, (body, r.text)
    assert await trail(ctx, [UUID(i) for i in ids]) == ([], [])
