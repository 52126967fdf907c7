"""Search rules: what a query means, which hit a conversation shows, and its snippet."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from omnistream.contacts.service import phone_patterns
from omnistream.conversations.service import list_item
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import Conn
from omnistream.kit.pagination import encode_cursor
from omnistream.search import queries
from omnistream.search.highlight import snippet
from omnistream.search.schemas import SearchHit, SearchResult

MAX_QUERY = 200  # characters, after trimming
MAX_WORDS = 16  # more words than this only narrow further; the rest is ignored
# Conversations `recent` probes before the indexes are read instead: a probe reads a
# conversation's messages (about 30 µs for 10 on the bench seed), so this bounds the walk
# to about 60 ms; words found in fewer than 1 in 40 conversations go to the indexes.
WINDOW = 2000
# Hits the indexes may hand over before the walk is preferred (see queries.indexed).
HITS_CAP = 20_000
# Contacts the trigram index may hand over before the walk is preferred: beyond, a
# contact in 500 or more matches, and a page of them is within the first 25,000
# conversations of the walk.
CONTACTS_CAP = 2_000
# The same for numbers beginning with a prefix ("0812" read as 62812…), which their own index
# gives without reading the contacts (about 3 µs each, then the conversation's 3 µs).
PHONE_PREFIX_CAP = 20_000
# Words in at least this share of messages are looked for by walking recent conversations
# first (a page is then within the first few hundred); rarer ones in the indexes first.
COMMON = 0.01
# A note's place in the message timeline: after every message of the same instant, so
# the messages list pages (created_at, id) before and after it around the note.
_LAST_ID = UUID(int=(1 << 128) - 1)


def tsquery(words: list[str]) -> str:
    """Every word as a prefix ('word':*), all required; quoted as tsquery's syntax wants."""
    quoted = ("'" + w.replace("\\", "\\\\").replace("'", "''") + "':*" for w in words)
    return " & ".join(quoted)


def like(word: str) -> str:
    """A LIKE pattern finding `word` anywhere, its own wildcards escaped."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _contact_word(lexeme: str) -> str:
    # The parser reads "+62812" and "-3456" as signed numbers; phones are stored as digits.
    return lexeme.lstrip("+-") if lexeme.lstrip("+-").isdigit() else lexeme


async def prepare(conn: Conn, q: str, region: str) -> queries.Query | None:
    """The query's words as the index holds them; None when it has none (only punctuation)."""
    words = (await queries.lexemes(conn, q))[:MAX_WORDS]
    if not words:
        return None
    # A number is read as the contacts search reads it: its digits anywhere in the contact
    # text, and "0812…" (a national trunk 0) as the start of stored numbers "62812…".
    patterns = phone_patterns(q, region)
    phones = sorted({p for p in patterns if p.startswith("%")})
    return queries.Query(
        terms=words,
        substrings=[like(w) for w in words],
        tsquery=tsquery(words),
        words=[like(_contact_word(w)) for w in words],
        phones=phones,
        prefixes=sorted({p for p in patterns if not p.startswith("%")}),
    )


async def search(
    conn: Conn,
    scope: Scope,
    query: queries.Query,
    f: queries.SearchFilter,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> tuple[list[SearchResult], tuple[datetime, UUID] | None]:
    """One page of results and the keyset of its last one when there are more."""
    found, rare = await _conversations(conn, scope, query, f, after, limit + 1)
    more = len(found) > limit
    found = found[:limit]
    rows = await queries.results(conn, scope, query, f, [r["id"] for r in found], rare=rare)
    out = [r for r in (_result(row, query) for row in rows) if r is not None]
    last = found[-1] if found else None
    return out, (last["last_message_at"], last["id"]) if more and last else None


def common(query: queries.Query, statistics: dict[str, float] | None) -> bool:
    """Whether the words are in at least COMMON of the messages (all of them together at
    most as often as the rarest; a prefix as often as the words it begins). Without
    statistics, assumed common: the walk's window bounds what that costs."""
    if statistics is None:
        return True
    share = min(
        sum(s for word, s in statistics.items() if word.startswith(term)) for term in query.terms
    )
    return share >= COMMON


async def _conversations(
    conn: Conn,
    scope: Scope,
    query: queries.Query,
    f: queries.SearchFilter,
    after: tuple[datetime, UUID] | None,
    n: int,
) -> tuple[list[asyncpg.Record], bool]:
    """The page's conversations: those with a hit in their messages or notes and those whose
    contact matches, each found the cheaper way for these words (docs/search.md), merged;
    and whether the texts' hits came from the index (rare words)."""
    texts, rare = await _by_texts(conn, scope, query, f, after, n)
    contacts = await _by_contact(conn, scope, query, f, after, n)
    merged = {r["id"]: r for r in [*texts, *contacts]}
    ordered = sorted(merged.values(), key=lambda r: (r["last_message_at"], r["id"]), reverse=True)
    return ordered[:n], rare


async def _by_texts(
    conn: Conn,
    scope: Scope,
    query: queries.Query,
    f: queries.SearchFilter,
    after: tuple[datetime, UUID] | None,
    n: int,
) -> tuple[list[asyncpg.Record], bool]:
    """Conversations with a hit in a message or note; True when read from the index."""
    if common(query, await queries.word_statistics(conn)):
        found = await queries.recent(conn, scope, query, f, after, n, WINDOW, "texts")
        if len(found) == n:
            return found, False
    # Rare words, or not a page within the window (rare among recent conversations).
    indexed = await queries.indexed(conn, scope, query, f, after, n, HITS_CAP, "texts")
    if indexed is not None:
        return indexed, True
    # Many hits, but few among recent conversations: the whole walk is the way left.
    return await queries.recent(conn, scope, query, f, after, n, None, "texts"), False


async def _by_contact(
    conn: Conn,
    scope: Scope,
    query: queries.Query,
    f: queries.SearchFilter,
    after: tuple[datetime, UUID] | None,
    n: int,
) -> list[asyncpg.Record]:
    """Contacts have no word statistics; the trigram index tells: up to CONTACTS_CAP
    matching contacts are read from it, more are walked to (a probe here is one contact
    row: a walk of 1M conversations finds one in 500 in about 50 ms)."""
    indexed = await queries.indexed(
        conn, scope, query, f, after, n, CONTACTS_CAP, "contact", PHONE_PREFIX_CAP
    )
    if indexed is not None:
        return indexed
    return await queries.recent(conn, scope, query, f, after, n, None, "contact")


def _result(row: asyncpg.Record, query: queries.Query) -> SearchResult | None:
    hit = _hit(row, query)
    return None if hit is None else SearchResult(conversation=list_item(row), hit=hit)


def _hit(row: asyncpg.Record, query: queries.Query) -> SearchHit | None:
    """The newest matching message or note; the contact when only it matches. None when
    nothing matches any more (changed since the conversations were picked)."""
    message_at, note_at = row["message_at"], row["note_at"]
    if message_at is not None and (note_at is None or message_at >= note_at):
        return SearchHit(
            kind="message",
            id=row["message_id"],
            created_at=message_at,
            snippet=snippet(row["message_text"], query.terms),
            message_cursor=encode_cursor(message_at, row["message_id"]),
        )
    if note_at is not None:
        return SearchHit(
            kind="note",
            id=row["note_id"],
            created_at=note_at,
            snippet=snippet(row["note_text"], query.terms),
            message_cursor=encode_cursor(note_at, _LAST_ID),
        )
    if row["contact_hit"]:
        fields = [row["contact_name"], row["contact_email"], row["contact_phone"]]
        marked = [_contact_word(w) for w in query.terms]
        marked += [p.strip("%") for p in query.phones + query.prefixes]
        return SearchHit(
            kind="contact",
            id=row["contact_id"],
            created_at=row["contact_created_at"],
            snippet=snippet(" · ".join(v for v in fields if v), marked, prefix=False),
        )
    return None
