"""Filters, one result per conversation, keyset pages (newest activity first), and the 4xx
answers naming the field."""

from __future__ import annotations

import httpx

from omnistream.context import AppContext
from tests import factories
from tests.conftest import Actors, Agent, fields, problem
from tests.search.support import at, conversation_ids, found, message, note, search


async def test_filters(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent, actors: Actors
) -> None:
    sales = await factories.division(ctx, "Sales")
    agent = (await actors.make("agent")).id
    budi = await factories.contact(ctx, name="Budi")
    wa = await factories.conversation(ctx, contact_id=budi, division_id=sales)
    ig = await factories.conversation(ctx, channel="instagram", status="resolved")
    mine = await factories.conversation(ctx, assigned_agent_id=agent)
    await message(ctx, wa, "paket belum sampai", minutes=10)
    await message(ctx, ig, "paket rusak", minutes=20)
    await note(ctx, mine, "paket dikirim ulang", minutes=30)

    assert conversation_ids(await found(client, admin, "paket")) == [str(mine), str(ig), str(wa)]
    assert conversation_ids(await found(client, admin, "paket", channel="instagram")) == [str(ig)]
    assert conversation_ids(await found(client, admin, "paket", status="resolved")) == [str(ig)]
    assert conversation_ids(await found(client, admin, "paket", division_id=sales)) == [str(wa)]
    assert conversation_ids(await found(client, admin, "paket", agent_id=agent)) == [str(mine)]
    assert conversation_ids(await found(client, admin, "paket", contact_id=budi)) == [str(wa)]
    # The range bounds the hits' times: [from, to).
    window = {"from": at(15).isoformat(), "to": at(30).isoformat()}
    assert conversation_ids(await found(client, admin, "paket", **window)) == [str(ig)]
    plus7 = at(10).astimezone().isoformat()  # any zone: the same instant
    assert str(wa) in conversation_ids(await found(client, admin, "paket", **{"from": plus7}))


async def test_one_result_per_conversation_and_keyset_pages(
    ctx: AppContext, client: httpx.AsyncClient, admin: Agent
) -> None:
    conversations = []
    for i in range(5):
        c = await factories.conversation(ctx, last_message_at=at(0))
        for j in range(3):  # several hits each: still one result
            await message(ctx, c, f"invoice {i}-{j}", minutes=10 * i + j)
        conversations.append(str(c))
    expected = conversations[::-1]  # newest activity first
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        r = await search(client, admin, "invoice", limit=2, cursor=cursor)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += conversation_ids(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected and pages == 3
    # The hit is each conversation's newest matching message.
    first = (await found(client, admin, "invoice", limit=1))[0]
    assert "<mark>invoice</mark> 4-2" == first["hit"]["snippet"]


async def test_bad_input_is_a_problem_naming_the_field(
    client: httpx.AsyncClient, admin: Agent
) -> None:
    for q in (None, "", "   ", "x" * 201):
        body = problem(await search(client, admin, q), 422)
        assert fields(body) == {"q"}, q
    body = problem(await search(client, admin, "a\x00b"), 422)
    assert fields(body) == {"q"}
    assert (await search(client, admin, "  " + "x" * 200 + "  ")).status_code == 200
    for name in ("from", "to"):
        body = problem(await search(client, admin, "x", **{name: "2026-03-02T09:00:00"}), 422)
        assert fields(body) == {name}
        body = problem(await search(client, admin, "x", **{name: "yesterday"}), 422)
        assert fields(body) == {name}
    body = problem(await search(client, admin, "x", limit=0), 422)
    assert fields(body) == {"limit"}
    body = problem(await search(client, admin, "x", channel="fax"), 422)
    assert fields(body) == {"channel"}
    body = problem(await search(client, admin, "x", agent_id="me"), 422)
    assert fields(body) == {"agent_id"}
    body = problem(await search(client, admin, "x", cursor="bm9wZQ"), 400)
    assert fields(body) == {"cursor"}
    assert (await client.get("/api/v1/search", params={"q": "x"})).status_code == 401
