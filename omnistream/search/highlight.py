"""Snippets: a hit's text, HTML-escaped, cut around the first match, with <mark> around
each match. Safe to insert as HTML: everything but our own <mark> tags is escaped.

Matching here mirrors the database's (docs/search.md), on text normalised the same way
(lower case, accents removed): messages and notes mark each word that begins with a query
word; contacts mark any occurrence of a query word or of the phone digits.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable

WINDOW = 180  # characters of a long text kept around its first match
LEAD = 50  # of which before the match


def _fold(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def normalise(text: str) -> tuple[str, list[int]]:
    """The folded text and, for each of its characters, the index of the original one."""
    out: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        folded = _fold(char)
        out.append(folded)
        origin.extend([i] * len(folded))
    return "".join(out), origin


def spans(text: str, words: Iterable[str], *, prefix: bool) -> list[tuple[int, int]]:
    """Merged (start, end) ranges of `text` to mark, in order."""
    folded, origin = normalise(text)
    found: list[tuple[int, int]] = []
    # Folded like the text: without unaccent the database hands the words over with their
    # accents (embedded pgserver), with it without; either way they meet the folded text.
    for word in {normalise(w)[0] for w in words if w}:
        if prefix:
            # The word starts a word of the text; the whole word is marked.
            pattern = re.compile(r"(?<![^\W_])" + re.escape(word) + r"[^\W_]*")
        else:
            pattern = re.compile(re.escape(word))
        for m in pattern.finditer(folded):
            if m.end() > m.start():
                found.append((origin[m.start()], origin[m.end() - 1] + 1))
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet(text: str, words: Iterable[str], *, prefix: bool = True) -> str:
    """HTML: the text (or WINDOW characters of it around the first match), escaped, with
    <mark>…</mark> around matches and … where it was cut."""
    text = " ".join(text.split())
    marks = spans(text, words, prefix=prefix)
    start, end = 0, len(text)
    if len(text) > WINDOW:
        first = marks[0][0] if marks else 0
        start = max(0, min(first - LEAD, len(text) - WINDOW))
        end = min(len(text), start + WINDOW)
        # Cut at spaces, not inside a word, when one is near.
        if start > 0:
            space = text.find(" ", start, first if marks else start + 20)
            start = space + 1 if space != -1 else start
        if end < len(text):
            space = text.rfind(" ", max(start, end - 20), end)
            end = space if space != -1 else end
    parts: list[str] = ["…"] if start > 0 else []
    at = start
    for mark_start, mark_end in marks:
        s, e = max(mark_start, start), min(mark_end, end)
        if s >= e:
            continue
        parts.append(html.escape(text[at:s]))
        parts.append(f"<mark>{html.escape(text[s:e])}</mark>")
        at = e
    parts.append(html.escape(text[at:end]))
    if end < len(text):
        parts.append("…")
    return "".join(parts)
