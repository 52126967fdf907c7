"""Survey answers arriving as inbound messages (called by messages/ingest.py, both paths).

Which inbound messages answer a survey, in the order they arrive:
- a tap: a WhatsApp list / button reply whose id, or a Messenger / Instagram quick reply (or
  WhatsApp button) whose payload, is `csat:<survey id>:<score>`, for a survey of the same
  conversation. The first answer wins: a survey that is answered (or expired, or failed)
  keeps its score, but the tap is still taken (it never reopens the conversation);
- in a resolved conversation, a text that is just a digit 1-5 within 24 hours of a survey
  not answered yet (answered_via 'text');
- on email, a reply to the survey whose first line is the score (a digit 1-5, alone or
  followed by a label: "4", "4.", "5/5", "5 - Excellent") while the survey is open (7 days):
  only the newest part of the mail counts (its trimmed `preview`, never the quoted survey
  below it, which lists every score), and the lines after the score are the feedback;
- in a resolved conversation, the first text within FEEDBACK_MINUTES after a score given by
  a tap or a text: the survey's feedback (at most FEEDBACK_MAX characters; longer is cut).
A message taken here does not reopen its resolved conversation, and the SLA consumer does
not count it (its conversation is still resolved in message.created). Anything else in a
resolved conversation reopens it as always. A new score sends the thanks text (with the
invitation to add feedback) as a pending message from nobody.

Open conversations cost nothing extra: only a `csat:` reply id leads to a query there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.conversations import queries as conversation_queries
from omnistream.csat import queries, service
from omnistream.csat.schemas import FEEDBACK_MAX
from omnistream.db.pool import Conn
from omnistream.events.outbox import Draft, emit_many
from omnistream.kit.enums import Channel
from omnistream.messages.enums import MessageType

FEEDBACK_MINUTES = 10
TEXT_SCORE_HOURS = 24
SCORES = ("1", "2", "3", "4", "5")
# An email's first line that is a score: the digit, maybe "." "!" ")" or "/5" after it, or a
# label after a dash or colon ("5 - Excellent", as the survey lists them).
_EMAIL_SCORE = re.compile(r"([1-5])\s*(?:[.!)]|/\s*5|\s[-\u2013\u2014:]\s*\S.*|:\s*\S.*)?")


def survey_reply(kind: str, content: Any) -> tuple[UUID, int] | None:
    """(survey id, score) of a tap on a survey's choice, else None."""
    if kind == MessageType.INTERACTIVE:
        value = content.get("id")
    elif kind == MessageType.BUTTON:
        value = content.get("payload")
    else:
        return None
    if not isinstance(value, str) or not value.startswith(service.REPLY_PREFIX):
        return None
    parts = value.split(":")
    if len(parts) != 3 or parts[2] not in SCORES:
        return None
    try:
        return UUID(parts[1]), int(parts[2])
    except ValueError:
        return None


@dataclass(slots=True)
class Taken:
    """What take() found: the messages that answered (no reopen), the events to write and
    the surveys that got a new score (a thanks message each)."""

    message_ids: set[UUID] = field(default_factory=set)
    changed: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    scored: list[UUID] = field(default_factory=list)


def _text(row: asyncpg.Record) -> str | None:
    """A text that may answer a survey: not an automatic answer (an email auto-reply, e.g.
    an out-of-office notice to the survey mail, is no score and no feedback). Of an email,
    its newest part (`preview`: quoted history and signature trimmed)."""
    content = row["content"]
    if row["type"] != MessageType.TEXT or content.get("auto_reply") is True:
        return None
    text = content.get("text")
    if row["channel"] == Channel.EMAIL and isinstance(content.get("preview"), str):
        text = content["preview"]
    return text.strip() if isinstance(text, str) and text.strip() else None


def _typed_score(row: asyncpg.Record, text: str) -> tuple[int, str | None] | None:
    """(score, feedback) of a typed answer: the text is the digit alone; an email's first
    line is the score and the lines after it, if any, the feedback."""
    if row["channel"] != Channel.EMAIL:
        return (int(text), None) if text in SCORES else None
    first, _, rest = text.partition("\n")
    found = _EMAIL_SCORE.fullmatch(first.strip())
    if found is None:
        return None
    return int(found[1]), rest.strip()[:FEEDBACK_MAX] or None


def _score_window(row: asyncpg.Record) -> timedelta | None:
    """How long after the survey a typed score counts: email, while the survey is open
    (mail is answered in days, not minutes); the other channels 24 hours."""
    return None if row["channel"] == Channel.EMAIL else timedelta(hours=TEXT_SCORE_HOURS)


async def take(conn: Conn, rows: list[asyncpg.Record], resolved: set[UUID]) -> Taken:
    """Record the answers among newly stored inbound `rows` (in arrival order); `resolved`:
    the ids of their conversations that were resolved. Writes the surveys; the caller skips
    the reopen of taken messages and then calls finish()."""
    taken = Taken()
    taps = {r["id"]: t for r in rows if (t := survey_reply(r["type"], r["content"])) is not None}
    texts = [r for r in rows if r["conversation_id"] in resolved and _text(r) is not None]
    if not taps and not texts:
        return taken
    found = await queries.open_surveys(
        conn,
        sorted({t[0] for t in taps.values()}),
        sorted({r["conversation_id"] for r in texts}),
    )
    surveys = {s["id"]: dict(s) for s in found}
    for row in rows:
        tap = taps.get(row["id"])
        if tap is not None:
            survey = surveys.get(tap[0])
            if survey is None or survey["conversation_id"] != row["conversation_id"]:
                continue  # not this conversation's survey: an ordinary message
            taken.message_ids.add(row["id"])
            if _answerable(survey, row["created_at"]):
                _score(taken, survey, row, tap[1], "button")
        elif row["conversation_id"] in resolved and (text := _text(row)) is not None:
            survey = _latest(surveys, row["conversation_id"])
            if survey is None:
                continue
            at = row["created_at"]
            if (
                survey["status"] == "answered"
                and survey["feedback"] is None
                and survey["answered_via"] in ("button", "text")
                and timedelta(0)
                <= at - survey["responded_at"]
                <= timedelta(minutes=FEEDBACK_MINUTES)
            ):
                survey.update(feedback=text[:FEEDBACK_MAX], feedback_at=at)
                taken.changed[survey["id"]] = survey
                taken.message_ids.add(row["id"])
            elif (
                (typed := _typed_score(row, text)) is not None
                and _answerable(survey, at)
                and ((window := _score_window(row)) is None or at - survey["created_at"] <= window)
            ):
                _score(taken, survey, row, typed[0], "text")
                if typed[1] is not None:
                    survey.update(feedback=typed[1], feedback_at=at)
                taken.message_ids.add(row["id"])
    return taken


def _answerable(survey: dict[str, Any], at: datetime) -> bool:
    expires = survey["expires_at"]
    return survey["status"] in ("pending", "sent") and (expires is None or at < expires)


def _latest(surveys: dict[UUID, dict[str, Any]], conversation_id: UUID) -> dict[str, Any] | None:
    mine = [s for s in surveys.values() if s["conversation_id"] == conversation_id]
    return max(mine, key=lambda s: s["created_at"], default=None)


def _score(taken: Taken, survey: dict[str, Any], row: asyncpg.Record, score: int, via: str) -> None:
    survey.update(
        status="answered",
        score=score,
        responded_at=row["created_at"],
        answered_via=via,
        answer_message_id=row["id"],
    )
    taken.changed[survey["id"]] = survey
    taken.scored.append(survey["id"])


async def finish(conn: Conn, taken: Taken) -> None:
    """Store the changed surveys with their csat.answered events, then the thanks texts."""
    if not taken.changed:
        return
    drafts: list[Draft] = []
    for survey in taken.changed.values():
        row = await queries.record_answer(
            conn,
            survey["id"],
            score=survey["score"],
            responded_at=survey["responded_at"],
            answered_via=survey["answered_via"],
            answer_message_id=survey["answer_message_id"],
            feedback=survey["feedback"],
            feedback_at=survey["feedback_at"],
        )
        drafts.append(service.answered_draft(row))
    await emit_many(conn, drafts)
    if not taken.scored:
        return
    settings = await service.get_settings(conn)
    for survey_id in taken.scored:
        survey = taken.changed[survey_id]
        conversation = await conversation_queries.get(conn, survey["conversation_id"])
        if conversation is None:
            continue
        texts = settings.texts.of(survey["language"])
        content = {"text": texts.thanks, "csat_thanks_survey_id": str(survey_id)}
        await service.queue_message(conn, conversation, MessageType.TEXT, content)
