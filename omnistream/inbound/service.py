"""Applying webhook payloads: parse, route each item to its integration account, store it.

Exactly once on top of Meta's at-least-once delivery: a message is stored once per channel
message id (ingest_inbound), receipts only move forward (apply_status, watermarks), a
reaction counts only when its own event is new, and an echo of our own send is never stored
again. So a payload may be applied any number of times: the inbound loop relies on that to
retry a payload whose receipts arrived before the message they name was recorded.

An item is applied only to an account of an integration whose app secret signed the call
(webhook_audit.signed_by): a secret proves who Meta sent the call for, so one integration's
secret cannot write into another's conversations. Such an item is skipped like an
unroutable one, the rest of the payload is applied. Rows stored before signed_by existed
(NULL) are applied as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any
from uuid import UUID

import orjson

from omnistream.campaigns import replies as campaign_replies
from omnistream.channels.meta_page import inbound as meta_page
from omnistream.channels.whatsapp import inbound as whatsapp
from omnistream.contacts import queries as contact_queries
from omnistream.conversations import queries as conversation_queries
from omnistream.conversations.service import audience_of
from omnistream.conversations.service import payload as conversation_payload
from omnistream.db.pool import Conn, Tx
from omnistream.events.outbox import emit
from omnistream.events.types import EventType
from omnistream.inbound import queries
from omnistream.inbound.model import (
    Echo,
    InboundMessage,
    MediaRef,
    Parsed,
    PayloadError,
    StatusUpdate,
    TemplateStatusUpdate,
    Watermark,
)
from omnistream.inbound.reading import load, obj
from omnistream.integrations.accounts import AccountConfig, by_external_id
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel
from omnistream.messages import queries as message_queries
from omnistream.messages.accepted import our_id
from omnistream.messages.enums import Direction, MessageStatus
from omnistream.messages.ingest import NewInbound, check, emit_opened, ingest_inbound
from omnistream.messages.outbound_queries import recorded_channel_id
from omnistream.messages.presentation import message_payload, preview
from omnistream.messages.service import InboundError, apply_status, emit_updated
from omnistream.templates import queries as template_queries
from omnistream.templates.service import apply_status_update as apply_template_status

META_CHANNELS = [Channel.WHATSAPP, Channel.MESSENGER, Channel.INSTAGRAM]
# Tries of a payload (1 = the first) while a receipt names a message not recorded yet: the
# status may have beaten the sender's record of the send. Then the receipt is given up.
STATUS_TRIES = 7  # waits 1 + 2 + 4 + ... + 32 s = about a minute in all
# Tries while an echo names a mid not recorded yet, before it is taken for a message sent
# from another app (our sender may not have recorded the mid yet).
ECHO_TRIES = 4  # about 7 s
RETRY_MAX_SECONDS = 60.0
# Our sends carry this prefix in the Send API's `metadata`, echoed back: never stored twice.
OWN_METADATA_PREFIX = "omnistream:"
ERROR_MAX = 2000  # characters of notes / errors kept on an audit row
# Whose reaction a reaction message records on its target (content.reactions[key]).
REACTION_KEY = {Direction.INBOUND: "contact", Direction.OUTBOUND: "business"}
CROSS_SIGNED = "signed with another integration's app secret"
# The integrations whose app secret signed a call; None: a call stored before that was kept.
Signed = frozenset[UUID] | None
_COUNTERS = (
    "last_message_at",
    "last_message_preview",
    "last_inbound_at",
    "unread_count",
    "updated_at",
)


def retry_delay(attempt: int) -> float:
    """Seconds before try `attempt + 1` of a payload: 1, 2, 4, ... up to a minute."""
    return min(RETRY_MAX_SECONDS, 2.0 ** max(0, attempt - 1))


def signed_set(signed_by: Iterable[UUID] | None) -> Signed:
    """webhook_audit.signed_by as the worker checks it."""
    return None if signed_by is None else frozenset(signed_by)


def signed_for(account: AccountConfig, signed: Signed) -> bool:
    return signed is None or account.integration_id in signed


def parse(body: bytes) -> Parsed:
    """A webhook body -> items, by its `object`; PayloadError if it cannot be read."""
    try:
        payload = load(body)  # without U+0000, which PostgreSQL text cannot hold
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"the body is not valid JSON: {exc}") from None
    payload = obj(payload, "payload")
    kind = payload.get("object")
    if kind == whatsapp.OBJECT:
        return whatsapp.parse(payload)
    if isinstance(kind, str) and kind in meta_page.OBJECTS:
        return meta_page.parse(payload, meta_page.OBJECTS[kind])
    raise PayloadError(
        f"object {kind!r} is not handled (expected whatsapp_business_account, page or instagram)"
    )


class Accounts:
    """Routing with a cache for one batch: (channel, external id) -> account."""

    def __init__(self, conn: Conn, box: SecretBox) -> None:
        self._conn = conn
        self._box = box
        self._known: dict[tuple[str, str], AccountConfig | None] = {}

    async def find(self, channel: str, candidates: tuple[str, ...]) -> AccountConfig | None:
        for external_id in candidates:
            key = (channel, external_id)
            if key not in self._known:
                self._known[key] = await by_external_id(
                    self._conn, self._box, [Channel(channel)], external_id
                )
            found = self._known[key]
            if found is not None:
                return found
        return None


@dataclass
class Outcome:
    """What became of one audit row: processed | unroutable | failed, or pending (retry after
    `delay` seconds)."""

    status: str
    error: str | None = None
    delay: float | None = None
    channel: str | None = None
    media: int = 0  # media rows created (the fetcher is woken)


@dataclass
class _Run:
    tx: Tx
    attempt: int
    notes: list[str] = field(default_factory=list)
    routed: int = 0
    unroutable: int = 0
    waiting: list[str] = field(default_factory=list)  # items to try again later
    given_up: list[str] = field(default_factory=list)
    media: int = 0

    @property
    def conn(self) -> Conn:
        return self.tx.conn


def joined(parts: list[str]) -> str | None:
    text = "; ".join(dict.fromkeys(parts))  # once each: many items may say the same
    return (text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…") or None


async def apply(
    tx: Tx, parsed: Parsed, accounts: Accounts, attempt: int, signed: Signed = None
) -> Outcome:
    """Apply every item of one payload (inside the caller's savepoint); `attempt` counts the
    tries of this payload, 1 for the first; `signed`: who signed it (see the module doc)."""
    run = _Run(tx, attempt, notes=list(parsed.notes))
    for item in parsed.items:
        if isinstance(item, TemplateStatusUpdate):  # routed on the WABA, not an account
            await _template_status(run, item, signed)
            continue
        names = item.message.accounts if isinstance(item, Echo) else item.accounts
        channel = item.message.channel if isinstance(item, Echo) else item.channel
        account = await accounts.find(channel, names)
        if account is None or not account.is_active:
            run.unroutable += 1
            state = "inactive" if account is not None else "unknown"
            run.notes.append(f"{channel} account {names[0]} is {state}")
            continue
        if not signed_for(account, signed):
            run.unroutable += 1
            run.notes.append(f"{channel} account {names[0]} not applied: {CROSS_SIGNED}")
            continue
        run.routed += 1
        if isinstance(item, InboundMessage):
            await _message(run, account, item)
        elif isinstance(item, Echo):
            await _echo(run, account, item)
        elif isinstance(item, StatusUpdate):
            await _status(run, item)
        else:
            await _watermark(run, account, item)
    channel = parsed.channel
    if run.unroutable and not run.routed:
        return Outcome("unroutable", joined(run.notes), channel=channel)
    if run.waiting:
        waiting = [f"waiting for the sender's record (try {attempt}): " + ", ".join(run.waiting)]
        return Outcome(
            "pending", joined(waiting + run.notes), retry_delay(attempt), channel, run.media
        )
    if run.given_up:
        return Outcome("failed", joined(run.given_up + run.notes), channel=channel, media=run.media)
    return Outcome("processed", joined(run.notes), channel=channel, media=run.media)


async def plain_messages(
    parsed: Parsed, accounts: Accounts, signed: Signed = None
) -> list[NewInbound] | None:
    """The payload's items for the batch path (messages.ingest.ingest_many), or None when it
    needs the one-item path: anything but valid inbound messages without a file and not a
    reaction, to an active account of a signing integration."""
    plain: list[NewInbound] = []
    for item in parsed.items:
        if not isinstance(item, InboundMessage) or item.media is not None:
            return None
        if item.type == "reaction":
            return None
        account = await accounts.find(item.channel, item.accounts)
        if account is None or not account.is_active or not signed_for(account, signed):
            return None
        try:
            check(item.channel, item.contact, item.channel_message_id, item.type, item.occurred_at)
        except InboundError:
            return None  # the one-item path fails the payload with the reason
        plain.append(_new_inbound(item, account))
    return plain or None


def _new_inbound(item: InboundMessage, account: AccountConfig) -> NewInbound:
    return NewInbound(
        channel=item.channel,
        integration_account_id=account.account_id,
        contact=item.contact,
        profile_name=item.profile_name,
        channel_message_id=item.channel_message_id,
        type=item.type,
        content=item.content,
        occurred_at=item.occurred_at,
        reply_to_channel_message_id=item.reply_to,
    )


# Items ----------------------------------------------------------------------------------------


async def _new_media(run: _Run, media: MediaRef | None) -> UUID | None:
    if media is None:
        return None
    return await queries.insert_media(
        run.conn,
        mime_type=media.mime_type,
        filename=media.filename,
        sha256=media.sha256,
        channel_media_id=media.channel_media_id,
        source_url=media.url,
    )


async def _message(run: _Run, account: AccountConfig, item: InboundMessage) -> None:
    media_id = await _new_media(run, item.media)
    new = _new_inbound(item, account)
    row = await ingest_inbound(
        run.tx, **{f.name: getattr(new, f.name) for f in fields(new)}, media_id=media_id
    )
    if row is None:  # a redelivery: nothing changes
        if media_id is not None:
            await queries.drop_media(run.conn, media_id)
        return
    if media_id is not None:
        await queries.attach_media(run.conn, media_id, row["conversation_id"])
        run.media += 1
    if item.type == "reaction" and row["reply_to_id"] is not None:
        await _react(run, row)


async def _react(run: _Run, reaction: Any) -> None:
    key = REACTION_KEY[Direction(reaction["direction"])]
    target = await queries.set_reaction(run.conn, reaction["id"], reaction["reply_to_id"], key)
    if target is not None:
        await emit_updated(run.conn, target)


async def _echo(run: _Run, account: AccountConfig, echo: Echo) -> None:
    message = echo.message
    if echo.metadata and echo.metadata.startswith(OWN_METADATA_PREFIX):
        return  # our own send, recorded by the sender
    if await queries.exists(run.conn, message.channel, message.channel_message_id):
        return  # our own send (or this echo again)
    if run.attempt < ECHO_TRIES:
        run.waiting.append(f"echo {message.channel_message_id}")
        return
    await record_external(run, account, echo)


async def _status(run: _Run, item: StatusUpdate) -> None:
    recipient = campaign_replies.recipient_of(item.callback_data)
    # A campaign send's receipt (and of its copy in a conversation's timeline, if any).
    if recipient is not None and not await campaign_replies.apply_receipt(
        run.conn, recipient, item
    ):
        run.notes.append(
            f"{item.status} receipt of {item.channel_message_id} ignored: "
            f"no campaign send {recipient} with that id"
        )
    change = await apply_status(
        run.tx,
        item.channel,
        item.channel_message_id,
        item.status,
        item.occurred_at,
        item.error_code,
        item.error_reason,
    )
    if change.found or recipient is not None:
        return
    own = our_id(item.callback_data)
    recorded = None if own is None else await recorded_channel_id(run.conn, own, item.channel)
    if recorded is not None and recorded != item.channel_message_id:
        # A second acceptance of one of our messages: sent again after a worker crash whose
        # first send's statuses came later than the takeover grace (workers/takeover.py).
        # The message keeps the channel id recorded first; this one's receipts are ignored.
        run.notes.append(
            f"{item.status} receipt of {item.channel_message_id} ignored: message {own} "
            f"was accepted again and keeps {recorded}"
        )
        return
    what = f"{item.status} receipt of {item.channel_message_id}"
    if run.attempt < STATUS_TRIES:
        run.waiting.append(what)
    else:
        run.given_up.append(f"gave up on the {what} after {run.attempt} tries: no such message")


async def _template_status(run: _Run, item: TemplateStatusUpdate, signed: Signed) -> None:
    if signed is not None:
        # It changes the templates of every integration with this WABA: all must have signed.
        owners = await template_queries.integrations_of_waba(run.conn, item.waba_id)
        if not signed.issuperset(owners):
            run.unroutable += 1
            run.notes.append(f"template status of WABA {item.waba_id} not applied: {CROSS_SIGNED}")
            return
    outcome = await apply_template_status(run.conn, item)
    if outcome.routed:
        run.routed += 1
    else:
        run.unroutable += 1
    if outcome.note:
        run.notes.append(outcome.note)


async def _watermark(run: _Run, account: AccountConfig, item: Watermark) -> None:
    rows = await queries.apply_watermark(
        run.conn,
        channel=item.channel,
        account_id=account.account_id,
        contact=item.contact,
        status=item.status,
        at=item.occurred_at,
        watermark=item.watermark,
        mids=list(item.mids),
    )
    for row in rows:
        await emit_updated(run.conn, row)


async def record_external(run: _Run, account: AccountConfig, echo: Echo) -> None:
    """A message the business sent from another app (Page Inbox, another tool): stored as an
    outbound message already sent, so the conversation shows the whole exchange."""
    conn, m = run.conn, echo.message
    person, contact_created = await contact_queries.find_or_create_by_identity(
        conn, m.channel, m.contact, ""
    )
    conversation = await conversation_queries.latest_for_contact(
        conn, person["id"], m.channel, account.account_id
    )
    created = conversation is None
    if conversation is None:
        conversation = await conversation_queries.insert(
            conn, person["id"], m.channel, account.account_id
        )
    media_id = await _new_media(run, m.media)
    content = {**m.content, "sent_from": "another_app"}
    if echo.app_id:
        content["app_id"] = echo.app_id
    row = await message_queries.insert(
        conn,
        conversation_id=conversation["id"],
        channel=m.channel,
        direction=Direction.OUTBOUND,
        type=m.type,
        content=content,
        status=MessageStatus.SENT,
        preview=preview(m.type, content),
        channel_message_id=m.channel_message_id,
        reply_to_channel_message_id=m.reply_to,
        media_id=media_id,
        occurred_at=m.occurred_at,
    )
    if row is None:  # recorded meanwhile by the sender
        if media_id is not None:
            await queries.drop_media(conn, media_id)
        return
    if media_id is not None:
        await queries.attach_media(conn, media_id, conversation["id"])
        run.media += 1
    sent = await queries.mark_sent_now(conn, row["id"])
    audience = audience_of(conversation)
    after = {**conversation_payload(conversation), **{k: row["c_" + k] for k in _COUNTERS}}
    if created:
        await emit_opened(conn, person, contact_created, after, None, audience)
    await emit(
        conn,
        EventType.MESSAGE_CREATED,
        {"message": message_payload(sent), "conversation": after},
        actor=None,
        conversation_id=conversation["id"],
        audience=audience,
    )
    if m.type == "reaction" and sent["reply_to_id"] is not None:
        await _react(run, sent)
