"""The conversation list filtered by labels, newest message first (migration 0033).

conversation_labels carries each conversation's status, division, assignee and
last_message_at, and has one index per branch shape ordered by last_message_at. So each
(branch, label) is one range of one index read in the list's order up to the page's LIMIT,
whatever the label's share: a rare label no longer walks the whole branch probing for it, and
a common one no longer reads and sorts all of its rows.

Two forms. With no filter on the conversation's own columns (channel, unread, search,
priority, contact), the ranges read only the label rows (index-only), the page's ids are
merged, and just those conversations are fetched. With such filters, each range joins its
conversations and filters them as it goes (a walk, as the plain list does for them).
Other orders (created_at, SLA, priority) and the SLA filters keep queries.search's forms.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

import asyncpg

from omnistream.conversations import queries as q
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn
from omnistream.kit.enums import Priority
from omnistream.labels import queries as label_queries

ORDER = "last_message_at"


def applies(f: q.ListFilter) -> bool:
    """Whether this module lists `f` (else queries.search's forms do)."""
    return bool(f.labels) and f.sort == ORDER and not f.sla


def _filters_conversations(f: q.ListFilter) -> bool:
    return bool(f.channel or f.contact_id or f.unread_only or f.q or f.priorities)


def _keyset(f: q.ListFilter, p: q.Params) -> list[str]:
    if not f.after:
        return []
    return [
        f"(l.last_message_at, l.conversation_id) < "
        f"({p(f.after[0], '::timestamptz')}, {p(f.after[1], '::uuid')})"
    ]


def _priority(b: q.Branch) -> list[str]:
    return [] if b.priority is None else [f"c.priority = '{Priority(b.priority).value}'"]


async def search(conn: Conn, scope: Scope, f: q.ListFilter) -> list[asyncpg.Record]:
    branches = q.list_branches(scope, f)
    if not branches:
        return []
    p = q.Params()
    limit = str(int(f.limit))  # a literal: the planner sees how few rows each range needs
    keyset = _keyset(f, p)
    ranges = [(b, UUID(str(label))) for b in branches for label in dict.fromkeys(f.labels)]
    by_label_order = "ORDER BY l.last_message_at DESC, l.conversation_id DESC"
    if _filters_conversations(f):
        extra = q.extra_filters(f, p)
        parts = [
            f"(SELECT {q.ROW_COLUMNS} FROM conversation_labels l "
            "JOIN conversations c ON c.id = l.conversation_id WHERE "
            + " AND ".join([f"l.label_id = '{label}'::uuid", *b.sql(p, "l"), *_priority(b)])
            + "".join(f" AND {c}" for c in extra + keyset)
            + f" {by_label_order} LIMIT {limit})"
            for b, label in ranges
        ]
        # A conversation with two of the labels comes from two ranges: once on the page.
        page = (
            "SELECT DISTINCT ON (x.last_message_at, x.id) x.* "
            f"FROM ({' UNION ALL '.join(parts)}) x "
            f"ORDER BY x.last_message_at DESC, x.id DESC LIMIT {limit}"
        )
    else:
        parts = [
            "(SELECT l.conversation_id, l.last_message_at FROM conversation_labels l WHERE "
            + " AND ".join([f"l.label_id = '{label}'::uuid", *b.sql(p, "l"), *keyset])
            + f" {by_label_order} LIMIT {limit})"
            for b, label in ranges
        ]
        ids = (
            "SELECT DISTINCT ON (x.last_message_at, x.conversation_id) x.conversation_id "
            f"FROM ({' UNION ALL '.join(parts)}) x "
            f"ORDER BY x.last_message_at DESC, x.conversation_id DESC LIMIT {limit}"
        )
        page = (
            f"SELECT {q.ROW_COLUMNS} FROM ({ids}) t "
            "JOIN conversations c ON c.id = t.conversation_id"
        )
    sql = (
        f"SELECT {q.LIST_ITEM} FROM ({page}) u {q.LIST_JOINS}"
        f"ORDER BY u.last_message_at DESC, u.id DESC LIMIT {limit}"
    )
    return await conn.fetch(sql, *p.values)


async def list_page(conn: Conn, scope: Scope, f: q.ListFilter) -> list[asyncpg.Record]:
    """The list as the API answers it: this module's form when it applies, else queries.search
    (with a label filter, reading the label rows first when few are in view)."""
    if applies(f):
        return await search(conn, scope, f)
    if f.labels:
        f = replace(f, labels_first=await label_queries.few_rows(conn, scope, f))
    return await q.search(conn, scope, f)
