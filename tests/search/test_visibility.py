"""Search sees what the inbox lets one open: a supervisor never gets another division's
hits, an agent only hits in conversations they may open (never a colleague's notes)."""

from __future__ import annotations

import httpx

from omnistream.context import AppContext
from tests import factories
from tests.conftest import Actors, Agent
from tests.search.support import conversation_ids, found, message, note


async def test_each_role_finds_only_what_it_may_open(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent, actors: Actors
) -> None:
    sales, ops = await factories.division(ctx, "Sales"), await factories.division(ctx, "Ops")
    supervisor = await actors.make("supervisor", divisions=[sales])
    agent = await actors.make("agent", divisions=[sales])
    colleague = await actors.make("agent", divisions=[sales])
    secret = await factories.contact(ctx, name="Rahasia Kontak", phone="6281111122222")

    mine = await factories.conversation(ctx, division_id=ops, assigned_agent_id=agent.id)
    pool = await factories.conversation(ctx, division_id=sales)
    nobody = await factories.conversation(ctx)
    theirs = await factories.conversation(ctx, division_id=sales, assigned_agent_id=colleague.id)
    other_division = await factories.conversation(ctx, division_id=ops, contact_id=secret)
    for i, c in enumerate((mine, pool, nobody, theirs, other_division)):
        await message(ctx, c, f"kode voucher {i}", minutes=i)
    await note(ctx, theirs, "janji transfer besok", minutes=9, by=colleague.id)
    await note(ctx, other_division, "janji diskon", minutes=9)

    everything = {str(c) for c in (mine, pool, nobody, theirs, other_division)}
    assert set(conversation_ids(await found(client, admin, "voucher"))) == everything
    assert set(conversation_ids(await found(client, supervisor, "voucher"))) == {
        str(pool),
        str(nobody),
        str(theirs),
    }
    assert set(conversation_ids(await found(client, agent, "voucher"))) == {
        str(mine),
        str(pool),
        str(nobody),
    }
    # Notes and contacts follow their conversation.
    assert conversation_ids(await found(client, agent, "janji")) == []
    assert conversation_ids(await found(client, supervisor, "janji")) == [str(theirs)]
    assert len(await found(client, admin, "janji")) == 2
    for who in (agent, supervisor):
        assert await found(client, who, "rahasia") == []
        assert await found(client, who, "22222") == []
    assert await found(client, supervisor, "voucher", division_id=ops) == []
    assert conversation_ids(await found(client, agent, "voucher", division_id=ops)) == [str(mine)]
    # Filters never widen what one sees.
    assert await found(client, agent, "voucher", agent_id=colleague.id) == []
    assert await found(client, supervisor, "voucher", contact_id=secret) == []

    # Taken by a colleague: it leaves the agent's results at once.
    async with ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE conversations SET assigned_agent_id = $2 WHERE id = $1", pool, colleague.id
        )
    assert str(pool) not in conversation_ids(await found(client, agent, "voucher"))
