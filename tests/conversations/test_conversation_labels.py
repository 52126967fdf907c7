"""Labels on conversations: add and remove (visibility, idempotence, events, activity), the
labels in every payload, the list filtered by one or several labels, open counts per label
within each role's visibility (following resolves and moves), a deleted label gone from
everything, and the plans on 20,000 rows."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from omnistream.conversations import label_list_queries, queries
from omnistream.conversations.visibility import Scope
from omnistream.kit.enums import Role
from omnistream.labels import queries as label_queries
from tests import factories
from tests.conftest import Actors, Agent, fields, problem
from tests.conversations.test_sla_list import Recorder
from tests.conversations.written import listed, written

URL = "/api/v1/conversations"


async def label(client, admin: Agent, name: str, colour: str = "#1d6fb8") -> str:
    r = await client.post(
        "/api/v1/labels", headers=admin.headers, json={"name": name, "colour": colour}
    )
    assert r.status_code == 201, r.text
    label_id: str = r.json()["id"]
    return label_id


async def add(client, who: Agent, cid: UUID, label_id: str, status: int = 200) -> dict[str, Any]:
    r = await client.post(f"{URL}/{cid}/labels", headers=who.headers, json={"label_id": label_id})
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def brief(body: dict[str, Any]) -> list[str]:
    return [lb["name"] for lb in body["labels"]]


async def test_add_and_remove_announce_log_and_repeat_as_no_ops(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    d = await factories.division(ctx)
    other = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d])
    outsider = await actors.make("agent", divisions=[other])
    cid = await factories.conversation(ctx, division_id=d)
    vip = await label(client, admin, "VIP", "#c62828")
    billing = await label(client, admin, "Billing")

    body = await add(client, agent, cid, vip)
    assert body["labels"] == [{"id": vip, "name": "VIP", "colour": "#c62828"}]
    body = await add(client, agent, cid, billing)
    assert brief(body) == ["Billing", "VIP"]  # by name
    got = (await client.get(f"{URL}/{cid}", headers=agent.headers)).json()
    assert brief(got) == ["Billing", "VIP"]
    item = (await client.get(URL, headers=agent.headers)).json()["items"][0]
    assert brief(item) == ["Billing", "VIP"]
    resolved = (await client.post(f"{URL}/{cid}/resolve", headers=agent.headers)).json()
    assert brief(resolved) == ["Billing", "VIP"]  # every conversation payload has them
    await client.post(f"{URL}/{cid}/reopen", headers=agent.headers)

    events, entries = await written(ctx, "add_label", "remove_label")
    added = [e for e in events if "added_label" in e["data"]]
    assert [e["data"]["added_label"]["name"] for e in added] == ["VIP", "Billing"]
    assert brief(added[1]["data"]["conversation"]) == ["Billing", "VIP"]
    assert added[0]["audience"] == [{"division_id": str(d), "assigned_agent_id": None}]
    assert [(e["action"], e["agent_id"], e["target_id"]) for e in entries] == [
        ("add_label", agent.id, cid),
        ("add_label", agent.id, cid),
    ]
    assert entries[0]["metadata_json"] == {
        "added_label": {"id": vip, "name": "VIP", "colour": "#c62828"}
    }

    # Again: the label it has, one it lacks, a label that does not exist: nothing written.
    count = len(events)
    assert brief(await add(client, agent, cid, vip)) == ["Billing", "VIP"]
    missing = "00000000-0000-0000-0000-000000000000"
    r = await client.delete(f"{URL}/{cid}/labels/{missing}", headers=agent.headers)
    assert r.status_code == 200 and brief(r.json()) == ["Billing", "VIP"]
    events, entries = await written(ctx, "add_label", "remove_label")
    assert (len(events), len(entries)) == (count, 2)

    r = await client.delete(f"{URL}/{cid}/labels/{vip}", headers=agent.headers)
    assert r.status_code == 200 and brief(r.json()) == ["Billing"]
    again = await client.delete(f"{URL}/{cid}/labels/{vip}", headers=agent.headers)
    assert again.status_code == 200 and brief(again.json()) == ["Billing"]
    events, entries = await written(ctx, "add_label", "remove_label")
    assert events[-1]["data"]["removed_label"] == {"id": vip, "name": "VIP", "colour": "#c62828"}
    assert brief(events[-1]["data"]["conversation"]) == ["Billing"]  # as after the change
    assert [e["action"] for e in entries] == ["add_label", "add_label", "remove_label"]

    # Refused: another division's agent (404, as for what they may not see), an unknown
    # conversation (404), an unknown or malformed label (422 naming label_id).
    count = len(events)
    problem(
        await client.post(f"{URL}/{cid}/labels", headers=outsider.headers, json={"label_id": vip}),
        404,
    )
    problem(await client.delete(f"{URL}/{cid}/labels/{billing}", headers=outsider.headers), 404)
    problem(
        await client.post(f"{URL}/{missing}/labels", headers=agent.headers, json={"label_id": vip}),
        404,
    )
    for bad in ({"label_id": missing}, {"label_id": "vip"}, {}, {"label_id": vip, "x": 1}):
        res = await client.post(f"{URL}/{cid}/labels", headers=agent.headers, json=bad)
        assert fields(problem(res, 422)) & {"label_id", "x"}, bad
    events, entries = await written(ctx, "add_label", "remove_label")
    assert (len(events), len(entries)) == (count, 3)
    assert brief((await client.get(f"{URL}/{cid}", headers=agent.headers)).json()) == ["Billing"]


async def test_a_write_waiting_for_the_row_sees_labels_changed_meanwhile(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    """A read mark blocked by a transaction that removes a label (it holds the conversation's
    row) answers and announces the conversation without it, though its statement began
    before that transaction committed (conversation_labels_json, migration 0027)."""
    agent = await actors.make("agent")
    cid = await factories.conversation(ctx, unread=1)
    vip = await label(client, admin, "VIP")
    await add(client, agent, cid, vip)
    async with ctx.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("DELETE FROM conversation_labels WHERE conversation_id = $1", cid)
        await conn.execute("UPDATE conversations SET updated_at = now() WHERE id = $1", cid)
        read = asyncio.create_task(client.post(f"{URL}/{cid}/read", headers=agent.headers))
        await asyncio.sleep(0.3)  # the read mark's UPDATE waits for the row
        assert not read.done()
        await tx.commit()
    r = await read
    assert r.status_code == 200 and r.json()["labels"] == [] and r.json()["unread_count"] == 0
    events, _ = await written(ctx, "add_label", "remove_label")
    assert events[-1]["data"]["conversation"]["labels"] == []


async def test_list_filter_by_one_or_several_labels(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    d = await factories.division(ctx)
    other = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d])
    a, b, c = [await label(client, admin, n) for n in ("A", "B", "C")]
    now = datetime.now(UTC)
    hidden = await factories.conversation(ctx, division_id=other)
    await add(client, admin, hidden, a)
    plan = [(a,), (b,), (), (a, b), (c,), (a,), ()]
    ids: list[UUID] = []
    for i, labels in enumerate(plan):
        # Every other one is the agent's own, the rest in the division's pool: two branches.
        cid = await factories.conversation(
            ctx,
            division_id=d,
            assigned_agent_id=agent.id if i % 2 else None,
            status="resolved" if i == 5 else "open",
            last_message_at=now - timedelta(minutes=i),
        )
        for label_id in labels:
            await add(client, admin, cid, label_id)
        ids.append(cid)

    def having(*wanted: str) -> list[UUID]:
        return [ids[i] for i, labels in enumerate(plan) if set(labels) & set(wanted)]

    assert await listed(client, agent, label=a) == having(a)  # not the hidden one
    assert await listed(client, agent, label=f"{a},{b}") == having(a, b)  # any, each once
    assert await listed(client, agent, label=f"{b}, {a},{b}") == having(a, b)
    assert await listed(client, agent, label=a, status="open") == having(a)[:2]
    assert await listed(client, agent, label=f"{a},{c}", assignee="me") == [ids[3], ids[5]]
    assert await listed(client, admin, label=a) == [hidden, *having(a)]  # the newest
    # Pages of one: the keyset cursor carries on within the filter.
    seen, cursor = [], None
    while True:
        params = {"label": f"{a},{b}", "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(URL, headers=agent.headers, params=params)).json()
        seen += [UUID(i["id"]) for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == having(a, b)
    unknown = "00000000-0000-0000-0000-000000000000"
    for bad in ("x", f"{a},", f"{a};{b}", unknown, ",".join([a] * 2 + [unknown])):
        res = await client.get(URL, headers=agent.headers, params={"label": bad})
        assert fields(problem(res, 422)) == {"label"}, bad


async def test_counts_per_label_follow_visibility_and_changes(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    a_div = await factories.division(ctx)
    b_div = await factories.division(ctx)
    supervisor = await actors.make("supervisor", divisions=[a_div])
    agent = await actors.make("agent", divisions=[a_div])
    colleague = await actors.make("agent", divisions=[a_div])
    vip = await label(client, admin, "VIP")
    bug = await label(client, admin, "Bug")
    cells = {
        "a_pool": (a_div, None),
        "a_mine": (a_div, agent),
        "a_colleague": (a_div, colleague),
        "none_pool": (None, None),
        "b_pool": (b_div, None),
        "b_mine": (b_div, agent),
    }
    cid = {}
    for name, (division, assignee) in cells.items():
        cid[name] = await factories.conversation(
            ctx, division_id=division, assigned_agent_id=assignee.id if assignee else None
        )
        await add(client, admin, cid[name], vip)
    done = await factories.conversation(ctx, division_id=a_div, status="resolved")
    await add(client, admin, done, vip)  # resolved: never counted
    await add(client, admin, cid["a_pool"], bug)

    async def counts(who: Agent) -> dict[str, int]:
        r = await client.get("/api/v1/labels/counts", headers=who.headers)
        assert r.status_code == 200 and r.json()["cap"] == 10_000, r.text
        names = {vip: "VIP", bug: "Bug"}
        return {names[i["label_id"]]: i["open"] for i in r.json()["items"]}

    assert await counts(admin) == {"Bug": 1, "VIP": 6}
    assert await counts(supervisor) == {"Bug": 1, "VIP": 4}  # a_* and none_pool
    assert await counts(agent) == {"Bug": 1, "VIP": 4}  # a_pool, a_mine, none_pool, b_mine
    # The counts follow a resolve, a transfer and an assignment (the trigger of 0027).
    await client.post(f"{URL}/{cid['a_mine']}/resolve", headers=agent.headers)
    await client.post(
        f"{URL}/{cid['a_pool']}/assign", headers=admin.headers, json={"agent_id": str(colleague.id)}
    )
    await client.post(
        f"{URL}/{cid['b_pool']}/transfer",
        headers=admin.headers,
        json={"division_id": str(a_div), "reason": "triage"},
    )
    assert await counts(admin) == {"Bug": 1, "VIP": 5}
    assert await counts(supervisor) == {"Bug": 1, "VIP": 4}  # lost a_mine, gained b_pool
    assert await counts(agent) == {"Bug": 0, "VIP": 3}  # none_pool, b_mine, b_pool
    async with ctx.pool.acquire() as conn:
        stale = await conn.fetchval(
            "SELECT count(*) FROM conversation_labels l JOIN conversations c "
            "ON c.id = l.conversation_id WHERE (l.status, l.division_id, l.assigned_agent_id) "
            "IS DISTINCT FROM (c.status, c.division_id, c.assigned_agent_id)"
        )
    assert stale == 0


async def test_a_deleted_label_leaves_every_conversation(
    client, ctx, actors: Actors, admin: Agent
) -> None:
    agent = await actors.make("agent")
    gone = await label(client, admin, "Gone")
    kept = await label(client, admin, "Kept")
    cids = [await factories.conversation(ctx) for _ in range(2)]
    for cid in cids:
        await add(client, agent, cid, gone)
    await add(client, agent, cids[0], kept)
    r = await client.patch(
        f"/api/v1/labels/{kept}", headers=admin.headers, json={"colour": "#00aa00"}
    )
    assert r.status_code == 200
    assert (await client.delete(f"/api/v1/labels/{gone}", headers=admin.headers)).status_code == 204
    page = (await client.get(URL, headers=agent.headers)).json()["items"]
    assert {i["id"]: i["labels"] for i in page} == {
        str(cids[0]): [{"id": kept, "name": "Kept", "colour": "#00aa00"}],  # renamed: as now
        str(cids[1]): [],
    }
    res = await client.get(URL, headers=agent.headers, params={"label": gone})
    assert fields(problem(res, 422)) == {"label"}
    counts = (await client.get("/api/v1/labels/counts", headers=agent.headers)).json()["items"]
    assert counts == [{"label_id": kept, "open": 1}]
    async with ctx.pool.acquire() as conn:
        event = await conn.fetchval("SELECT data FROM event_outbox WHERE type = 'label.deleted'")
        entry = await conn.fetchval(
            "SELECT metadata_json FROM activity_logs WHERE action = 'delete_label'"
        )
    assert event["label"]["name"] == "Gone" and event["conversations"] == 2
    assert entry == {"name": "Gone", "conversations": 2}


async def test_plans_of_the_label_filter_and_counts(ctx, actors: Actors) -> None:
    """On 20,000 conversations (analyzed), a common label on every 10th and a rare one on
    every 1000th: the filtered list never reads conversations sequentially, for an admin
    (one branch) and an agent (several), and the counts never read conversations."""
    d = await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d], login=False)
    contact = await factories.contact(ctx)
    async with ctx.pool.acquire() as conn:
        common, rare = [
            await conn.fetchval(
                "INSERT INTO labels (name, colour) VALUES ($1, '#123456') RETURNING id", n
            )
            for n in ("common", "rare")
        ]
        await conn.execute(
            """
            INSERT INTO conversations (contact_id, channel, division_id, assigned_agent_id,
                                       status, resolved_at, last_message_at)
            SELECT $1, 'whatsapp', CASE WHEN i % 3 = 0 THEN $2::uuid END,
                   CASE WHEN i % 7 = 0 THEN $3::uuid END,
                   CASE WHEN i % 50 = 0 THEN 'resolved' ELSE 'open' END,
                   CASE WHEN i % 50 = 0 THEN now() END, now() - make_interval(secs => i)
              FROM generate_series(1, 20000) i
            """,
            contact,
            d,
            agent.id,
        )
        await conn.execute(
            """
            INSERT INTO conversation_labels (conversation_id, label_id, status, division_id,
                                             assigned_agent_id)
            SELECT c.id, l.id, c.status, c.division_id, c.assigned_agent_id
              FROM (SELECT *, row_number() OVER (ORDER BY last_message_at) AS n
                      FROM conversations) c
              JOIN labels l ON (l.name = 'common' AND c.n % 10 = 0)
                            OR (l.name = 'rare' AND c.n % 1000 = 0)
            """
        )
        await conn.execute("ANALYZE conversations; ANALYZE conversation_labels")
    scopes = [
        Scope(role=Role.ADMIN, agent_id=agent.id, division_ids=frozenset()),
        Scope(role=Role.AGENT, agent_id=agent.id, division_ids=frozenset({d})),
    ]

    async def explain(sql: str, args: tuple[Any, ...]) -> str:
        async with ctx.pool.acquire() as conn:
            rows = await conn.fetch(f"EXPLAIN {sql}", *args)
        return "\n".join(r[0] for r in rows)

    for scope in scopes:
        for labels in ((common,), (rare,), (common, rare)):
            for status in ("open", None):
                f = queries.ListFilter(status=status, labels=labels, limit=51)
                async with ctx.pool.acquire() as conn:
                    first = await label_queries.few_rows(conn, scope, f)
                assert first  # at most 2,000 label rows (labels/queries.py FEW)
                for form in (True, False):  # the forms of the other orders
                    recorder = Recorder()
                    await queries.search(recorder, scope, replace(f, labels_first=form))  # type: ignore[arg-type]
                    found = await explain(recorder.sql, recorder.args)
                    assert "Seq Scan on conversations" not in found, (scope.role, labels, found)
                for g in (f, replace(f, channel="whatsapp")):  # last-message order (0033)
                    recorder = Recorder()
                    await label_list_queries.search(recorder, scope, g)  # type: ignore[arg-type]
                    found = await explain(recorder.sql, recorder.args)
                    assert "Seq Scan on conversation" not in found, (scope.role, g, found)
                    assert "Index Only Scan using conversation_labels_" in found or g.channel

        recorder = Recorder()
        await label_queries.counts(recorder, scope, 10_000)  # type: ignore[arg-type]
        found = await explain(recorder.sql, recorder.args)
        assert "on conversation_labels" in found and "on conversations" not in found, found
