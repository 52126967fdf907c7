"""The two ways to a page (docs/search.md) give the same answer: walking recent
conversations and reading the indexes first, for each role, filter and page."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import httpx
import pytest

from omnistream.context import AppContext
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import transaction
from omnistream.kit.enums import Role
from omnistream.search import queries, service
from tests import factories
from tests.conftest import Actors, Agent
from tests.search.support import message, note, search

SOURCES: tuple[queries.Source, ...] = ("texts", "contact")


async def test_walk_and_indexes_agree(ctx: AppContext, actors: Actors) -> None:
    sales = await factories.division(ctx, "Sales")
    agent = await actors.make("agent", divisions=[sales], login=False)
    supervisor = await actors.make("supervisor", divisions=[sales], login=False)
    words = ["paket", "voucher", "paket voucher", "budi", "0812", "zzz"]
    for i in range(24):
        contact = await factories.contact(
            ctx, name=("Budi " if i % 5 == 0 else "Sari ") + str(i), phone=f"62812000{i:04d}"
        )
        c = await factories.conversation(
            ctx,
            contact_id=contact,
            division_id=sales if i % 3 else None,
            assigned_agent_id=agent.id if i % 4 == 0 else None,
            status="resolved" if i % 2 else "open",
        )
        await message(ctx, c, "paket " * (i % 2) + "voucher " * (i % 3 == 0), minutes=i)
        if i % 7 == 0:
            await note(ctx, c, "voucher paket", minutes=30 + i)
    scopes = [
        Scope(Role.ADMIN, agent.id, frozenset()),
        Scope(Role.SUPERVISOR, supervisor.id, frozenset({sales})),
        Scope(Role.AGENT, agent.id, frozenset({sales})),
    ]
    filters = [queries.SearchFilter(), queries.SearchFilter(status="open", division_id=sales)]
    async with transaction(ctx.pool) as tx:
        for word in words:
            query = await service.prepare(tx.conn, word, "ID")
            assert query is not None
            for scope in scopes:
                for f, source in [(f, s) for f in filters for s in SOURCES]:
                    after: tuple[datetime, UUID] | None = None
                    for _ in range(4):  # pages of 3
                        walked = await queries.recent(
                            tx.conn, scope, query, f, after, 4, None, source
                        )
                        read = await queries.indexed(
                            tx.conn, scope, query, f, after, 4, 1000, source
                        )
                        assert read is not None
                        assert [(r["id"], r["last_message_at"]) for r in walked] == [
                            (r["id"], r["last_message_at"]) for r in read
                        ], word
                        if len(walked) < 4:
                            break
                        after = (walked[2]["last_message_at"], walked[2]["id"])


@pytest.mark.parametrize("window", [1, 3, 2000])
async def test_pages_are_the_same_whatever_the_window(
    ctx: AppContext,
    client: httpx.AsyncClient,
    admin: Agent,
    window: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for i in range(7):
        c = await factories.conversation(ctx)
        await message(ctx, c, f"tagihan {i}" if i % 2 else "lain", minutes=i)
    monkeypatch.setattr(service, "WINDOW", window)
    monkeypatch.setattr(service, "HITS_CAP", 2)  # the indexes give up: the whole walk
    monkeypatch.setattr(service, "CONTACTS_CAP", 1)
    seen, cursor = [], None
    while True:
        body = (await search(client, admin, "tagihan", limit=1, cursor=cursor)).json()
        seen += [i["hit"]["snippet"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [f"<mark>tagihan</mark> {i}" for i in (5, 3, 1)]
