"""SQL of search (docs/search.md): which visible conversations match, newest activity
first, and each one's best hit.

Three sources can make a conversation match: one of its messages (text, body or caption),
one of its internal notes, or its contact (name, email, phone). Messages and notes match
when every query word begins a word of theirs (`simple` full text, prefix queries); the
contact when every word is a substring of its name / email / phone (trigram index).

The shape is chosen for the planner. Each source is its own subquery, per status, ordered
like the inbox by (last_message_at, id) with a LIMIT, so for each one PostgreSQL picks
between walking conversations newest first and probing each (cheap when the words are
common: a page is found in the first conversations) and reading the GIN index first
(cheap when they are rare). One OR over the sources would leave it no such choice. The
tsquery and patterns are parameters of a custom plan (plan_cache_mode), so the choice
sees the words' frequencies in the index statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.conversations.queries import COLUMNS, LIST_ITEM, LIST_JOINS
from omnistream.conversations.visibility import Scope, visible_sql
from omnistream.db.pool import Conn

# The indexed expressions, written exactly as migration 0022 indexes them.
MESSAGE_TEXT = "message_search_text(m.content)"
MESSAGE_MATCH = "m.content ?| ARRAY['text', 'body', 'caption'] AND search_vector({text}) @@ {q}"
NOTE_MATCH = "search_vector(n.body) @@ {q}"
CONTACT_TEXT = "contact_search_text(k.name, k.email, k.phone)"
STATUSES = ("open", "resolved")


@dataclass(frozen=True)
class SearchFilter:
    channel: str | None = None
    status: str | None = None
    division_id: UUID | None = None
    agent_id: UUID | None = None  # the assignee
    contact_id: UUID | None = None
    since: datetime | None = None  # hits written at or after
    until: datetime | None = None  # hits written before


@dataclass(frozen=True)
class Query:
    """What to look for, prepared by the service."""

    terms: list[str]  # the query's words as the index holds them
    tsquery: str  # 'word':* & 'other':* (tsquery syntax, lexemes quoted)
    words: list[str]  # LIKE patterns on the contact text, all must match
    phones: list[str]  # LIKE patterns, any may match (a phone number or a fragment)


class _Args:
    """Positional parameters of a statement built here."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def number(self, value: object) -> int:
        self.values.append(value)
        return len(self.values)

    def __call__(self, value: object, cast: str = "") -> str:
        return f"${self.number(value)}{cast}"


async def custom_plans(conn: Conn) -> None:
    """Plans made for the values at hand: a generic plan would not know whether a word is
    common or rare, which is the whole choice (the statement's transaction ends it)."""
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")


async def lexemes(conn: Conn, q: str) -> list[str]:
    """The query's words as the index holds them (same parser and normalisation)."""
    words: list[str] = await conn.fetchval(
        "SELECT coalesce(array_agg(lexeme ORDER BY lexeme), '{}') FROM unnest(search_vector($1))",
        q,
    )
    return words


def _hit_range(column: str, f: SearchFilter, a: _Args) -> str:
    conds = []
    if f.since:
        conds.append(f" AND {column} >= {a(f.since, '::timestamptz')}")
    if f.until:
        conds.append(f" AND {column} < {a(f.until, '::timestamptz')}")
    return "".join(conds)


def contact_match(query: Query, a: _Args) -> str:
    words = " AND ".join(f"{CONTACT_TEXT} LIKE {a(w)}" for w in query.words) or "false"
    phones = "".join(f" OR {CONTACT_TEXT} LIKE {a(p)}" for p in query.phones)
    return f"(({words}){phones})"


def _sources(query: Query, f: SearchFilter, a: _Args) -> list[str]:
    q = a(query.tsquery, "::tsquery")
    messages = (
        "EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND "
        + MESSAGE_MATCH.format(text=MESSAGE_TEXT, q=q)
        + _hit_range("m.created_at", f, a)
        + ")"
    )
    notes = (
        "EXISTS (SELECT 1 FROM conversation_notes n WHERE n.conversation_id = c.id AND "
        + NOTE_MATCH.format(q=q)
        + _hit_range("n.created_at", f, a)
        + ")"
    )
    # A contact is no event in time: with a range, its conversations count when they were
    # active in it (opened before its end, last message at or after its start).
    active = ""
    if f.since:
        active += f" AND c.last_message_at >= {a(f.since, '::timestamptz')}"
    if f.until:
        active += f" AND c.created_at < {a(f.until, '::timestamptz')}"
    contact = (
        "EXISTS (SELECT 1 FROM contacts k WHERE k.id = c.contact_id AND "
        f"{contact_match(query, a)}){active}"
    )
    return [messages, notes, contact]


def _conversation_filters(scope: Scope, f: SearchFilter, a: _Args) -> list[str]:
    role, me, divisions = scope.params()
    conds = [visible_sql("c", a.number(role), a.number(me), a.number(divisions))]
    if f.channel:
        conds.append(f"c.channel = {a(f.channel)}")
    if f.division_id:
        conds.append(f"c.division_id = {a(f.division_id, '::uuid')}")
    if f.agent_id:
        conds.append(f"c.assigned_agent_id = {a(f.agent_id, '::uuid')}")
    if f.contact_id:
        conds.append(f"c.contact_id = {a(f.contact_id, '::uuid')}")
    return conds


async def matching(
    conn: Conn,
    scope: Scope,
    query: Query,
    f: SearchFilter,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Visible conversations with a hit, newest activity first: (id, last_message_at)."""
    a = _Args()
    common = _conversation_filters(scope, f, a)
    if after:
        t, i = a(after[0], "::timestamptz"), a(after[1], "::uuid")
        common.append(f"(c.last_message_at, c.id) < ({t}, {i})")
    n = a(limit, "::int")
    sources = _sources(query, f, a)
    statuses = [f.status] if f.status else list(STATUSES)
    parts = [
        f"(SELECT c.id, c.last_message_at FROM conversations c "
        f"WHERE c.status = {a(status)} AND {' AND '.join([*common, source])} "
        f"ORDER BY c.last_message_at DESC, c.id DESC LIMIT {n})"
        for status in statuses
        for source in sources
    ]
    sql = (
        f"SELECT id, last_message_at FROM ({' UNION ALL '.join(parts)}) u "
        f"GROUP BY id, last_message_at ORDER BY last_message_at DESC, id DESC LIMIT {n}"
    )
    return await conn.fetch(sql, *a.values)


async def results(
    conn: Conn, scope: Scope, query: Query, f: SearchFilter, ids: list[UUID]
) -> list[asyncpg.Record]:
    """The conversations as the inbox lists them, in the order of `ids`, each with its
    newest matching message and note and whether its contact matches. Visibility is checked
    again: a conversation moved away since `matching` is left out."""
    a = _Args()
    ids_ref = a(ids, "::uuid[]")
    role, me, divisions = scope.params()
    visible = visible_sql("c", a.number(role), a.number(me), a.number(divisions))
    q = a(query.tsquery, "::tsquery")
    message_range, note_range = _hit_range("m.created_at", f, a), _hit_range("n.created_at", f, a)
    contact_hit = contact_match(query, a)
    if f.since:
        contact_hit += f" AND u.last_message_at >= {a(f.since, '::timestamptz')}"
    if f.until:
        contact_hit += f" AND u.created_at < {a(f.until, '::timestamptz')}"
    sql = f"""
        SELECT {LIST_ITEM},
               mh.id AS message_id, mh.created_at AS message_at, mh.text AS message_text,
               nh.id AS note_id, nh.created_at AS note_at, nh.body AS note_text,
               ({contact_hit}) AS contact_hit, k.created_at AS contact_created_at
          FROM unnest({ids_ref}) WITH ORDINALITY AS x(id, ord)
          JOIN LATERAL (SELECT {COLUMNS} FROM conversations c
                         WHERE c.id = x.id AND {visible}) u ON true
          {LIST_JOINS}
          LEFT JOIN LATERAL (
                SELECT m.id, m.created_at, {MESSAGE_TEXT} AS text FROM messages m
                 WHERE m.conversation_id = x.id AND {MESSAGE_MATCH.format(text=MESSAGE_TEXT, q=q)}
                       {message_range}
                 ORDER BY m.created_at DESC, m.id DESC LIMIT 1) mh ON true
          LEFT JOIN LATERAL (
                SELECT n.id, n.created_at, n.body FROM conversation_notes n
                 WHERE n.conversation_id = x.id AND {NOTE_MATCH.format(q=q)} {note_range}
                 ORDER BY n.created_at DESC, n.id DESC LIMIT 1) nh ON true
         ORDER BY x.ord
    """
    return await conn.fetch(sql, *a.values)
