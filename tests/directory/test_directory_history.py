"""The two reads the web app needs beyond the inbox API: the directory of colleagues and
divisions (every role), and a conversation's history of changes (its system lines)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from omnistream.context import AppContext
from omnistream.db.pool import transaction
from omnistream.messages.ingest import NewInbound, ingest_inbound, ingest_many
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
    assert set(people[str(agent.id)]) == {
        "id",
        "name",
        "role",
        "presence",
        "division_ids",
    }  # no emails
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


def _inbound(phone: str, wamid: str, type: str = "text") -> NewInbound:
    content = {"text": "Halo lagi"} if type == "text" else {"emoji": "👍", "target_message_id": "x"}
    return NewInbound(
        channel="whatsapp",
        integration_account_id=None,
        contact=phone,
        profile_name="Ana",
        channel_message_id=wamid,
        type=type,
        content=content,
        occurred_at=datetime.now(UTC),
    )


async def _one_at_a_time(ctx: AppContext, item: NewInbound) -> None:
    async with transaction(ctx.pool) as tx:
        await ingest_inbound(
            tx,
            channel=item.channel,
            integration_account_id=item.integration_account_id,
            contact=item.contact,
            profile_name=item.profile_name,
            channel_message_id=item.channel_message_id,
            type=item.type,
            content=item.content,
            occurred_at=item.occurred_at,
        )


async def _in_a_batch(ctx: AppContext, item: NewInbound) -> None:
    async with transaction(ctx.pool) as tx:
        await ingest_many(tx, [item])


async def test_history_shows_a_reopen_by_the_customers_message(ctx, client, actors: Actors) -> None:
    """Both ingest paths keep the reopen in the audit trail (events are purged), once."""
    admin = await actors.make("admin")
    for n, ingest in enumerate((_one_at_a_time, _in_a_batch)):
        phone = f"62813111100{n}"
        contact = await factories.contact(ctx, phone=phone)
        conversation = await factories.conversation(ctx, contact_id=contact)
        base = f"/api/v1/conversations/{conversation}"
        r = await client.post(base + "/resolve", headers=admin.headers)
        assert r.status_code == 200, r.text
        if ingest is _one_at_a_time:  # a reaction reopens nothing (the batch takes none)
            await ingest(ctx, _inbound(phone, f"wamid.R{n}", type="reaction"))
        await ingest(ctx, _inbound(phone, f"wamid.A{n}"))
        await ingest(ctx, _inbound(phone, f"wamid.A{n}"))  # a redelivery: nothing more
        await ingest(ctx, _inbound(phone, f"wamid.B{n}"))  # open already: no second reopen

        r = await client.get(base + "/history", headers=admin.headers)
        assert r.status_code == 200, r.text
        entries = r.json()
        assert [e["action"] for e in entries] == ["resolved", "reopened"], ingest
        assert entries[0]["agent_id"] == str(admin.id)
        reopen = entries[1]
        assert reopen["agent_id"] is None and reopen["agent_name"] is None
        assert reopen["details"] == {"by": "customer", "contact_id": str(contact)}
        r = await client.get(base, headers=admin.headers)
        assert r.json()["status"] == "open"
    async with ctx.pool.acquire() as conn:
        customers: list[UUID] = await conn.fetchval(
            "SELECT array_agg(target_id) FROM activity_logs "
            "WHERE action = 'reopen_conversation' AND agent_id IS NULL"
        )
    assert len(customers) == 2
