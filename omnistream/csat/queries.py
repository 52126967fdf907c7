"""SQL of CSAT: surveys, the settings row and the consumer's position."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.conversations.queries import COLUMNS as CONVERSATION_COLUMNS
from omnistream.db.pool import Conn
from omnistream.webhooks.delivery_queries import lock_consumer

CONSUMER = "csat"  # the consumer's row in event_consumers
COLUMNS = (
    "s.id, s.conversation_id, s.contact_id, s.channel, s.division_id, s.agent_id, s.language, "
    "s.status, s.skip_reason, s.score, s.feedback, s.answered_via, s.message_id, "
    "s.answer_message_id, s.created_at, s.survey_sent_at, s.responded_at, s.feedback_at, "
    "s.expires_at"
)
COLUMN_NAMES = tuple(c.strip().removeprefix("s.") for c in COLUMNS.split(","))
# With the conversation's state now (the audience of its events) and the contact's name.
_WITH_AUDIENCE = (
    f"{COLUMNS}, c.division_id AS c_division_id, c.assigned_agent_id AS c_assigned_agent_id, "
    "c.status AS c_status, p.name AS contact_name"
)
_JOINS = "JOIN conversations c ON c.id = s.conversation_id JOIN contacts p ON p.id = s.contact_id"


# Settings ------------------------------------------------------------------------------------


async def settings(conn: Conn) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM csat_settings")


async def save_settings(conn: Conn, values: dict[str, Any], agent_id: UUID | None) -> None:
    await conn.execute(
        """
        INSERT INTO csat_settings (id, channels, interval_days, language, include_link,
                                   public_url, texts, updated_by, updated_at)
        VALUES (true, $1, $2, $3, $4, $5, $6, $7, now())
        ON CONFLICT (id) DO UPDATE
           SET channels = EXCLUDED.channels, interval_days = EXCLUDED.interval_days,
               language = EXCLUDED.language, include_link = EXCLUDED.include_link,
               public_url = EXCLUDED.public_url, texts = EXCLUDED.texts,
               updated_by = EXCLUDED.updated_by, updated_at = now()
        """,
        values["channels"],
        values["interval_days"],
        values["language"],
        values["include_link"],
        values["public_url"],
        values["texts"],
        agent_id,
    )


# The consumer ----------------------------------------------------------------------------------


async def resolved_conversations(conn: Conn, ids: list[UUID]) -> list[asyncpg.Record]:
    """The conversations as they are now, with the contact's phone and whether the channel
    can reach them, locked in id order (as the inbound batches lock them)."""
    return await conn.fetch(
        f"""
        SELECT {CONVERSATION_COLUMNS}, p.phone AS contact_phone,
               CASE WHEN c.channel = 'whatsapp' THEN p.phone IS NOT NULL
                    ELSE EXISTS (SELECT 1 FROM contact_identities i
                                  WHERE i.contact_id = c.contact_id AND i.channel = c.channel)
               END AS reachable
          FROM conversations c JOIN contacts p ON p.id = c.contact_id
         WHERE c.id = ANY($1::uuid[])
         ORDER BY c.id
           FOR UPDATE OF c
        """,
        ids,
    )


async def recent_survey(conn: Conn, contact_id: UUID, days: int) -> bool:
    """Whether the contact got a survey (not a skipped or failed one) in the last `days`."""
    found: bool = await conn.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM csat_surveys
                        WHERE contact_id = $1 AND created_at > now() - make_interval(days => $2)
                          AND status IN ('pending', 'sent', 'answered'))
        """,
        contact_id,
        days,
    )
    return found


async def insert_survey(
    conn: Conn,
    *,
    survey_id: UUID,
    conversation: asyncpg.Record,
    resolve_event_id: UUID,
    language: str,
    status: str,
    skip_reason: str | None = None,
    token_hash: bytes | None = None,
    expires_at: datetime | None = None,
) -> asyncpg.Record | None:
    """None when this resolve has its survey already."""
    return await conn.fetchrow(
        f"""
        WITH s AS (
            INSERT INTO csat_surveys (id, conversation_id, contact_id, channel, division_id,
                                      agent_id, language, status, skip_reason, token_hash,
                                      expires_at, resolve_event_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (conversation_id, resolve_event_id) DO NOTHING
            RETURNING *)
        SELECT {COLUMNS} FROM s
        """,
        survey_id,
        conversation["id"],
        conversation["contact_id"],
        conversation["channel"],
        conversation["division_id"],
        conversation["assigned_agent_id"],
        language,
        status,
        skip_reason,
        token_hash,
        expires_at,
        resolve_event_id,
    )


async def set_message(conn: Conn, survey_id: UUID, message_id: UUID) -> None:
    await conn.execute(
        "UPDATE csat_surveys SET message_id = $2 WHERE id = $1", survey_id, message_id
    )


async def message_outcomes(
    conn: Conn, message_ids: list[UUID], statuses: list[str], at: list[datetime | None],
    errors: list[str | None],
) -> None:  # fmt: skip
    """The survey messages' sends: 'sent' (from pending) or 'failed' (unless answered)."""
    await conn.execute(
        """
        UPDATE csat_surveys s
           SET status = CASE WHEN v.status = 'failed' THEN 'failed' ELSE 'sent' END,
               survey_sent_at = COALESCE(s.survey_sent_at, v.at),
               skip_reason = CASE WHEN v.status = 'failed' THEN v.error ELSE s.skip_reason END,
               updated_at = now()
          FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[])
               AS v(message_id, status, at, error)
         WHERE s.message_id = v.message_id AND s.status IN ('pending', 'sent')
           AND (v.status = 'failed' OR s.status = 'pending')
        """,
        message_ids,
        statuses,
        at,
        errors,
    )


# Answers ---------------------------------------------------------------------------------------


async def open_surveys(
    conn: Conn, ids: list[UUID], conversation_ids: list[UUID]
) -> list[asyncpg.Record]:
    """The surveys named (by a reply id) or of these conversations that may still take an
    answer or feedback (not expired; pending, sent or answered), newest first, locked."""
    return await conn.fetch(
        f"""
        SELECT {_WITH_AUDIENCE} FROM csat_surveys s {_JOINS}
         WHERE (s.id = ANY($1::uuid[]) OR s.conversation_id = ANY($2::uuid[]))
           AND s.status IN ('pending', 'sent', 'answered') AND s.expires_at > now()
         ORDER BY s.created_at DESC
           FOR UPDATE OF s
        """,
        ids,
        conversation_ids,
    )


async def by_token(conn: Conn, token_hash: bytes, *, lock: bool) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_WITH_AUDIENCE} FROM csat_surveys s {_JOINS} WHERE s.token_hash = $1"
        + (" FOR UPDATE OF s" if lock else ""),
        token_hash,
    )


async def record_answer(
    conn: Conn,
    survey_id: UUID,
    *,
    score: int | None,
    responded_at: datetime | None,
    answered_via: str | None,
    answer_message_id: UUID | None,
    feedback: str | None,
    feedback_at: datetime | None,
) -> asyncpg.Record:
    """Sets what is given (None keeps the stored value); the survey is answered."""
    row = await conn.fetchrow(
        f"""
        WITH s AS (
            UPDATE csat_surveys
               SET score = COALESCE($2, score), responded_at = COALESCE($3, responded_at),
                   answered_via = COALESCE($4, answered_via),
                   answer_message_id = COALESCE($5, answer_message_id),
                   feedback = COALESCE($6, feedback), feedback_at = COALESCE($7, feedback_at),
                   status = 'answered', updated_at = now()
             WHERE id = $1 RETURNING *)
        SELECT {_WITH_AUDIENCE} FROM s {_JOINS}
        """,
        survey_id,
        score,
        responded_at,
        answered_via,
        answer_message_id,
        feedback,
        feedback_at,
    )
    assert row is not None
    return row


# Lists -----------------------------------------------------------------------------------------


async def of_conversation(conn: Conn, conversation_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM csat_surveys s WHERE s.conversation_id = $1 "
        "ORDER BY s.created_at DESC, s.id DESC",
        conversation_id,
    )


# The responses' filters ($1-$7), shared by the list and its summary: `divisions` (a
# supervisor's) limits them to those divisions and none.
_RESPONSES = """
    s.responded_at IS NOT NULL
    AND ($1::uuid[] IS NULL OR s.division_id IS NULL OR s.division_id = ANY($1))
    AND ($2::timestamptz IS NULL OR s.responded_at >= $2)
    AND ($3::timestamptz IS NULL OR s.responded_at < $3)
    AND ($4::uuid IS NULL OR s.agent_id = $4)
    AND ($5::uuid IS NULL OR s.division_id = $5)
    AND ($6::text IS NULL OR s.channel = $6)
    AND ($7::int IS NULL OR s.score = $7)
"""


@dataclass(frozen=True)
class ResponseFilter:
    divisions: list[UUID] | None = None
    since: datetime | None = None
    until: datetime | None = None
    agent_id: UUID | None = None
    division_id: UUID | None = None
    channel: str | None = None
    score: int | None = None

    def params(self) -> tuple[Any, ...]:
        return (
            self.divisions,
            self.since,
            self.until,
            self.agent_id,
            self.division_id,
            self.channel,
            self.score,
        )


async def responses(
    conn: Conn, f: ResponseFilter, after: tuple[datetime, UUID] | None, limit: int
) -> list[asyncpg.Record]:
    """Answered surveys, newest answer first."""
    return await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM csat_surveys s
         WHERE {_RESPONSES}
           AND ($8::timestamptz IS NULL OR (s.responded_at, s.id) < ($8, $9::uuid))
         ORDER BY s.responded_at DESC, s.id DESC
         LIMIT $10
        """,
        *f.params(),
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def summary(conn: Conn, f: ResponseFilter) -> asyncpg.Record:
    """How many answered, their average and how many gave each score (all that match)."""
    row = await conn.fetchrow(
        f"""
        SELECT count(*)::int AS responses, avg(s.score)::float8 AS average,
               count(*) FILTER (WHERE s.score = 1)::int AS s1,
               count(*) FILTER (WHERE s.score = 2)::int AS s2,
               count(*) FILTER (WHERE s.score = 3)::int AS s3,
               count(*) FILTER (WHERE s.score = 4)::int AS s4,
               count(*) FILTER (WHERE s.score = 5)::int AS s5
          FROM csat_surveys s WHERE {_RESPONSES}
        """,
        *f.params(),
    )
    assert row is not None
    return row


async def top_seq(conn: Conn) -> int:
    value: int = await conn.fetchval("SELECT COALESCE(max(seq), 0) FROM event_outbox")
    return value


async def events_between(conn: Conn, after: int, upto: int, limit: int) -> list[asyncpg.Record]:
    """The published events with after < seq <= upto the consumer acts on: resolves, and
    the updates of survey messages (picked by the database: no other payload is read)."""
    return await conn.fetch(
        """
        SELECT seq, id, type, data FROM event_outbox
         WHERE seq > $1 AND seq <= $2
           AND (type = 'conversation.resolved'
                OR (type = 'message.updated'
                    AND data->'message'->'content' ? 'csat_survey_id'))
         ORDER BY seq LIMIT $3
        """,
        after,
        upto,
        limit,
    )


async def lock_position(conn: Conn) -> int | None:
    """The consumer's position, locked for this transaction (delivery_queries.lock_consumer)."""
    return await lock_consumer(conn, CONSUMER)
