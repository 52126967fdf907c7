"""Snoozes end exactly once: by time (the wake loop, however many workers race), and by
the customer's next message (the inbound batch), with the event and the assignee's
notification."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from omnistream.snooze.worker import snooze_loop, wake_due
from tests import factories
from tests.conftest import Actors
from tests.inbound.test_inbound_support import (
    _fresh_secrets,  # noqa: F401 - autouse
    conversation_for,
    deliver,
    drain,
    fixture,
    outbound,
    payload,
    whatsapp,
)
from tests.snooze.helpers import URL, entries, events, notifications, status

ANA = "16505551234"  # the sender of the wa_text and wa_reaction fixtures


async def overdue(ctx, *ids) -> None:
    """Their snooze time has come (as if set a while ago)."""
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE conversations SET snoozed_until = now() - interval '1 second' "
            "WHERE id = ANY($1::uuid[])",
            list(ids),
        )


async def test_two_workers_racing_wake_each_once(client, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    ids = [await factories.conversation(ctx, assigned_agent_id=agent.id) for _ in range(30)]
    ids += [await factories.conversation(ctx) for _ in range(10)]  # unassigned: no one to tell
    later = {"until": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    for cid in ids:
        r = await client.post(f"{URL}/{cid}/snooze", headers=agent.headers, json=later)
        assert r.status_code == 200, r.text
    not_due = await factories.conversation(ctx, assigned_agent_id=agent.id)
    await client.post(f"{URL}/{not_due}/snooze", headers=agent.headers, json=later)
    await overdue(ctx, *ids)
    woken = 0
    while True:  # small batches, so the two ticks meet on the same due rows again and again
        got = await asyncio.gather(*(wake_due(ctx.pool, limit=7) for _ in range(2)))
        if not any(got):
            break
        woken += sum(got)
    assert woken == len(ids)
    for cid in ids:
        assert await status(ctx, cid) == ("open", None)
    assert (await status(ctx, not_due))[0] == "snoozed"
    sent = await events(ctx, "conversation.unsnoozed")
    assert sorted(e["data"]["conversation"]["id"] for e in sent) == sorted(map(str, ids))
    assert {e["data"]["by"] for e in sent} == {"time"}
    assert {e["actor"]["type"] for e in sent} == {"system"}
    logged = await entries(ctx, "unsnooze_conversation")
    assert sorted(e["target_id"] for e in logged) == sorted(ids)
    assert {e["agent_id"] for e in logged} == {None}
    for cid in ids[:30]:
        (note,) = await notifications(ctx, cid)
        assert (note["recipient_id"], note["kind"]) == (agent.id, "snooze_ended")
        assert note["data"] == {"reason": "time"}
    for cid in ids[30:]:
        assert await notifications(ctx, cid) == []
    assert await wake_due(ctx.pool) == 0  # nothing left to wake twice


async def test_the_loop_wakes_a_snooze_when_its_time_comes(client, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    cid = await factories.conversation(ctx, assigned_agent_id=agent.id)
    stop = asyncio.Event()
    loop = asyncio.create_task(snooze_loop(ctx.pool, ctx.settings, stop))
    try:
        await asyncio.sleep(0.3)  # listening, and asleep for its poll interval
        until = datetime.now(UTC) + timedelta(seconds=1.5)
        r = await client.post(
            f"{URL}/{cid}/snooze", headers=agent.headers, json={"until": until.isoformat()}
        )
        assert r.json()["status"] == "snoozed"
        await asyncio.sleep(0.5)
        assert (await status(ctx, cid))[0] == "snoozed"  # not before its time
        for _ in range(60):
            if (await status(ctx, cid))[0] == "open":
                break
            await asyncio.sleep(0.1)
        assert await status(ctx, cid) == ("open", None)
        assert datetime.now(UTC) >= until
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)
    (event,) = await events(ctx, "conversation.unsnoozed")
    assert event["data"]["by"] == "time"
    assert datetime.fromisoformat(event["data"]["snoozed_until"]) == until
    assert len(await notifications(ctx, cid)) == 1


async def test_the_customer_writing_wakes_it_once(client, ctx, actors: Actors) -> None:
    (account, _) = await whatsapp(ctx)
    agent = await actors.make("agent")
    cid = await conversation_for(ctx, "whatsapp", account, phone=ANA)
    me = {"agent_id": str(agent.id)}
    r = await client.post(f"{URL}/{cid}/assign", headers=agent.headers, json=me)
    assert r.status_code == 200, r.text
    soon = {"until": (datetime.now(UTC) + timedelta(hours=3)).isoformat()}
    r = await client.post(f"{URL}/{cid}/snooze", headers=agent.headers, json=soon)
    assert r.json()["status"] == "snoozed"
    await deliver(client, fixture("wa_reaction"))  # a 👍 is no message: still snoozed
    await drain(ctx)
    assert (await status(ctx, cid))[0] == "snoozed"
    await deliver(client, fixture("wa_text"))
    await drain(ctx)
    assert await status(ctx, cid) == ("open", None)
    (event,) = await events(ctx, "conversation.unsnoozed")
    assert event["data"]["by"] == "customer" and event["data"]["conversation"]["status"] == "open"
    assert event["actor"]["type"] == "contact"
    (entry,) = await entries(ctx, "unsnooze_conversation")
    assert entry["agent_id"] is None and entry["metadata_json"]["by"] == "customer"
    assert await entries(ctx, "reopen_conversation") == []
    (note,) = await notifications(ctx, cid)
    assert (note["recipient_id"], note["data"]) == (agent.id, {"reason": "message"})
    text = (await events(ctx, "message.created"))[-1]  # the text's (the reaction is stored too)
    assert text["data"]["message"]["type"] == "text"
    assert text["data"]["conversation"]["status"] == "open"
    assert await wake_due(ctx.pool) == 0  # its time, later, wakes nothing


async def test_the_one_item_path_wakes_it_too(client, ctx, actors: Actors) -> None:
    """A payload with a reaction goes the one-item path (messages.ingest.store_inbound): its
    text wakes the snooze there, its reaction does not count."""
    (account, _) = await whatsapp(ctx)
    agent = await actors.make("agent")
    cid = await conversation_for(ctx, "whatsapp", account, phone=ANA)
    await outbound(ctx, cid, "wamid.OUT1")  # what the reaction reacts to
    me = {"agent_id": str(agent.id)}
    await client.post(f"{URL}/{cid}/assign", headers=agent.headers, json=me)
    r = await client.post(
        f"{URL}/{cid}/snooze", headers=agent.headers, json={"until_next_message": True}
    )
    assert r.json()["status"] == "snoozed"
    body = payload("wa_text")
    reaction = payload("wa_reaction")["entry"][0]["changes"][0]["value"]["messages"][0]
    body["entry"][0]["changes"][0]["value"]["messages"].append(reaction)
    await deliver(client, body)
    await drain(ctx)
    assert await status(ctx, cid) == ("open", None)
    (event,) = await events(ctx, "conversation.unsnoozed")
    assert (event["data"]["by"], event["data"]["snoozed_until"]) == ("customer", None)
    (entry,) = await entries(ctx, "unsnooze_conversation")
    assert entry["metadata_json"]["by"] == "customer" and entry["agent_id"] is None
    (note,) = await notifications(ctx, cid)
    assert (note["recipient_id"], note["data"]) == (agent.id, {"reason": "message"})
    created = await events(ctx, "message.created")
    assert [e["data"]["message"]["type"] for e in created] == ["text", "reaction"]
    assert {e["data"]["conversation"]["status"] for e in created} == {"open"}
