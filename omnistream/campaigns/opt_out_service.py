"""Opting numbers out of campaigns and back in, each change with its activity-log entry and
a live event (campaign_opt_out.created / .deleted) for whoever may see the number: admins
and supervisors (the opt-out list, every contact), and the agents who see a conversation of
the contact with that number (the contact pane's "Opted out of campaigns")."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from omnistream.activity.service import record
from omnistream.auth.principal import Principal
from omnistream.campaigns import opt_out_queries
from omnistream.campaigns.schemas import OptOutOut
from omnistream.contacts.service import audience_of
from omnistream.conversations.visibility import STAFF
from omnistream.db.pool import Conn
from omnistream.events.outbox import emit
from omnistream.events.types import EventType

TARGET = "campaign_opt_out"


async def opt_out(
    conn: Conn, actor: Principal | None, phone: str, reason: str, note: str = "",
    campaign_id: UUID | None = None,
) -> asyncpg.Record | None:  # fmt: skip
    """Opt one number out (None if it already was)."""
    rows = await opt_out_queries.add_opt_outs(
        conn, [phone], reason, note, actor.agent_id if actor else None, campaign_id
    )
    if not rows:
        return None
    await record(conn, actor, "opt_out", TARGET, None, phone=phone, reason=reason)
    await _announce(conn, EventType.CAMPAIGN_OPT_OUT_CREATED, rows[0], actor)
    return rows[0]


async def opt_in(conn: Conn, actor: Principal, phone: str) -> bool:
    """Let campaigns reach a number again (False: it was not opted out)."""
    row = await opt_out_queries.remove_opt_out(conn, phone)
    if row is None:
        return False
    await record(conn, actor, "opt_in", TARGET, None, phone=phone)
    await _announce(conn, EventType.CAMPAIGN_OPT_OUT_DELETED, row, actor)
    return True


async def _announce(
    conn: Conn, event: EventType, row: asyncpg.Record, actor: Principal | None
) -> None:
    contact_id = await opt_out_queries.contact_with_phone(conn, row["phone"])
    audience: list[dict[str, Any]] = await audience_of(conn, contact_id) if contact_id else [STAFF]
    data = {
        "opt_out": OptOutOut(**dict(row)).model_dump(mode="json"),
        "contact_id": str(contact_id) if contact_id else None,
    }
    await emit(conn, event, data, actor=actor, audience=audience)
