"""The label-filtered list in last-message order (label_list_queries, migration 0033): on a
few thousand conversations whose labels, status, division, assignee, channel and unread count
vary, it answers page by page exactly what the conversations themselves say (every role, one
or several labels, with and without filters on the conversation), its copies follow every
change of a conversation (a message, a move, an assignment, a resolve) and a label added
later (its plans:
test_conversation_labels.py test_plans_of_the_label_filter_and_counts)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from omnistream.conversations import label_list_queries, queries
from omnistream.conversations.visibility import Scope
from omnistream.kit.enums import Role
from tests import factories
from tests.conftest import Actors

LABELS = ("red", "green", "blue")


async def _inbox(ctx: Any, actors: Actors) -> tuple[list[Scope], dict[str, UUID], UUID]:
    d1, d2 = await factories.division(ctx), await factories.division(ctx)
    agent = await actors.make("agent", divisions=[d1], login=False)
    other = await actors.make("agent", divisions=[d2], login=False)
    contact = await factories.contact(ctx)
    async with ctx.pool.acquire() as conn:
        labels = {
            n: await conn.fetchval(
                "INSERT INTO labels (name, colour) VALUES ($1, '#123456') RETURNING id", n
            )
            for n in LABELS
        }
        # 3,000 conversations; ties in last_message_at (every 5 share a second) test the keyset.
        await conn.execute(
            """
            INSERT INTO conversations (contact_id, channel, division_id, assigned_agent_id,
                                       status, resolved_at, last_message_at, unread_count)
            SELECT $1, CASE WHEN i % 4 = 0 THEN 'instagram' ELSE 'whatsapp' END,
                   CASE i % 3 WHEN 0 THEN $2::uuid WHEN 1 THEN $3::uuid END,
                   CASE i % 5 WHEN 0 THEN $4::uuid WHEN 1 THEN $5::uuid END,
                   CASE WHEN i % 6 = 0 THEN 'resolved' ELSE 'open' END,
                   CASE WHEN i % 6 = 0 THEN now() END,
                   now() - make_interval(secs => i / 5), i % 2
              FROM generate_series(1, 3000) i
            """,
            contact,
            d1,
            d2,
            agent.id,
            other.id,
        )
        rng = random.Random(17)
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM conversations")]
        rows = [
            (cid, labels[name])
            for cid in ids
            for name, share in zip(LABELS, (0.3, 0.1, 0.01), strict=True)
            if rng.random() < share
        ]
        # Only the two ids: the copies come from the conversation (0033's insert trigger).
        await conn.executemany(
            "INSERT INTO conversation_labels (conversation_id, label_id) VALUES ($1, $2)", rows
        )
        await conn.execute("ANALYZE conversations; ANALYZE conversation_labels")
    scopes = [
        Scope(role=Role.ADMIN, agent_id=agent.id, division_ids=frozenset()),
        Scope(role=Role.SUPERVISOR, agent_id=agent.id, division_ids=frozenset({d1})),
        Scope(role=Role.AGENT, agent_id=agent.id, division_ids=frozenset({d1})),
    ]
    return scopes, labels, d1


async def _expected(ctx: Any, scope: Scope, f: queries.ListFilter) -> list[UUID]:
    """The answer from the conversations' own columns: visible, filtered, newest first."""
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT c.id FROM conversations c
             WHERE EXISTS (SELECT 1 FROM conversation_labels l
                            WHERE l.conversation_id = c.id AND l.label_id = ANY($1::uuid[]))
               AND ($2::text IS NULL OR c.status = $2)
               AND ($3::text IS NULL OR c.channel = $3)
               AND (NOT $4 OR c.unread_count > 0)
               AND ($5 = 'admin'
                    OR ($5 = 'supervisor' AND (c.division_id = ANY($6) OR c.division_id IS NULL))
                    OR ($5 = 'agent' AND (c.assigned_agent_id = $7
                        OR (c.assigned_agent_id IS NULL
                            AND (c.division_id = ANY($6) OR c.division_id IS NULL)))))
             ORDER BY c.last_message_at DESC, c.id DESC
            """,
            list(f.labels),
            f.status,
            f.channel,
            f.unread_only,
            scope.role.value,
            sorted(scope.division_ids),
            scope.agent_id,
        )
    return [r["id"] for r in rows]


async def _paged(ctx: Any, scope: Scope, f: queries.ListFilter) -> list[UUID]:
    """Every page as the route reads them (limit + 1 rows, the cursor from the last shown)."""
    seen: list[UUID] = []
    after = None
    while True:
        async with ctx.pool.acquire() as conn:
            rows = await label_list_queries.list_page(
                conn, scope, replace(f, after=after, limit=f.limit + 1)
            )
        page = rows[: f.limit]
        seen += [r["id"] for r in page]
        if len(rows) <= f.limit:
            return seen
        after = (page[-1]["last_message_at"], page[-1]["id"])


async def test_pages_equal_the_conversations_own_answer(ctx, actors: Actors) -> None:
    scopes, labels, _ = await _inbox(ctx, actors)
    red, green, blue = (labels[n] for n in LABELS)
    variants = [
        queries.ListFilter(labels=(red,), limit=50),
        queries.ListFilter(labels=(blue,), status="open", limit=7),
        queries.ListFilter(labels=(green, blue), limit=40),
        queries.ListFilter(labels=(red, green), status="resolved", limit=25),
        queries.ListFilter(labels=(green,), channel="instagram", limit=30),  # the join form
        queries.ListFilter(labels=(red, blue), unread_only=True, status="open", limit=60),
    ]
    for scope in scopes:
        for f in variants:
            assert label_list_queries.applies(f)
            expected = await _expected(ctx, scope, f)
            assert expected, (scope.role, f)  # the data exercises every case
            assert await _paged(ctx, scope, f) == expected, (scope.role, f)


async def test_copies_follow_the_conversation(ctx, actors: Actors) -> None:
    scopes, labels, d1 = await _inbox(ctx, actors)
    admin, _, agent = scopes
    red = labels["red"]
    f = queries.ListFilter(labels=(red,), status="open", limit=20)
    async with ctx.pool.acquire() as conn:
        oldest = await conn.fetchval(
            """SELECT c.id FROM conversations c JOIN conversation_labels l
                   ON l.conversation_id = c.id AND l.label_id = $1
                WHERE c.status = 'open' AND c.division_id IS DISTINCT FROM $2
                ORDER BY c.last_message_at LIMIT 1""",
            red,
            d1,
        )
        unlabelled = await conn.fetchval(
            """SELECT id FROM conversations c WHERE status = 'open' AND NOT EXISTS
                   (SELECT 1 FROM conversation_labels l WHERE l.conversation_id = c.id)
                ORDER BY last_message_at LIMIT 1"""
        )
        # A new message brings it to the top; a move and an assignment make it the agent's.
        await conn.execute(
            "UPDATE conversations SET last_message_at = $2 WHERE id = $1",
            oldest,
            datetime.now(UTC) + timedelta(minutes=1),
        )
        await conn.execute(
            "UPDATE conversations SET division_id = $2, assigned_agent_id = $3 WHERE id = $1",
            oldest,
            d1,
            agent.agent_id,
        )
        # A label added later takes the conversation's current values.
        await conn.execute(
            "UPDATE conversations SET last_message_at = $2 WHERE id = $1",
            unlabelled,
            datetime.now(UTC) + timedelta(minutes=2),
        )
        await conn.execute(
            "INSERT INTO conversation_labels (conversation_id, label_id) VALUES ($1, $2)",
            unlabelled,
            red,
        )
    for scope in scopes:
        assert await _paged(ctx, scope, f) == await _expected(ctx, scope, f)
    async with ctx.pool.acquire() as conn:
        top = await label_list_queries.list_page(conn, admin, f)
        mine = await label_list_queries.list_page(conn, agent, replace(f, assignee="me"))
        await conn.execute(
            "UPDATE conversations SET status = 'resolved', resolved_at = now() WHERE id = $1",
            oldest,
        )
        after = await label_list_queries.list_page(conn, agent, replace(f, assignee="me"))
    assert [r["id"] for r in top[:2]] == [unlabelled, oldest]
    assert oldest in [r["id"] for r in mine] and oldest not in [r["id"] for r in after]
