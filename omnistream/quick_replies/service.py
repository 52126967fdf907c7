"""Rules about quick replies: who sees and manages them, favourites, placeholder rendering.

- see: admins every reply; supervisors and agents the global ones and their divisions';
- manage: admins every reply; supervisors the replies of divisions they belong to (never
  global ones); agents none. A reply one may not see answers 404, one seen but not
  managed 403.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.contacts import queries as contact_queries
from omnistream.conversations.service import get_visible as get_visible_conversation
from omnistream.conversations.visibility import Scope, state
from omnistream.db.pool import Conn, Tx
from omnistream.divisions import queries as division_queries
from omnistream.events.outbox import Draft, emit, emit_many
from omnistream.events.types import EventType
from omnistream.kit.enums import Role
from omnistream.kit.errors import Forbidden, NotFound, Unprocessable
from omnistream.kit.links import link_problem
from omnistream.messages.schemas import CAPTION_MAX, TEXT_MAX, MessageCreate
from omnistream.quick_replies import queries
from omnistream.quick_replies.schemas import MediaKind, QuickReplyCreate, QuickReplyUpdate

# {{ name }}: whitespace inside the braces is allowed; the name itself is matched exactly.
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
PLACEHOLDERS = ("contact.name", "contact.phone", "agent.name", "conversation.id")
# WhatsApp sends only JPEG and PNG as images; anything else goes as a document.
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# Rules ------------------------------------------------------------------------------------


def can_manage(actor: Principal, division_id: UUID | None) -> bool:
    if actor.role is Role.ADMIN:
        return True
    return actor.role is Role.SUPERVISOR and division_id in actor.division_ids


def media_type(media_url: str | None) -> MediaKind | None:
    if media_url is None:
        return None
    path = urlsplit(media_url).path.lower()
    return "image" if path.endswith(_IMAGE_SUFFIXES) else "document"


def out(row: asyncpg.Record, actor: Principal) -> dict[str, Any]:
    """The API shape (QuickReplyOut) of a row as this agent sees it."""
    return {
        **dict(row),
        "media_type": media_type(row["media_url"]),
        "can_manage": can_manage(actor, row["division_id"]),
    }


def _payload(row: asyncpg.Record) -> dict[str, Any]:
    """A reply as events carry it: no per-agent fields (events reach many agents)."""
    data = {k: v for k, v in dict(row).items() if k not in ("is_favorite", "rank", "sort_title")}
    return {**data, "media_type": media_type(row["media_url"])}


async def get(conn: Conn, actor: Principal, quick_reply_id: UUID) -> asyncpg.Record:
    row = await queries.get_visible(conn, Scope.of(actor), quick_reply_id)
    if row is None:
        raise NotFound(f"no quick reply with id {quick_reply_id}")
    return row


async def _manageable(tx: Tx, actor: Principal, quick_reply_id: UUID) -> asyncpg.Record:
    """The reply, locked for a change: 404 when unseen, 403 when seen but not managed."""
    row = await queries.get_visible(tx.conn, Scope.of(actor), quick_reply_id, lock="update")
    if row is None:
        raise NotFound(f"no quick reply with id {quick_reply_id}")
    if not can_manage(actor, row["division_id"]):
        where = "global" if row["division_id"] is None else "another division's"
        raise Forbidden(f"you may not change this quick reply: it is {where}")
    return row


async def _check_division(conn: Conn, actor: Principal, division_id: UUID | None) -> None:
    """The reply may be put there by this actor (403), and the division exists (422)."""
    if actor.role is not Role.ADMIN:
        if division_id is None:
            raise Forbidden.field("division_id", "only admins manage global quick replies")
        if not can_manage(actor, division_id):
            raise Forbidden.field(
                "division_id", "you manage only the quick replies of your own divisions"
            )
    if division_id is not None and await division_queries.get(conn, division_id) is None:
        raise Unprocessable.field("division_id", f"no division with id {division_id}")


def _check_caption(body: str, media_url: str | None) -> None:
    if media_url is not None and len(body) > CAPTION_MAX:
        raise Unprocessable.field(
            "body", f"is sent as the caption of media_url: at most {CAPTION_MAX} characters"
        )


# Changes ----------------------------------------------------------------------------------


def _audience(*division_ids: UUID | None) -> list[dict[str, Any]]:
    """Who receives a reply's events: those who may read it (admins; the supervisors and
    agents of its division, everyone for a reply without one), before and after a move.
    Said as unassigned conversation states, so the hub's visibility rule applies as is."""
    return [{"division_id": d, "assigned_agent_id": None} for d in dict.fromkeys(division_ids)]


async def create(tx: Tx, actor: Principal, data: QuickReplyCreate) -> asyncpg.Record:
    await _check_division(tx.conn, actor, data.division_id)
    unknown_placeholders(data.body, "body")
    _check_caption(data.body, data.media_url)
    try:
        quick_reply_id = await queries.insert(
            tx.conn, data.title, data.body, data.media_url, data.division_id, actor.agent_id
        )
    except asyncpg.ForeignKeyViolationError:  # the division was deleted meanwhile
        raise Unprocessable.field("division_id", "the division no longer exists") from None
    row = await get(tx.conn, actor, quick_reply_id)
    await emit(
        tx.conn,
        EventType.QUICK_REPLY_CREATED,
        {"quick_reply": _payload(row)},
        actor=actor,
        audience=_audience(data.division_id),
    )
    await record(
        tx.conn,
        actor,
        "create_quick_reply",
        "quick_reply",
        quick_reply_id,
        title=data.title,
        division_id=data.division_id,
    )
    return row


async def update(
    tx: Tx, actor: Principal, quick_reply_id: UUID, data: QuickReplyUpdate
) -> asyncpg.Record:
    current = await _manageable(tx, actor, quick_reply_id)
    given = data.model_dump(exclude_unset=True)
    changes = {k: v for k, v in given.items() if current[k] != v}
    if not changes:
        return current
    new = {k: changes.get(k, current[k]) for k in ("title", "body", "media_url", "division_id")}
    if "division_id" in changes:
        await _check_division(tx.conn, actor, new["division_id"])
    if "body" in changes:
        # Only a changed body is checked for placeholders, so that a reply stored with one
        # that is no longer known can still be renamed or moved.
        unknown_placeholders(new["body"], "body")
    _check_caption(new["body"], new["media_url"])
    try:
        await queries.update(tx.conn, quick_reply_id, **new)
    except asyncpg.ForeignKeyViolationError:
        raise Unprocessable.field("division_id", "the division no longer exists") from None
    row = await get(tx.conn, actor, quick_reply_id)
    await emit(
        tx.conn,
        EventType.QUICK_REPLY_UPDATED,
        {"quick_reply": _payload(row), "changes": sorted(changes)},
        actor=actor,
        audience=_audience(current["division_id"], new["division_id"]),
    )
    await record(
        tx.conn, actor, "update_quick_reply", "quick_reply", quick_reply_id, changes=changes
    )
    return row


async def delete(tx: Tx, actor: Principal, quick_reply_id: UUID) -> None:
    current = await _manageable(tx, actor, quick_reply_id)
    await queries.delete(tx.conn, quick_reply_id)
    gone = {"id": quick_reply_id, "division_id": current["division_id"], "title": current["title"]}
    await emit(
        tx.conn,
        EventType.QUICK_REPLY_DELETED,
        {"quick_reply": gone},
        actor=actor,
        audience=_audience(current["division_id"]),
    )
    await record(
        tx.conn,
        actor,
        "delete_quick_reply",
        "quick_reply",
        quick_reply_id,
        title=current["title"],
        division_id=current["division_id"],
    )


async def delete_with_division(tx: Tx, actor: Principal, division_id: UUID) -> int:
    """A division is being deleted (its row locked by the caller): its replies go first, each
    with the quick_reply.deleted event and activity entry a delete by hand writes (plus
    `reason` / `division_deleted`), in the division delete's transaction. Returns how many."""
    gone = await queries.delete_of_division(tx.conn, division_id)
    who = actor.actor()
    await emit_many(
        tx.conn,
        [
            Draft(
                EventType.QUICK_REPLY_DELETED,
                {"quick_reply": dict(row), "reason": "division_deleted"},
                who,
                audience=_audience(division_id),
            )
            for row in gone
        ],
    )
    for row in gone:
        await record(
            tx.conn,
            actor,
            "delete_quick_reply",
            "quick_reply",
            row["id"],
            title=row["title"],
            division_id=division_id,
            division_deleted=True,
        )
    return len(gone)


async def set_favorite(tx: Tx, actor: Principal, quick_reply_id: UUID, pinned: bool) -> None:
    """Pin or unpin for the signed-in agent; repeating either is a no-op."""
    row = await queries.get_visible(tx.conn, Scope.of(actor), quick_reply_id, lock="key_share")
    if row is None:
        raise NotFound(f"no quick reply with id {quick_reply_id}")
    if pinned:
        changed = await queries.add_favorite(tx.conn, actor.agent_id, quick_reply_id)
    else:
        changed = await queries.remove_favorite(tx.conn, actor.agent_id, quick_reply_id)
    if not changed:
        return
    kind = EventType.QUICK_REPLY_FAVORITED if pinned else EventType.QUICK_REPLY_UNFAVORITED
    data = {
        "quick_reply": {"id": quick_reply_id, "title": row["title"]},
        "agent_id": actor.agent_id,
    }
    await emit(tx.conn, kind, data, actor=actor, audience=_only(actor.agent_id))
    action = "pin_quick_reply" if pinned else "unpin_quick_reply"
    await record(tx.conn, actor, action, "quick_reply", quick_reply_id, title=row["title"])


# No division has this id: an entry "assigned to the agent in no division" is seen by that
# agent alone under the visibility rule (conversations/visibility.py), and by admins, who
# see every event. Supervisors see by division only, so a supervisor's own pin reaches
# admins alone: the rule has no "this agent only" form for them.
_NO_DIVISION = UUID(int=0)


def _only(agent_id: UUID) -> list[dict[str, Any]]:
    return [state(_NO_DIVISION, agent_id)]


# Placeholders -----------------------------------------------------------------------------


def unknown_placeholders(text: str, field: str) -> None:
    """422 naming every placeholder that is not one of PLACEHOLDERS."""
    unknown = sorted({m.group(1) for m in PLACEHOLDER.finditer(text)} - set(PLACEHOLDERS))
    if not unknown:
        return
    names = ", ".join("{{" + name + "}}" for name in unknown)
    known = ", ".join("{{" + name + "}}" for name in PLACEHOLDERS)
    message = f"unknown placeholder {names}; the known ones are {known}"
    raise Unprocessable(
        f"{field}: {message}",
        errors=[{"field": field, "message": message}],
        extra={"unknown_placeholders": unknown},
    )


def render_text(text: str, values: Mapping[str, str], field: str = "body") -> str:
    """Every placeholder replaced by its value (missing values: empty). Values are not
    rendered again, so a contact named "{{agent.name}}" stays exactly that."""
    unknown_placeholders(text, field)
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)


async def placeholder_values(
    conn: Conn, actor: Principal, conversation: asyncpg.Record
) -> dict[str, str]:
    contact = await contact_queries.get(conn, conversation["contact_id"])
    phone = contact["phone"] if contact is not None else None
    return {
        "contact.name": contact["name"] if contact is not None else "",
        "contact.phone": f"+{phone}" if phone else "",  # stored as digits; shown as E.164
        "agent.name": actor.name,
        "conversation.id": str(conversation["id"]),
    }


async def render(
    conn: Conn, actor: Principal, quick_reply_id: UUID, conversation_id: UUID
) -> dict[str, Any]:
    """The reply as it would be sent in this conversation (both must be visible)."""
    reply = await get(conn, actor, quick_reply_id)
    conversation = await get_visible_conversation(conn, Scope.of(actor), conversation_id)
    values = await placeholder_values(conn, actor, conversation)
    return {
        "quick_reply_id": quick_reply_id,
        "conversation_id": conversation_id,
        "text": render_text(reply["body"], values),
        "media_url": reply["media_url"],
        "media_type": media_type(reply["media_url"]),
    }


async def as_message(
    conn: Conn, actor: Principal, conversation: asyncpg.Record, body: MessageCreate
) -> MessageCreate:
    """An agent reply by quick_reply_id as the ordinary message it stands for: text, or the
    media link with the rendered text as caption. Errors name quick_reply_id (422)."""
    field = "quick_reply_id"
    if body.type != "quick_reply":
        raise Unprocessable.field(
            field, f"is not allowed on a {body.type} message; leave type out to use it"
        )
    for name in sorted(body.model_fields_set - {"type", field, "reply_to_message_id"}):
        if getattr(body, name) is not None:
            raise Unprocessable.field(name, "is not allowed with quick_reply_id")
    if body.quick_reply_id is None:
        raise Unprocessable.field(field, "is required for a quick_reply message")
    reply = await queries.get_visible(conn, Scope.of(actor), body.quick_reply_id)
    if reply is None:
        raise Unprocessable.field(field, "no quick reply with this id that you may use")
    values = await placeholder_values(conn, actor, conversation)
    text = render_text(reply["body"], values, field)
    url, kind = reply["media_url"], media_type(reply["media_url"])
    if url is None or kind is None:
        if not text.strip():
            raise Unprocessable.field(field, "renders as empty text in this conversation")
        if len(text) > TEXT_MAX:
            raise Unprocessable.field(field, f"renders longer than {TEXT_MAX} characters")
        update: dict[str, Any] = {"type": "text", "text": text}
    else:
        if found := link_problem(url):  # stored before the https-only rule: edit it first
            raise Unprocessable.field(field, f"its media_url {found[1]}; edit the quick reply")
        if len(text) > CAPTION_MAX:
            raise Unprocessable.field(field, f"renders a caption over {CAPTION_MAX} characters")
        update = {"type": kind, "link": url, "caption": text}
    return body.model_copy(update={**update, "quick_reply_id": None})
