"""Conversation list filters and pages, and the actions: assign, take, transfer, resolve, read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID

from tests import factories
from tests.conftest import Actors, fields, problem

URL = "/api/v1/conversations"


async def events(ctx, event_type: str) -> list[dict]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT data, audience, actor FROM event_outbox WHERE type = $1 ORDER BY pos",
            event_type,
        )
    return [dict(r) for r in rows]


async def activity(ctx, action: str) -> list[dict]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT agent_id, target_id, metadata_json FROM activity_logs WHERE action = $1", action
        )
    return [dict(r) for r in rows]


async def test_list_filters_sorting_and_pages(client, ctx, actors: Actors) -> None:
    admin = await actors.make("admin")
    d = await factories.division(ctx)
    now = datetime.now(UTC)
    siti = await factories.contact(ctx, name="Siti Rahma", phone="6281111111111")
    ids = []
    for i in range(7):
        ids.append(
            await factories.conversation(
                ctx,
                last_message_at=now - timedelta(minutes=i),
                preview=f"order #{i}",
                channel="instagram" if i % 2 else "whatsapp",
                unread=i % 3,
                division_id=d if i < 3 else None,
                contact_id=siti if i == 6 else None,
            )
        )
    resolved = await factories.conversation(
        ctx, status="resolved", last_message_at=now + timedelta(minutes=1)
    )

    async def listed(**params) -> list[UUID]:
        r = await client.get(URL, headers=admin.headers, params=params)
        assert r.status_code == 200, r.text
        return [UUID(i["id"]) for i in r.json()["items"]]

    assert await listed() == [resolved, *ids]  # newest first, any status
    assert await listed(status="open") == ids
    assert await listed(status="resolved") == [resolved]
    assert await listed(status="open", channel="instagram") == ids[1::2]
    assert await listed(division_id=str(d)) == ids[:3]
    assert await listed(status="open", unread="true") == [c for i, c in enumerate(ids) if i % 3]
    assert await listed(q="SITI") == [ids[6]]
    assert await listed(q="1111 111") == [ids[6]]  # phone digits
    assert await listed(q="order #4") == [ids[4]]
    assert await listed(contact_id=str(siti)) == [ids[6]]
    assert await listed(sort="created_at", status="open") == ids[::-1]  # created in loop order
    # Keyset pages: every conversation once, in order.
    seen, cursor = [], None
    while True:
        params = {"limit": 3, "status": "open"} | ({"cursor": cursor} if cursor else {})
        r = await client.get(URL, headers=admin.headers, params=params)
        body = r.json()
        seen += [UUID(i["id"]) for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    item = (await client.get(URL, headers=admin.headers, params={"contact_id": str(siti)})).json()[
        "items"
    ][0]
    assert item["contact"]["name"] == "Siti Rahma" and item["last_message_preview"] == "order #6"


async def test_list_bad_input(client, actors: Actors) -> None:
    admin = await actors.make("admin")
    assert "cursor" in fields(
        problem(await client.get(URL, headers=admin.headers, params={"cursor": "%%%"}), 400)
    )
    assert fields(
        problem(await client.get(URL, headers=admin.headers, params={"status": "done"}), 422)
    ) == {"status"}
    assert fields(
        problem(await client.get(URL, headers=admin.headers, params={"assignee": "bob"}), 422)
    ) == {"assignee"}
    assert fields(
        problem(await client.get(URL, headers=admin.headers, params={"limit": 0}), 422)
    ) == {"limit"}
    assert fields(
        problem(await client.get(URL, headers=admin.headers, params={"q": "x" * 201}), 422)
    ) == {"q"}
    problem(await client.get(f"{URL}/not-a-uuid", headers=admin.headers), 422)
    problem(
        await client.get(f"{URL}/00000000-0000-0000-0000-000000000000", headers=admin.headers), 404
    )


async def test_assignee_filters(client, ctx, actors: Actors) -> None:
    d = await factories.division(ctx)
    sup = await actors.make("supervisor", divisions=[d])
    agent = await actors.make("agent", divisions=[d])
    mine = await factories.conversation(ctx, division_id=d, assigned_agent_id=sup.id)
    theirs = await factories.conversation(ctx, division_id=d, assigned_agent_id=agent.id)
    free = await factories.conversation(ctx, division_id=d)
    for assignee, expected in [("me", {mine}), ("unassigned", {free}), (str(agent.id), {theirs})]:
        r = await client.get(URL, headers=sup.headers, params={"assignee": assignee})
        assert {UUID(i["id"]) for i in r.json()["items"]} == expected, assignee
    # An agent asking for someone else's conversations gets none (they cannot see them).
    r = await client.get(URL, headers=agent.headers, params={"assignee": str(sup.id)})
    assert r.json()["items"] == []


async def test_assign_rules_and_records(client, ctx, actors: Actors) -> None:
    d = await factories.division(ctx)
    sup = await actors.make("supervisor", divisions=[d])
    member = await actors.make("agent", divisions=[d])
    outsider = await actors.make("agent")
    admin = await actors.make("admin")
    cid = await factories.conversation(ctx, division_id=d)
    body = problem(
        await client.post(
            f"{URL}/{cid}/assign", headers=sup.headers, json={"agent_id": str(outsider.id)}
        ),
        422,
    )
    assert fields(body) == {"agent_id"}
    problem(
        await client.post(
            f"{URL}/{cid}/assign",
            headers=sup.headers,
            json={"agent_id": "00000000-0000-0000-0000-000000000001"},
        ),
        404,
    )
    problem(await client.post(f"{URL}/{cid}/assign", headers=sup.headers, json={}), 422)
    r = await client.post(
        f"{URL}/{cid}/assign", headers=sup.headers, json={"agent_id": str(member.id)}
    )
    assert r.status_code == 200 and r.json()["assigned_agent_id"] == str(member.id)
    # Admins may assign outside the division.
    r = await client.post(
        f"{URL}/{cid}/assign", headers=admin.headers, json={"agent_id": str(outsider.id)}
    )
    assert r.status_code == 200 and r.json()["assigned_agent_id"] == str(outsider.id)
    assigned = await events(ctx, "conversation.assigned")
    assert len(assigned) == 2
    # The audience holds the state before and after, so the previous assignee learns it left.
    assert {a["assigned_agent_id"] for a in assigned[1]["audience"]} == {
        str(member.id),
        str(outsider.id),
    }
    rows = await activity(ctx, "assign_conversation")
    assert [r["agent_id"] for r in rows] == [sup.id, admin.id] and all(
        r["target_id"] == cid for r in rows
    )
    r = await client.post(f"{URL}/{cid}/unassign", headers=admin.headers)
    assert r.json()["assigned_agent_id"] is None
    assert len(await activity(ctx, "unassign_conversation")) == 1


async def test_take_race_exactly_one_wins(client, ctx, actors: Actors) -> None:
    d = await factories.division(ctx)
    one = await actors.make("agent", divisions=[d])
    two = await actors.make("agent", divisions=[d])
    for _ in range(5):
        cid = await factories.conversation(ctx, division_id=d)
        r1, r2 = await asyncio.gather(
            client.post(f"{URL}/{cid}/take", headers=one.headers),
            client.post(f"{URL}/{cid}/take", headers=two.headers),
        )
        assert sorted([r1.status_code, r2.status_code]) == [200, 409], (r1.text, r2.text)
        winner = one if r1.status_code == 200 else two
        async with ctx.pool.acquire() as conn:
            assert (
                await conn.fetchval("SELECT assigned_agent_id FROM conversations WHERE id=$1", cid)
                == winner.id
            )
    assert len(await events(ctx, "conversation.assigned")) == 5
    assert len(await activity(ctx, "take_conversation")) == 5


async def test_transfer(client, ctx, actors: Actors) -> None:
    a = await factories.division(ctx)
    b = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[a])
    target = await actors.make("agent", divisions=[b])
    cid = await factories.conversation(ctx, division_id=a, assigned_agent_id=agent.id)
    # Neither target: both fields are named (a form shows the error next to each).
    body = problem(
        await client.post(f"{URL}/{cid}/transfer", headers=agent.headers, json={"reason": "x"}), 422
    )
    assert fields(body) == {"agent_id", "division_id"}
    # "With a reason": missing, empty or blank is refused, naming reason.
    for reason in (None, "", "   \n"):
        payload = {"division_id": str(b)} | ({} if reason is None else {"reason": reason})
        body = problem(
            await client.post(f"{URL}/{cid}/transfer", headers=agent.headers, json=payload), 422
        )
        assert fields(body) == {"reason"}, reason
    assert await activity(ctx, "transfer_conversation") == []
    body = problem(
        await client.post(
            f"{URL}/{cid}/transfer",
            headers=agent.headers,
            json={"agent_id": str(target.id), "reason": "x"},
        ),
        422,
    )
    assert fields(body) == {"agent_id"}  # target not in division A
    problem(
        await client.post(
            f"{URL}/{cid}/transfer",
            headers=agent.headers,
            json={"division_id": "00000000-0000-0000-0000-000000000009", "reason": "x"},
        ),
        404,
    )
    r = await client.post(
        f"{URL}/{cid}/transfer",
        headers=agent.headers,
        json={"division_id": str(b), "agent_id": str(target.id), "reason": " billing question "},
    )
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["conversation"]["division_id"] == str(b) and moved["conversation"][
        "assigned_agent_id"
    ] == str(target.id)
    assert moved["transfer"] | {"id": None, "transferred_at": None} == {
        "id": None,
        "transferred_at": None,
        "conversation_id": str(cid),
        "from_agent_id": str(agent.id),
        "to_agent_id": str(target.id),
        "from_division_id": str(a),
        "to_division_id": str(b),
        "transferred_by": str(agent.id),
        "reason": "billing question",
    }
    # The first agent no longer sees it; the target does, with its history.
    problem(await client.get(f"{URL}/{cid}", headers=agent.headers), 404)
    history = (await client.get(f"{URL}/{cid}/transfers", headers=target.headers)).json()
    assert [h["reason"] for h in history] == ["billing question"]
    (event,) = await events(ctx, "conversation.transferred")
    assert {s["division_id"] for s in event["audience"]} == {str(a), str(b)}
    # To a division only: lands unassigned in its pool.
    r = await client.post(
        f"{URL}/{cid}/transfer",
        headers=target.headers,
        json={"division_id": str(a), "reason": "back to triage"},
    )
    assert r.json()["conversation"]["assigned_agent_id"] is None
    assert len(await activity(ctx, "transfer_conversation")) == 2
    body = problem(
        await client.post(
            f"{URL}/{cid}/transfer",
            headers=agent.headers,
            json={"division_id": str(a), "reason": "r" * 1001},
        ),
        422,
    )
    assert fields(body) == {"reason"}


async def test_resolve_reopen_and_read(client, ctx, actors: Actors) -> None:
    agent = await actors.make("agent")
    cid = await factories.conversation(ctx, unread=4)
    r = await client.post(f"{URL}/{cid}/resolve", headers=agent.headers)
    assert r.json()["status"] == "resolved" and r.json()["resolved_at"]
    again = await client.post(f"{URL}/{cid}/resolve", headers=agent.headers)
    assert again.status_code == 200 and again.json()["resolved_at"] == r.json()["resolved_at"]
    r = await client.post(f"{URL}/{cid}/reopen", headers=agent.headers)
    assert r.json()["status"] == "open" and r.json()["resolved_at"] is None
    assert len(await events(ctx, "conversation.resolved")) == 1
    assert len(await events(ctx, "conversation.reopened")) == 1
    assert [a["agent_id"] for a in await activity(ctx, "resolve_conversation")] == [agent.id]
    assert len(await activity(ctx, "reopen_conversation")) == 1
    r = await client.post(f"{URL}/{cid}/read", headers=agent.headers)
    assert r.json()["unread_count"] == 0
    await client.post(f"{URL}/{cid}/read", headers=agent.headers)
    assert len(await events(ctx, "conversation.updated")) == 1  # the second changed nothing


async def test_counts_stop_at_the_cap(ctx, actors: Actors) -> None:
    from omnistream.conversations import queries
    from omnistream.conversations.visibility import Scope
    from omnistream.kit.enums import Role

    d = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d], login=False)
    for _ in range(3):
        await factories.conversation(ctx, division_id=d)
    await factories.conversation(ctx, assigned_agent_id=agent.id)
    scope = Scope(Role.AGENT, agent.id, frozenset({d}))
    tabs = [queries.ListFilter(status="open"), queries.ListFilter(status="open", assignee="me")]
    async with ctx.pool.acquire() as conn:
        assert await queries.counts(conn, scope, tabs, 100) == [4, 1]
        assert await queries.counts(conn, scope, tabs, 2) == [2, 1]


async def test_search_finds_a_phone_in_national_format(client, ctx, actors: Actors) -> None:
    """The contacts search's phone patterns: 0812... (default region ID) finds 62812...."""
    admin = await actors.make("admin")
    rina = await factories.contact(ctx, name="Rina", phone="6281234567891")
    hers = await factories.conversation(ctx, contact_id=rina)
    await factories.conversation(ctx, preview="invoice 0812 paid")  # q in a preview, not a phone
    await factories.conversation(ctx, contact_id=await factories.contact(ctx, phone="6591234567"))

    async def found(q: str) -> set[UUID]:
        r = await client.get(URL, headers=admin.headers, params={"q": q})
        assert r.status_code == 200, r.text
        return {UUID(i["id"]) for i in r.json()["items"]}

    for q in ("08123", "0812-3456-7891", "+62 812 345", "6281234", "4567891"):
        assert hers in await found(q), q
    assert await found("08123") == {hers}
    r = await client.get("/api/v1/contacts?q=08123", headers=admin.headers)
    assert [c["id"] for c in r.json()["items"]] == [str(rina)]  # the same answer as /contacts


async def test_pages_sorted_by_created_at_have_no_gap_or_duplicate(
    client, ctx, actors: Actors
) -> None:
    admin = await actors.make("admin")
    now = datetime.now(UTC)
    created = {}
    for i in range(23):
        # last_message_at runs the other way, so a page walked by it would come out reversed.
        cid = await factories.conversation(ctx, last_message_at=now - timedelta(hours=i))
        created[cid] = now - timedelta(minutes=30 - i)
    # Three share one created_at: the id breaks the tie across a page boundary.
    tie = list(created)[5:8]
    for cid in tie:
        created[cid] = now - timedelta(minutes=100)
    async with ctx.pool.acquire() as conn:
        await conn.executemany(
            "UPDATE conversations SET created_at = $2 WHERE id = $1", list(created.items())
        )
    expected = sorted(created, key=lambda c: (created[c], c), reverse=True)
    seen: list[UUID] = []
    cursor = None
    pages = 0
    while True:
        params = {"sort": "created_at", "limit": 4} | ({"cursor": cursor} if cursor else {})
        r = await client.get(URL, headers=admin.headers, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [UUID(i["id"]) for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 6
    assert seen == expected and len(set(seen)) == 23
