"""The scheduled-message loop: turns due scheduled messages into outbound replies.

`send_due` is one tick, ONE transaction, a few statements however many rows it holds:
1. claim up to BATCH_SIZE due pending rows (FOR UPDATE SKIP LOCKED: concurrent workers take
   disjoint rows; an agent editing or cancelling one holds its lock, and the claim skips it
   until then) and lock their conversations in id order;
2. check each message as a reply is checked when it is sent (messages.service.prepare_reply,
   the channel's window included): a free-form message whose window closed meanwhile, or
   whose file is gone, is `failed` with the reason in words; so is one whose conversation
   was resolved meanwhile when OMNISTREAM_SCHEDULED_SEND_WHEN_RESOLVED is off (on, the
   default: it is sent, and the fact noted on the row, in the activity log and the log).
   One whose agent was deactivated meanwhile is sent too, still in that agent's name (they
   wrote it; the business promised it), and noted the same way: an admin who would rather
   it were not sent cancels it beforehand (docs/reply-tools.md);
3. insert the replies as pending outbound messages (the outbound sender delivers them,
   woken by one NOTIFY), move the conversations' last message, mark the rows `sent` with
   their message id (or `failed`), write the events and activity entries.
The claim and the outcome commit together, so a crash sends nothing or everything of a
tick, never twice; a cancel that wins the row lock first is never sent, one that comes
after the claim finds the row sent (409). A row handled more than
OMNISTREAM_SCHEDULED_LATE_SECONDS after its time (no worker was running) is flagged `late`.

Wake-ups: the loop sleeps until the earliest pending time (min(scheduled_at), on the
database's clock), or until a NOTIFY says a time was set or moved, and at most
POLL_SECONDS (a listener that missed a NOTIFY). Under load it lingers LINGER_SECONDS after
a partial batch, so messages due a few milliseconds apart share a tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson
from pydantic import ValidationError

from omnistream.config import Settings
from omnistream.conversations.service import audience_of
from omnistream.conversations.service import payload as conversation_payload
from omnistream.db.listen import notified
from omnistream.db.pool import Conn, Pool, transaction
from omnistream.events.outbox import Draft, emit_many, jsonable
from omnistream.events.types import EventType
from omnistream.kit.aio import wait_for_any
from omnistream.kit.enums import ConversationStatus
from omnistream.kit.errors import AppError
from omnistream.messages.presentation import message_payload, preview
from omnistream.messages.queries import wake_sender
from omnistream.messages.schemas import MessageCreate
from omnistream.messages.service import Reply, prepare_reply
from omnistream.scheduled import queries
from omnistream.scheduled.schemas import ScheduledStatus
from omnistream.scheduled.service import payload

log = logging.getLogger(__name__)
BATCH_SIZE = 500
POLL_SECONDS = 5.0
LINGER_SECONDS = 0.1  # after a partial batch: the delay it may add, the batching it buys
BUSY_SECONDS = 0.05  # due rows exist but another worker holds them
ERROR_MAX = 2000
RESOLVED_NOTE = "the conversation was resolved when this message was sent"
INACTIVE_NOTE = "the agent who scheduled this message had been deactivated by its time"
_Created = tuple[asyncpg.Record, asyncpg.Record]  # a new message and its conversation after


@dataclass
class _Outcome:
    row: asyncpg.Record
    conversation: asyncpg.Record
    late: bool
    reply: Reply | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    message_id: UUID | None = None

    @property
    def note(self) -> str | None:
        """What the row's `note` says, when anything is worth saying."""
        return "; ".join(self.notes) or None


async def _decide(
    conn: Conn, settings: Settings, row: asyncpg.Record, conversation: asyncpg.Record
) -> _Outcome:
    out = _Outcome(row, conversation, late=row["overdue_s"] > settings.scheduled_late_seconds)
    try:
        body = MessageCreate.model_validate(row["content_json"])
    except ValidationError as exc:  # stored under rules that have changed since
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        out.error = f"the stored message is no longer valid: {where}: {first['msg']}"
        return out
    if conversation["status"] == ConversationStatus.RESOLVED:
        if not settings.scheduled_send_when_resolved:
            out.error = (
                "the conversation was resolved by the time the message was due, and "
                "OMNISTREAM_SCHEDULED_SEND_WHEN_RESOLVED is off"
            )
            return out
        out.notes.append(RESOLVED_NOTE)
    if row["agent_active"] is not True:  # deactivated (or deleted): sent all the same
        out.notes.append(INACTIVE_NOTE)
    try:
        out.reply = await prepare_reply(conn, conversation, body, datetime.now(UTC))
    except AppError as exc:  # 422s and window-closed: the reason a send would have given
        out.error = exc.detail[:ERROR_MAX]
    except (asyncpg.PostgresError, asyncpg.InterfaceError):
        raise  # the transaction is gone: the whole tick is retried
    except Exception as exc:  # a bug must not block the queue: this row fails, logged
        log.exception("scheduled message check raised", extra={"scheduled_id": str(row["id"])})
        out.error = f"unexpected error: {exc}"[:ERROR_MAX]
    return out


async def send_due(pool: Pool, settings: Settings, limit: int = BATCH_SIZE) -> int:
    """One tick; returns how many scheduled messages it handled (0: none was due)."""
    async with transaction(pool) as tx:
        conn = tx.conn
        claimed = await queries.claim_due(conn, limit)
        if not claimed:
            return 0
        ids = sorted({r["conversation_id"] for r in claimed})
        conversations = {c["id"]: c for c in await queries.lock_conversations(conn, ids)}
        outcomes = [
            await _decide(conn, settings, row, conversations[row["conversation_id"]])
            for row in claimed
        ]
        sending = [o for o in outcomes if o.reply is not None]
        messages = await _insert(conn, sending)
        finished = await queries.finish(
            conn,
            [o.row["id"] for o in outcomes],
            [ScheduledStatus.SENT if o.reply else ScheduledStatus.FAILED for o in outcomes],
            [o.message_id for o in outcomes],
            [o.error for o in outcomes],
            [o.late for o in outcomes],
            [o.note for o in outcomes],
        )
        await _record(conn, outcomes, messages, {r["id"]: r for r in finished})
        if sending:
            await wake_sender(conn)
    return len(claimed)


async def _insert(conn: Conn, sending: list[_Outcome]) -> dict[UUID, _Created]:
    """The replies, in claim order; returns message id -> (message row, conversation row)."""
    if not sending:
        return {}
    for outcome in sending:
        outcome.message_id = uuid4()
    replies = [o.reply for o in sending if o.reply is not None]
    rows = await queries.insert_replies(
        conn,
        ids=[o.message_id for o in sending if o.message_id is not None],
        conversation_ids=[o.row["conversation_id"] for o in sending],
        channels=[o.conversation["channel"] for o in sending],
        types=[r.kind.value for r in replies],
        contents=[orjson.dumps(r.content).decode() for r in replies],
        reply_to_ids=[r.reply_to_id for r in replies],
        media_ids=[r.media_id for r in replies],
        sender_agent_ids=[o.row["agent_id"] for o in sending],
    )
    newest: dict[UUID, asyncpg.Record] = {}
    for row in rows:  # created_at ascending: the last one of a conversation wins
        newest[row["conversation_id"]] = row
    moved = await queries.move_conversations(
        conn,
        list(newest),
        [m["created_at"] for m in newest.values()],
        [preview(m["type"], m["content"]) for m in newest.values()],
    )
    after = {c["id"]: c for c in moved}
    return {m["id"]: (m, after[m["conversation_id"]]) for m in rows}


async def _record(
    conn: Conn,
    outcomes: list[_Outcome],
    messages: dict[UUID, _Created],
    finished: dict[UUID, asyncpg.Record],
) -> None:
    """Events (message.created, then scheduled_message.sent / failed) and activity entries."""
    drafts: list[Draft] = []
    actions: list[str] = []
    targets: list[UUID] = []
    metadata: list[str] = []
    for o in outcomes:
        row = finished[o.row["id"]]
        audience = audience_of(o.conversation)
        conversation_id = o.row["conversation_id"]
        if o.message_id is not None:
            message, conversation = messages[o.message_id]
            data = {
                "message": message_payload(message),
                "conversation": conversation_payload(conversation),
            }
            drafts.append(Draft(EventType.MESSAGE_CREATED, data, None, conversation_id, audience))
        kind = EventType.SCHEDULED_MESSAGE_SENT if o.reply else EventType.SCHEDULED_MESSAGE_FAILED
        drafts.append(
            Draft(kind, {"scheduled_message": payload(row)}, None, conversation_id, audience)
        )
        facts: dict[str, Any] = {
            "conversation_id": conversation_id,
            "scheduled_by": o.row["agent_id"],
            "scheduled_at": o.row["scheduled_at"],
            "late": o.late,
        }
        if o.reply:
            facts["message_id"] = o.message_id
            where = {"scheduled_id": str(row["id"]), "conversation_id": str(conversation_id)}
            if RESOLVED_NOTE in o.notes:
                facts["conversation_resolved"] = True
                log.info("scheduled message sent to a resolved conversation", extra=where)
            if INACTIVE_NOTE in o.notes:
                facts["agent_deactivated"] = True
                log.info("scheduled message of a deactivated agent sent", extra=where)
        else:
            facts["error"] = o.error
        actions.append("scheduled_message_sent" if o.reply else "scheduled_message_failed")
        targets.append(row["id"])
        metadata.append(orjson.dumps(jsonable(facts)).decode())
    await emit_many(conn, drafts)
    await queries.log_activity(conn, actions, targets, metadata)


async def _next_delay(conn: Conn, handled: int) -> float:
    """How long to sleep after a tick that handled `handled` rows (less than a batch)."""
    until = await queries.seconds_to_next_due(conn)
    if until is None:
        delay = POLL_SECONDS
    elif until > 0:
        delay = min(until + 0.002, POLL_SECONDS)  # a hair late: due by the claim's now()
    else:  # due already: held by another worker's tick, or due since the claim
        delay = BUSY_SECONDS
    return max(delay, LINGER_SECONDS) if handled else delay


async def scheduled_loop(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    """Ticks while full batches come back; otherwise sleeps until the next due time, a
    NOTIFY (a time was set or moved) or POLL_SECONDS."""
    async with notified(pool, queries.WAKE_CHANNEL) as (listener, wake):
        while not stop.is_set():
            wake.clear()
            try:
                handled = await send_due(pool, settings)
                if handled >= BATCH_SIZE:
                    continue
                delay = await _next_delay(listener, handled)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: wait, then try again
                log.exception("scheduled tick failed")
                handled, delay = 0, POLL_SECONDS
            if handled and delay <= LINGER_SECONDS:  # a NOTIFY must not cut the linger
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            else:
                await wait_for_any(wake, stop, seconds=delay)
