"""A small hand-built world for the reports' figures: raw rows with chosen times (Jakarta,
UTC+7, no daylight saving), whose expected figures the tests work out by hand.

    C4  whatsapp, D1, agent A, opened Oct 31 09:00, replied 09:10 (sent), resolved 10:00
    C1  whatsapp, D1, agent A, account ACC, opened Nov 1 23:30, replied 23:40 (read),
        resolved Nov 2 01:30; CSAT 4 for A, answered Nov 2 02:00
    C2  instagram, D2, agent B, SLA policy P (24/7, first response 10 min, resolution
        120 min): opened Nov 2 10:00, replied 10:20 (delivered; first response breached,
        due 10:10), resolved 11:00; reopened Nov 3 09:00 by the customer's message,
        replied 09:05 (failed, 131026); open now
    C3  whatsapp, no division, unassigned, opened Nov 3 00:30 (Nov 2 17:30 UTC); open
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from omnistream.context import AppContext
from omnistream.reports.rebuild import rebuild
from tests.conftest import Actors, Agent

WIB = timezone(timedelta(hours=7))


def wib(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WIB)


@dataclass
class World:
    d1: UUID
    d2: UUID
    a: Agent
    b: Agent
    supervisor: Agent
    account: UUID
    c1: UUID
    c2: UUID
    c3: UUID
    c4: UUID


async def build(ctx: AppContext, actors: Actors) -> World:
    async with ctx.pool.acquire() as conn:
        d1 = await conn.fetchval("INSERT INTO divisions (name) VALUES ('Sales') RETURNING id")
        d2 = await conn.fetchval("INSERT INTO divisions (name) VALUES ('Support') RETURNING id")
    a = await actors.make("agent", divisions=[d1])
    b = await actors.make("agent", divisions=[d2])
    supervisor = await actors.make("supervisor", divisions=[d1])
    async with ctx.pool.acquire() as conn:
        integration = await conn.fetchval(
            "INSERT INTO integrations (channel, name) VALUES ('whatsapp', 'WA') RETURNING id"
        )
        account = await conn.fetchval(
            "INSERT INTO integration_accounts (integration_id, external_id, is_default) "
            "VALUES ($1, '1001', true) RETURNING id",
            integration,
        )
        policy = await conn.fetchval(
            "INSERT INTO sla_policies (name, channel, first_response_minutes, "
            "resolution_minutes) VALUES ('IG', 'instagram', 10, 120) RETURNING id"
        )

        async def conversation(**values: Any) -> UUID:
            contact = await conn.fetchval(
                "INSERT INTO contacts (name, phone) VALUES ($1, $2) RETURNING id",
                values.pop("name"),
                values.pop("phone"),
            )
            values["contact_id"] = contact
            values.setdefault("last_message_at", values["created_at"])
            names = ", ".join(values)
            marks = ", ".join(f"${i + 1}" for i in range(len(values)))
            found: UUID = await conn.fetchval(
                f"INSERT INTO conversations ({names}) VALUES ({marks}) RETURNING id",
                *values.values(),
            )
            return found

        async def message(
            conversation_id: UUID, at: datetime, direction: str, status: str,
            agent: UUID | None = None, code: str | None = None, channel: str = "whatsapp",
        ) -> None:  # fmt: skip
            await conn.execute(
                "INSERT INTO messages (conversation_id, channel, direction, type, content, "
                "status, sender_agent_id, error_code, created_at) "
                "VALUES ($1, $2, $3, 'text', '{\"text\": \"hi\"}', $4, $5, $6, $7)",
                conversation_id, channel, direction, status, agent, code, at,
            )  # fmt: skip

        async def mark(conversation_id: UUID, action: str, at: datetime) -> None:
            await conn.execute(
                "INSERT INTO activity_logs (action, target_type, target_id, created_at) "
                "VALUES ($1, 'conversation', $2, $3)",
                action, conversation_id, at,
            )  # fmt: skip

        c4 = await conversation(
            name="Dewi", phone="6281100000004", channel="whatsapp", division_id=d1,
            assigned_agent_id=a.id, created_at=wib(10, 31, 9), status="resolved",
            resolved_at=wib(10, 31, 10),
        )  # fmt: skip
        await message(c4, wib(10, 31, 9), "inbound", "received")
        await message(c4, wib(10, 31, 9, 10), "outbound", "sent", a.id)
        await mark(c4, "resolve_conversation", wib(10, 31, 10))

        c1 = await conversation(
            name="Budi", phone="6281100000001", channel="whatsapp", division_id=d1,
            assigned_agent_id=a.id, integration_account_id=account, created_at=wib(11, 1, 23, 30),
            status="resolved", resolved_at=wib(11, 2, 1, 30),
        )  # fmt: skip
        await message(c1, wib(11, 1, 23, 30), "inbound", "received")
        await message(c1, wib(11, 1, 23, 40), "outbound", "read", a.id)
        await mark(c1, "resolve_conversation", wib(11, 2, 1, 30))
        await conn.execute(
            "INSERT INTO csat_surveys (conversation_id, contact_id, score, status, channel, "
            "division_id, agent_id, responded_at) SELECT id, contact_id, 4, 'answered', "
            "channel, division_id, assigned_agent_id, $2 FROM conversations WHERE id = $1",
            c1, wib(11, 2, 2),
        )  # fmt: skip

        c2 = await conversation(
            name="Citra", phone="6281100000002", channel="instagram", division_id=d2,
            assigned_agent_id=b.id, created_at=wib(11, 2, 10), sla_policy_id=policy,
        )  # fmt: skip
        ig = "instagram"
        await message(c2, wib(11, 2, 10), "inbound", "received", channel=ig)
        await message(c2, wib(11, 2, 10, 20), "outbound", "delivered", b.id, channel=ig)
        await mark(c2, "resolve_conversation", wib(11, 2, 11))
        await mark(c2, "reopen_conversation", wib(11, 3, 9))
        await message(c2, wib(11, 3, 9), "inbound", "received", channel=ig)
        await message(c2, wib(11, 3, 9, 5), "outbound", "failed", b.id, "131026", channel=ig)
        await conn.execute(
            "INSERT INTO sla_breach_logs (conversation_id, policy_id, breach_type, cycle, "
            "due_at, breached_at) VALUES ($1, $2, 'first_response', 1, $3, $3)",
            c2, policy, wib(11, 2, 10, 10),
        )  # fmt: skip

        c3 = await conversation(
            name="Eka", phone="6281100000003", channel="whatsapp", created_at=wib(11, 3, 0, 30)
        )
        await message(c3, wib(11, 3, 0, 30), "inbound", "received")
    await rebuild(ctx.pool)
    return World(d1, d2, a, b, supervisor, account, c1, c2, c3, c4)
