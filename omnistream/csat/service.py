"""CSAT rules: the settings, whether a resolve gets a survey, and what the survey says.

A resolve on a channel with surveys on gets one survey, decided when the CSAT consumer
reads the conversation.resolved event (consumer.py), in this order:
- the conversation was reopened meanwhile: skipped `reopened`;
- the channel cannot send one (none today; kept for surveys recorded before email sent):
  skipped `channel_unsupported`;
- the customer never wrote, or (not on email, which has no such window) their last message
  is more than 24 hours old (the window of WhatsApp, and of automatic messages on
  Messenger / Instagram): skipped `window_closed`;
- the contact got a survey (sent, pending or answered) in the last `interval_days`:
  skipped `recent_survey`;
- the contact has no address on the channel: skipped `no_recipient`;
otherwise the survey and its message (pending, no sending agent: the SLA ignores it) are
stored and the outbound loop sends it. Disabled channels record nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.channels.whatsapp.outbound import WINDOW
from omnistream.conversations.service import audience_of
from omnistream.conversations.visibility import state
from omnistream.csat import queries
from omnistream.csat.schemas import SURVEY_CHANNELS, CsatSettings, CsatSurveyOut, SurveyTexts
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import Draft, emit
from omnistream.events.types import EventType
from omnistream.kit.enums import Channel
from omnistream.kit.errors import Unprocessable
from omnistream.messages import queries as message_queries
from omnistream.messages.enums import Direction, MessageStatus, MessageType
from omnistream.messages.presentation import message_payload, preview
from omnistream.messages.service import with_counters

SURVEY_DAYS = 7  # answers (and the page's token) are taken this long after the survey
REPLY_PREFIX = "csat:"


# Settings ----------------------------------------------------------------------------------


async def get_settings(conn: Conn) -> CsatSettings:
    row = await queries.settings(conn)
    if row is None:
        return CsatSettings()
    return CsatSettings.model_validate(
        {
            "channels": row["channels"],
            "interval_days": row["interval_days"],
            "language": row["language"],
            "include_link": row["include_link"],
            "public_url": row["public_url"],
            "texts": row["texts"] or {},
        }
    )


async def put_settings(tx: Tx, actor: Principal, body: CsatSettings) -> CsatSettings:
    for i, channel in enumerate(body.channels):
        if channel not in SURVEY_CHANNELS:
            raise Unprocessable.field(
                f"channels.{i}",
                f"{channel} cannot send surveys (whatsapp, messenger, instagram, email)",
            )
    if body.include_link and body.public_url is None:
        raise Unprocessable.field("public_url", "is required to add the page's link")
    values = body.model_dump(mode="json")
    await queries.save_settings(tx.conn, values, actor.agent_id)
    await record(
        tx.conn, actor, "update_csat_settings", "csat_settings", None,
        channels=values["channels"], interval_days=body.interval_days,
    )  # fmt: skip
    return await get_settings(tx.conn)


# Surveys -----------------------------------------------------------------------------------


def out(row: asyncpg.Record) -> CsatSurveyOut:
    return CsatSurveyOut.model_validate({k: row[k] for k in queries.COLUMN_NAMES})


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def language_of(settings: CsatSettings, conversation: asyncpg.Record) -> str:
    if settings.language != "auto":
        return settings.language
    phone = conversation["contact_phone"] or ""
    return "id" if conversation["channel"] == Channel.WHATSAPP and phone.startswith("62") else "en"


def skip_reason(
    settings: CsatSettings, conversation: asyncpg.Record, now: datetime, recent: bool
) -> str | None:
    """Why this resolve gets no survey (module doc), or None: it gets one."""
    if conversation["status"] != "resolved":
        return "reopened"
    if conversation["channel"] not in SURVEY_CHANNELS:
        return "channel_unsupported"
    last = conversation["last_inbound_at"]
    if last is None or (conversation["channel"] != Channel.EMAIL and now - last > WINDOW):
        return "window_closed"
    if recent:
        return "recent_survey"
    if not conversation["reachable"]:
        return "no_recipient"
    return None


def reply_id(survey_id: UUID, score: int) -> str:
    return f"{REPLY_PREFIX}{survey_id}:{score}"


def survey_content(
    channel: str, survey_id: UUID, texts: SurveyTexts, link: str | None
) -> tuple[MessageType, dict[str, Any]]:
    """WhatsApp: an interactive list of 5 rows (reply buttons stop at 3); Messenger and
    Instagram: a text with 5 quick replies. Each choice's id / payload is
    csat:<survey id>:<score>. Email: a plain text (sent with the thread's subject) with the
    scores listed and how to answer: a reply with the number (csat/answers.py).
    `csat_survey_id` marks the message as the survey's."""
    body = texts.question if link is None else f"{texts.question}\n\n{texts.link_intro} {link}"
    if channel == Channel.EMAIL:
        scores = "\n".join(
            label if label.startswith(str(n)) else f"{n} - {label}"
            for n, label in enumerate(texts.options, start=1)
        )
        parts = [texts.question, scores, texts.email_reply]
        if link is not None:
            parts.append(f"{texts.link_intro} {link}")
        return MessageType.TEXT, {"text": "\n\n".join(parts), "csat_survey_id": str(survey_id)}
    if channel == Channel.WHATSAPP:
        rows = [
            {"id": reply_id(survey_id, n), "title": label}
            for n, label in enumerate(texts.options, start=1)
        ]
        content = {
            "type": "list",
            "body": body,
            "button": texts.button,
            "sections": [{"rows": rows}],
            "csat_survey_id": str(survey_id),
        }
        return MessageType.INTERACTIVE, content
    quick = [
        {"title": label, "payload": reply_id(survey_id, n)}
        for n, label in enumerate(texts.options, start=1)
    ]
    return MessageType.TEXT, {
        "text": body,
        "quick_replies": quick,
        "csat_survey_id": str(survey_id),
    }


async def queue_message(
    conn: Conn, conversation: asyncpg.Record, kind: MessageType, content: dict[str, Any]
) -> asyncpg.Record:
    """A pending outbound message from nobody (no sending agent), with its message.created."""
    row = await message_queries.insert(
        conn,
        conversation_id=conversation["id"],
        channel=conversation["channel"],
        direction=Direction.OUTBOUND,
        type=kind.value,
        content=content,
        status=MessageStatus.PENDING,
        preview=preview(kind, content),
    )
    assert row is not None
    await emit(
        conn,
        EventType.MESSAGE_CREATED,
        {"message": message_payload(row), "conversation": with_counters(conversation, row)},
        actor=None,
        conversation_id=conversation["id"],
        audience=audience_of(conversation),
    )
    await message_queries.wake_sender(conn)
    return row


async def survey_resolve(
    conn: Conn,
    settings: CsatSettings,
    conversation: asyncpg.Record,
    resolve_event_id: UUID,
    now: datetime,
) -> asyncpg.Record | None:
    """The survey of one resolve (sent or skipped); None when the channel has surveys off
    or this resolve has its survey already."""
    if conversation["channel"] not in settings.channels:
        return None
    recent = settings.interval_days > 0 and await queries.recent_survey(
        conn, conversation["contact_id"], settings.interval_days
    )
    language = language_of(settings, conversation)
    reason = skip_reason(settings, conversation, now, recent)
    survey_id = uuid4()
    if reason is not None:
        return await queries.insert_survey(
            conn,
            survey_id=survey_id,
            conversation=conversation,
            resolve_event_id=resolve_event_id,
            language=language,
            status="skipped",
            skip_reason=reason,
        )
    base = settings.link_base()
    token = secrets.token_urlsafe(32) if base else None
    survey = await queries.insert_survey(
        conn,
        survey_id=survey_id,
        conversation=conversation,
        resolve_event_id=resolve_event_id,
        language=language,
        status="pending",
        token_hash=token_hash(token) if token else None,
        expires_at=now + timedelta(days=SURVEY_DAYS),
    )
    if survey is None:
        return None
    link = f"{base}/csat/{token}" if base and token else None
    kind, content = survey_content(
        conversation["channel"], survey_id, settings.texts.of(language), link
    )
    message = await queue_message(conn, conversation, kind, content)
    await queries.set_message(conn, survey_id, message["id"])
    return survey


# Answers' events ----------------------------------------------------------------------------


def answered_draft(row: asyncpg.Record) -> Draft:
    """csat.answered for a survey row read with its conversation (queries._WITH_AUDIENCE)."""
    actor = {"type": "contact", "id": str(row["contact_id"]), "name": row["contact_name"]}
    return Draft(
        EventType.CSAT_ANSWERED,
        {"survey": out(row).model_dump(mode="json")},
        actor,
        row["conversation_id"],
        [state(row["c_division_id"], row["c_assigned_agent_id"])],
    )
