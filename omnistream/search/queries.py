"""SQL of search (docs/search.md): which visible conversations match, newest activity
first, and each one's best hit.

Three sources can make a conversation match: one of its messages (text, body or caption),
one of its internal notes, or its contact (name, email, phone). Messages and notes match
when every query word begins a word of theirs (`simple` full text, prefix queries); the
contact when every word is a substring of its name / email / phone (trigram index).

Two ways to the same page, chosen by the service for texts (messages and notes) and for
contacts apart, then merged (docs/search.md): `recent` walks the newest visible
conversations in inbox order and probes each one, stopping at a page: cheap when the words
are common, and bounded by a window when they are not; `indexed` reads every hit from the
indexes first, then sorts the visible conversations: cheap when the words are rare. The
planner is not left to choose: its estimate for a prefix query or a word missing from the
statistics can be off by a factor of a hundred or more, and the wrong choice walked all 1M
conversations (98 s) on the bench seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg

from omnistream.conversations.queries import LIST_ITEM, LIST_JOINS, ROW_COLUMNS
from omnistream.conversations.visibility import Scope, visible_sql
from omnistream.db.pool import Conn
from omnistream.kit.enums import ConversationStatus

# The indexed expressions, written exactly as migration 0022 indexes them.
MESSAGE_TEXT = "message_search_text(m.content)"
MESSAGE_MATCH = "m.content ?| ARRAY['text', 'body', 'caption'] AND search_vector({text}) @@ {q}"
NOTE_MATCH = "search_vector(n.body) @@ {q}"
CONTACT_TEXT = "contact_search_text(k.name, k.email, k.phone)"
STATUSES = tuple(ConversationStatus)
Source = Literal["texts", "contact"]  # messages and notes, or the contact's fields


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
    substrings: list[str]  # LIKE patterns: each term anywhere (a message's prefilter)
    tsquery: str  # 'word':* & 'other':* (tsquery syntax, lexemes quoted)
    words: list[str]  # LIKE patterns on the contact text, all must match
    phones: list[str]  # LIKE patterns on the contact text, any may match (phone digits)
    prefixes: list[str]  # LIKE patterns on the stored phone, any may match ("62812%")


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
    """How this transaction's statements are planned (all end with it):
    - for the values at hand: a generic plan would not know whether a word is common or
      rare, which is the whole choice;
    - nested loops only: every statement here is a walk that stops early or an index probe
      per hit; a hash join, chosen on a misestimate, read all 1M conversations (3 s for a
      walk that needs 6,000) or all of them again after the hits (220 ms);
    - no parallel workers: starting them cost 20-30 ms of a 50-100 ms walk on the 2-core
      bench machine, and a search is one user waiting among many."""
    await conn.execute(
        "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_hashjoin = off; "
        "SET LOCAL enable_mergejoin = off; SET LOCAL max_parallel_workers_per_gather = 0"
    )


async def word_statistics(conn: Conn) -> dict[str, float] | None:
    """The most common words of messages and the share of messages holding each, from
    ANALYZE's statistics of the index (None without them: never analysed)."""
    row = await conn.fetchrow(
        "SELECT most_common_elems::text::text[] AS words, most_common_elem_freqs AS shares "
        "FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'messages_search_idx'"
    )
    if row is None or row["words"] is None:
        return None
    return dict(zip(row["words"], row["shares"], strict=False))


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


def contact_match(
    query: Query, a: _Args, text: str = CONTACT_TEXT, phone: str | None = "k.phone"
) -> str:
    """The contact matches: every word in its text, or the phone digits in it, or its phone
    begins with a prefix (`phone` None: leave the prefixes out)."""
    # One LIKE per pattern (each can use the trigram index), none twice: every one is
    # evaluated again on each row the index hands over.
    words = " AND ".join(f"{text} LIKE {a(w)}" for w in query.words) or "false"
    phones = "".join(f" OR {text} LIKE {a(p)}" for p in query.phones if p not in query.words)
    if phone:
        phones += "".join(f" OR {phone} LIKE {a(p)}" for p in query.prefixes)
    return f"(({words}){phones})"


def _probes(query: Query, f: SearchFilter, a: _Args, source: Source) -> str:
    """Conversation `c` has a hit of this source: a message or note ("texts"), or its
    contact (whose fields the walk joined). Each probe runs per conversation (OFFSET 0 keeps
    PostgreSQL from turning it into one hashed scan of every hit, which its estimate for
    prefix queries can make look cheap: 4,000 rows estimated, 500,000 read). A message is
    first tested for the words as substrings of its normalised text (about 2 µs), a
    necessary condition, and only then parsed into words (about 8 µs)."""
    if source == "contact":
        text = "contact_search_text(c.k_name, c.k_email, c.k_phone)"
        return f"({contact_match(query, a, text, 'c.k_phone')}{_active(f, a)})"
    q = a(query.tsquery, "::tsquery")
    messages = (
        "EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND "
        f"search_norm({MESSAGE_TEXT}) LIKE ALL({a(query.substrings, '::text[]')}) AND "
        + MESSAGE_MATCH.format(text=MESSAGE_TEXT, q=q)
        + _hit_range("m.created_at", f, a)
        + " OFFSET 0)"
    )
    notes = (
        "EXISTS (SELECT 1 FROM conversation_notes n WHERE n.conversation_id = c.id AND "
        + NOTE_MATCH.format(q=q)
        + _hit_range("n.created_at", f, a)
        + " OFFSET 0)"
    )
    return f"({messages} OR {notes})"


def _active(f: SearchFilter, a: _Args) -> str:
    # A contact is no event in time: with a range, its conversations count when they were
    # active in it (opened before its end, last message at or after its start).
    active = ""
    if f.since:
        active += f" AND c.last_message_at >= {a(f.since, '::timestamptz')}"
    if f.until:
        active += f" AND c.created_at < {a(f.until, '::timestamptz')}"
    return active


def _conversation_filters(
    scope: Scope, f: SearchFilter, after: tuple[datetime, UUID] | None, a: _Args
) -> list[str]:
    """Visible (the inbox rule, in SQL), the filters asked for, after the cursor."""
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
    if after:
        t, i = a(after[0], "::timestamptz"), a(after[1], "::uuid")
        conds.append(f"(c.last_message_at, c.id) < ({t}, {i})")
    return conds


async def recent(
    conn: Conn,
    scope: Scope,
    query: Query,
    f: SearchFilter,
    after: tuple[datetime, UUID] | None,
    limit: int,
    window: int | None,
    source: Source,
) -> list[asyncpg.Record]:
    """Conversations with a hit of `source` among the `window` newest visible ones after
    the cursor (None: all of them), newest first: read in inbox order (the status indexes,
    merged), each probed, until `limit` match. Common words fill a page within the first
    conversations; the window bounds what rare ones cost here."""
    a = _Args()
    common = " AND ".join(_conversation_filters(scope, f, after, a))
    cap = f" LIMIT {a(window, '::int')}" if window else ""
    statuses = [f.status] if f.status else list(STATUSES)
    walks = " UNION ALL ".join(
        f"(SELECT c.* FROM conversations c WHERE c.status = {a(status)} AND {common} "
        f"ORDER BY c.last_message_at DESC, c.id DESC{cap})"
        for status in statuses
    )
    contact = (
        ", k.name AS k_name, k.email AS k_email, k.phone AS k_phone" if source == "contact" else ""
    )
    join = " JOIN contacts k ON k.id = u.contact_id" if source == "contact" else ""
    sql = f"""
        SELECT c.id, c.last_message_at
          FROM (SELECT u.*{contact} FROM ({walks}) u{join}
                 ORDER BY u.last_message_at DESC, u.id DESC{cap}) c
         WHERE {_probes(query, f, a, source)}
         ORDER BY c.last_message_at DESC, c.id DESC
         LIMIT {a(limit, "::int")}
    """
    return await conn.fetch(sql, *a.values)


async def indexed(
    conn: Conn,
    scope: Scope,
    query: Query,
    f: SearchFilter,
    after: tuple[datetime, UUID] | None,
    limit: int,
    cap: int,
    source: Source,
    prefix_cap: int | None = None,
) -> list[asyncpg.Record] | None:
    """The same answer read from the indexes first: every conversation with a hit of
    `source` (GIN on messages and notes, trigram on contacts), then the visible ones,
    sorted. Cheap when the words are rare. None when there are `cap` hits or more: then the
    walk is the cheaper way (reading a common word's hits costs seconds: its bitmap no
    longer fits work_mem and every row of its pages is parsed again). Phone prefixes are
    read apart, up to `prefix_cap` (default `cap`): their index gives the contact ids
    without the table."""
    prefix_cap = cap if prefix_cap is None else prefix_cap
    a = _Args()
    n_cap = a(cap, "::int")
    statuses = [f.status] if f.status else list(STATUSES)
    if source == "texts":
        q = a(query.tsquery, "::tsquery")
        m_range, n_range = _hit_range("m.created_at", f, a), _hit_range("n.created_at", f, a)
        common = " AND ".join(_conversation_filters(scope, f, after, a))
        sql = f"""
            WITH hit AS MATERIALIZED (
                SELECT m.conversation_id AS id FROM messages m
                 WHERE {MESSAGE_MATCH.format(text=MESSAGE_TEXT, q=q)} {m_range}
                UNION ALL
                SELECT n.conversation_id FROM conversation_notes n
                 WHERE {NOTE_MATCH.format(q=q)} {n_range}
                LIMIT {n_cap})
            SELECT c.id, c.last_message_at, (SELECT count(*) FROM hit) >= {n_cap} AS capped
              FROM (SELECT DISTINCT id FROM hit) h JOIN conversations c ON c.id = h.id
             WHERE c.status = ANY({a(statuses, "::text[]")}) AND {common}
             ORDER BY c.last_message_at DESC, c.id DESC
             LIMIT {a(limit, "::int")}
        """
    else:
        # The conversations' columns the filters read come along with the hits, so each
        # conversation is read once (7,900 for 0812 on the seed).
        columns = (
            "c.id, c.status, c.channel, c.division_id, c.assigned_agent_id, c.contact_id, "
            "c.last_message_at, c.created_at"
        )
        join = "FROM contacts k JOIN conversations c ON c.contact_id = k.id"
        active = _active(f, a)
        # One statement per prefix: a btree range each (LIKE ANY would not use the index).
        prefixed = (
            " UNION ALL ".join(
                f"(SELECT {columns} {join} WHERE k.phone LIKE {a(p)} {active} "
                f"LIMIT {a(prefix_cap, '::int')})"
                for p in query.prefixes
            )
            or f"SELECT {columns} FROM conversations c WHERE false"
        )
        common = " AND ".join(_conversation_filters(scope, f, after, a))
        sql = f"""
            WITH hit AS MATERIALIZED (
                SELECT {columns} {join}
                 WHERE {contact_match(query, a, phone=None)} {active} LIMIT {n_cap}),
                 prefixed AS MATERIALIZED ({prefixed})
            SELECT DISTINCT c.id, c.last_message_at,
                   (SELECT count(*) FROM hit) >= {n_cap}
                   OR (SELECT count(*) FROM prefixed) >= {a(prefix_cap, "::int")} AS capped
              FROM (SELECT * FROM hit UNION ALL SELECT * FROM prefixed) c
             WHERE c.status = ANY({a(statuses, "::text[]")}) AND {common}
             ORDER BY c.last_message_at DESC, c.id DESC
             LIMIT {a(limit, "::int")}
        """
    rows = await conn.fetch(sql, *a.values)
    return None if rows and rows[0]["capped"] else rows


async def results(
    conn: Conn, scope: Scope, query: Query, f: SearchFilter, ids: list[UUID], *, rare: bool
) -> list[asyncpg.Record]:
    """The conversations as the inbox lists them, in the order of `ids`, each with its
    newest matching message and note and whether its contact matches. Visibility is checked
    again: a conversation moved away since they were found is left out. Each conversation's
    messages are read newest first until one matches; when the words are `rare` (they came
    from the index), from the index instead: the match in a conversation of 10,000 messages
    can be its oldest (110-160 ms read newest first, 5 ms from the index)."""
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
    match = f"{MESSAGE_MATCH.format(text=MESSAGE_TEXT, q=q)} {message_range}"
    hits = ""
    if rare:
        # Every hit, from the index (fewer than service.HITS_CAP: that is what made them
        # rare), then this page's: with the conversations named inside, PostgreSQL read the
        # 10,000 messages of the big one through its timeline index instead.
        hits = f"""WITH hit AS MATERIALIZED (
                SELECT m.conversation_id, m.id, m.created_at, {MESSAGE_TEXT} AS text
                  FROM messages m WHERE {match})"""
        newest_message = f"""(
                SELECT DISTINCT ON (conversation_id) * FROM hit
                 WHERE conversation_id = ANY({ids_ref})
                 ORDER BY conversation_id, created_at DESC, id DESC) mh
                ON mh.conversation_id = x.id"""
    else:
        prefilter = f"search_norm({MESSAGE_TEXT}) LIKE ALL({a(query.substrings, '::text[]')})"
        newest_message = f"""LATERAL (
                SELECT m.id, m.created_at, {MESSAGE_TEXT} AS text FROM messages m
                 WHERE m.conversation_id = x.id AND {prefilter} AND {match}
                 ORDER BY m.created_at DESC, m.id DESC LIMIT 1) mh ON true"""
    sql = f"""{hits}
        SELECT {LIST_ITEM},
               mh.id AS message_id, mh.created_at AS message_at, mh.text AS message_text,
               nh.id AS note_id, nh.created_at AS note_at, nh.body AS note_text,
               ({contact_hit}) AS contact_hit, k.created_at AS contact_created_at
          FROM unnest({ids_ref}) WITH ORDINALITY AS x(id, ord)
          JOIN LATERAL (SELECT {ROW_COLUMNS} FROM conversations c
                         WHERE c.id = x.id AND {visible}) u ON true
          {LIST_JOINS}
          LEFT JOIN {newest_message}
          LEFT JOIN LATERAL (
                SELECT n.id, n.created_at, n.body FROM conversation_notes n
                 WHERE n.conversation_id = x.id AND {NOTE_MATCH.format(q=q)} {note_range}
                 ORDER BY n.created_at DESC, n.id DESC LIMIT 1) nh ON true
         ORDER BY x.ord
    """
    if not rare:
        return await conn.fetch(sql, *a.values)
    # The hits from their index, never a scan of all messages on a misestimate.
    await conn.execute("SET LOCAL enable_seqscan = off")
    rows = await conn.fetch(sql, *a.values)
    await conn.execute("SET LOCAL enable_seqscan = on")
    return rows
