"""What the inbound loop does for campaigns (inbound/worker.py, inbound/service.py):

- Receipts of campaign sends (biz_opaque_callback_data `c:<recipient id>`) move the
  recipient forward only; they also record a send the sender never wrote down (it died
  after Meta accepted it), so it is not sent again. A `failed` receipt with 131050 opts the
  number out.
- A customer message answering a campaign send (quoting it, or from the same number to
  the same WhatsApp number within OMNISTREAM_CAMPAIGN_REPLY_WINDOW_HOURS) links the
  recipient to the conversation (`conversation_id`, `replied_at`); the conversation records
  the campaign (`campaign_id`), the campaign's message is added to its timeline, and a
  conversation nobody has routed yet moves to the campaign's division.
- A STOP button (payload or reply id) or a message that is just a stop keyword
  (OMNISTREAM_CAMPAIGN_STOP_KEYWORDS) opts the number out.
Campaign sends by themselves create no conversations.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg

from omnistream.campaigns import content, opt_out_service, queries, reply_queries, send_queries
from omnistream.config import Settings
from omnistream.conversations import queries as conversation_queries
from omnistream.conversations.service import audience_of
from omnistream.conversations.service import payload as conversation_payload
from omnistream.conversations.visibility import state
from omnistream.db.pool import Conn
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.inbound.model import InboundMessage, StatusUpdate
from omnistream.kit.enums import Channel
from omnistream.kit.errors import AppError
from omnistream.messages import queries as message_queries
from omnistream.messages.presentation import message_payload
from omnistream.messages.service import with_counters

log = logging.getLogger(__name__)
PREFIX = "c:"
OPTED_OUT_CODE = "131050"


def recipient_of(callback_data: str | None) -> UUID | None:
    """The recipient a receipt names, if it is a campaign send's."""
    if not callback_data or not callback_data.startswith(PREFIX):
        return None
    try:
        return UUID(callback_data[len(PREFIX) :])
    except ValueError:
        return None


async def apply_receipts(conn: Conn, receipts: list[tuple[UUID, StatusUpdate]]) -> int:
    """Apply campaign sends' receipts (recipient, receipt), in rounds of one receipt per
    recipient (sent before delivered before read); how many applied. A `failed` with
    131050 opts the number out."""
    rounds: list[dict[UUID, StatusUpdate]] = []
    for recipient, item in sorted(
        receipts, key=lambda r: (_ORDER.get(r[1].status, 9), r[1].occurred_at)
    ):
        for batch in rounds:
            if recipient not in batch:
                batch[recipient] = item
                break
        else:
            rounds.append({recipient: item})
    applied = 0
    for batch in rounds:
        ids = sorted(batch)
        items = [batch[i] for i in ids]
        rows = await reply_queries.apply_receipts(
            conn,
            ids,
            [i.channel_message_id for i in items],
            [i.status for i in items],
            [i.occurred_at for i in items],
            [i.error_code for i in items],
            [i.error_reason for i in items],
        )
        applied += len(rows)
        for row in rows:
            if row["receipt"] == "failed" and row["receipt_code"] == OPTED_OUT_CODE:
                await opt_out_service.opt_out(
                    conn, None, row["phone"], "meta_131050", campaign_id=row["campaign_id"]
                )
    return applied


async def apply_receipt(conn: Conn, recipient_id: UUID, item: StatusUpdate) -> bool:
    """Apply one campaign send's receipt; whether a recipient of ours took it."""
    return await apply_receipts(conn, [(recipient_id, item)]) == 1


_ORDER = {"sent": 0, "delivered": 1, "read": 2, "failed": 3}


def stop_keywords(settings: Settings) -> frozenset[str]:
    return frozenset(
        k.strip().upper() for k in settings.campaign_stop_keywords.split(",") if k.strip()
    )


def _said(item: InboundMessage) -> list[str]:
    body: dict[str, Any] = item.content
    if item.type == "button":
        return [str(body.get("payload") or ""), str(body.get("text") or "")]
    if item.type == "interactive":
        return [str(body.get("id") or "")]
    if item.type == "text":
        return [str(body.get("text") or "")]
    return []


async def after_batch(conn: Conn, settings: Settings, items: list[InboundMessage]) -> None:
    """Opt-outs by keyword and reply links for the WhatsApp messages a batch stored."""
    mine = [i for i in items if i.channel == Channel.WHATSAPP and i.type != "reaction"]
    if not mine:
        return
    keywords = stop_keywords(settings)
    stopping = sorted(
        {i.contact for i in mine if any(s.strip().upper() in keywords for s in _said(i))}
    )
    for phone in stopping:
        await opt_out_service.opt_out(conn, None, phone, "keyword", "the customer asked to stop")
    stored = await reply_queries.stored_inbound(conn, [i.channel_message_id for i in mine])
    if stored:
        quoted = {i.channel_message_id: i.reply_to for i in mine}
        await _link(conn, settings, stored, quoted)


async def _link(
    conn: Conn, settings: Settings, stored: list[asyncpg.Record], quoted: dict[str, str | None]
) -> None:
    found = await reply_queries.origins(
        conn,
        [r["integration_account_id"] for r in stored],
        [r["phone"] for r in stored],
        [quoted.get(r["channel_message_id"]) for r in stored],
        [r["created_at"] for r in stored],
        settings.campaign_reply_window_hours,
    )
    if not found:
        return
    picked: dict[UUID, tuple[asyncpg.Record, asyncpg.Record]] = {}
    for origin in found:  # the first message of a conversation in the batch wins
        message = stored[origin["i"] - 1]
        picked.setdefault(origin["recipient_id"], (origin, message))
    linked = await reply_queries.link(
        conn,
        list(picked),
        [m["conversation_id"] for _, m in picked.values()],
        [m["created_at"] for _, m in picked.values()],
    )
    for row in linked:
        await _route(conn, row)
        await _timeline(conn, row)


async def _route(conn: Conn, recipient: asyncpg.Record) -> None:
    """A conversation nobody routed yet goes to the campaign's division (announced)."""
    campaign = await queries.get_any(conn, recipient["campaign_id"])
    if campaign is None or campaign["division_id"] is None:
        return
    before = await conversation_queries.get(conn, recipient["conversation_id"])
    if before is None or before["division_id"] is not None or before["assigned_agent_id"]:
        return
    await reply_queries.route_conversations(
        conn, [before["id"]], [campaign["id"]], [campaign["division_id"]]
    )
    after = await conversation_queries.get(conn, before["id"])
    assert after is not None
    await emit(
        conn,
        EventType.CONVERSATION_UPDATED,
        {"conversation": conversation_payload(after)},
        actor=None,
        conversation_id=after["id"],
        audience=[state(None, None), state(after["division_id"], None)],
    )


async def _timeline(conn: Conn, recipient: asyncpg.Record) -> None:
    """The campaign's message, as sent to this recipient, in the conversation's timeline."""
    if recipient["channel_message_id"] is None or recipient["template_id"] is None:
        return
    template = await send_queries.template(conn, recipient["template_id"])
    if template is None:
        return
    columns = {
        **(recipient["variables"] or {}),
        "name": recipient["name"],
        "phone": recipient["phone"],
    }
    try:
        body = content.render(
            template, recipient["campaign_variables"] or {}, recipient["header"], columns
        )
    except AppError:
        return
    body |= {
        "campaign_id": str(recipient["campaign_id"]),
        "campaign_name": recipient["campaign_name"],
    }
    status = recipient["status"] if recipient["status"] != "pending" else "sent"
    row = await message_queries.insert(
        conn,
        conversation_id=recipient["conversation_id"],
        channel=Channel.WHATSAPP.value,
        direction="outbound",
        type="template",
        content=body,
        status=status,
        preview=body.get("text", "")[:200],
        channel_message_id=recipient["channel_message_id"],
        # Before the reply it answers, whose time Meta gives in whole seconds only.
        occurred_at=min(recipient["sent_at"], recipient["replied_at"] - timedelta(milliseconds=1)),
    )
    if row is None:
        return
    await reply_queries.set_message(conn, recipient["id"], row["id"])
    conversation = await conversation_queries.get(conn, recipient["conversation_id"])
    assert conversation is not None
    await emit(
        conn,
        EventType.MESSAGE_CREATED,
        {"message": message_payload(row), "conversation": with_counters(conversation, row)},
        actor=None,
        conversation_id=conversation["id"],
        audience=audience_of(conversation),
    )
