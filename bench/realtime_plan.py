"""bench/realtime.py's plan: the accounts (who may see what) and the events to commit, with
the sockets each event must reach under docs/events.md's rule, written out here
independently of the server's code."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import harness
import httpx

from omnistream.events.types import EventType

PASSWORD = "realtime-bench-" + "x" * 8
BenchError = harness.BenchError
console = harness.console

# The event mix: kind -> share of events. "inbox" resembles a contact centre: most events
# concern a conversation assigned to one agent (seen by admins, the division's supervisors
# and that agent), some the division's unassigned queue (the whole division), a few move a
# conversation between divisions (both sides), a few have no division (everyone) and a few
# concern a contact only (admins and supervisors). "broadcast": every event to everyone.
MIXES: dict[str, dict[str, float]] = {
    "inbox": {"assigned": 0.70, "queue": 0.20, "transfer": 0.05, "lobby": 0.04, "contact": 0.01},
    "broadcast": {"lobby": 1.0},
}
KIND_TYPE = {
    "assigned": EventType.MESSAGE_CREATED,
    "queue": EventType.CONVERSATION_CREATED,
    "transfer": EventType.CONVERSATION_TRANSFERRED,
    "lobby": EventType.CONVERSATION_UPDATED,
    "contact": EventType.CONTACT_UPDATED,
}


# --------------------------------------------------------------------------- accounts


@dataclass
class Account:
    index: int  # the socket number
    role: str
    email: str
    divisions: frozenset[str] = frozenset()
    agent_id: str = ""
    token: str = ""


def plan_accounts(clients: int, divisions: list[str]) -> list[Account]:
    """One admin, two supervisors per division (the last one in two divisions), then agents:
    agent j in division j % D, every 5th also in the next one, every 10th in none."""
    count = len(divisions)
    supervisors = min(2 * count, max(0, clients - 2))
    accounts = [Account(0, "admin", "")]
    divs: set[str]
    for s in range(supervisors):
        divs = {divisions[s % count]}
        if s == supervisors - 1 and count > 1:
            divs.add(divisions[(s + 1) % count])
        accounts.append(Account(len(accounts), "supervisor", "", frozenset(divs)))
    j = 0
    while len(accounts) < clients:
        if j % 10 == 9:
            divs = set()
        else:
            divs = {divisions[j % count]}
            if j % 5 == 4 and count > 1:
                divs.add(divisions[(j + 1) % count])
        accounts.append(Account(len(accounts), "agent", "", frozenset(divs)))
        j += 1
    for acct in accounts[1:]:
        acct.email = f"rt-{acct.role}-{acct.index:03d}@example.com"
    return accounts


def _ok(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise BenchError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


async def create_accounts(
    base: str, admin_email: str, admin_password: str, accounts: list[Account], division_count: int
) -> list[str]:
    """Divisions, accounts and memberships over HTTP as the admin; then every account signs
    in (POST /auth/login). Returns the division ids (accounts get theirs filled in)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        login = _ok(
            await client.post(
                "/api/v1/auth/login", json={"email": admin_email, "password": admin_password}
            ),
            "admin login",
        )
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        accounts[0].email, accounts[0].token = admin_email, login["access_token"]
        division_ids = []
        for d in range(division_count):
            body = _ok(
                await client.post(
                    "/api/v1/divisions", json={"name": f"Division {d + 1}"}, headers=headers
                ),
                "create division",
            )
            division_ids.append(body["id"])
        by_label = {f"d{d}": division_ids[d] for d in range(division_count)}
        for acct in accounts:
            acct.divisions = frozenset(by_label[d] for d in acct.divisions)
        gate = asyncio.Semaphore(8)

        async def one(acct: Account) -> None:
            async with gate:
                body = _ok(
                    await client.post(
                        "/api/v1/agents",
                        json={
                            "email": acct.email,
                            "name": f"Bench {acct.role} {acct.index}",
                            "role": acct.role,
                            "password": PASSWORD,
                        },
                        headers=headers,
                    ),
                    "create agent",
                )
                acct.agent_id = body["id"]
                for division_id in sorted(acct.divisions):
                    _ok(
                        await client.put(
                            f"/api/v1/divisions/{division_id}/members/{acct.agent_id}",
                            headers=headers,
                        ),
                        "add member",
                    )
                tokens = _ok(
                    await client.post(
                        "/api/v1/auth/login", json={"email": acct.email, "password": PASSWORD}
                    ),
                    "agent login",
                )
                acct.token = tokens["access_token"]

        await asyncio.gather(*(one(a) for a in accounts[1:]))
        me = _ok(await client.get("/api/v1/auth/me", headers=headers), "GET /auth/me")
        accounts[0].agent_id = me["id"]
    return division_ids


# --------------------------------------------------------------------------- visibility


def can_see(acct: Account, audience: tuple[tuple[str | None, str | None], ...]) -> bool:
    """docs/events.md "Who receives what", written out independently of the server's code."""
    if acct.role == "admin":
        return True
    if not audience:
        return acct.role == "supervisor"
    for division_id, assigned in audience:
        in_scope = division_id is None or division_id in acct.divisions
        if acct.role == "supervisor" and in_scope:
            return True
        if acct.role == "agent" and (assigned == acct.agent_id or (assigned is None and in_scope)):
            return True
    return False


# --------------------------------------------------------------------------- the schedule


@dataclass
class Planned:
    kind: str
    audience: tuple[tuple[str | None, str | None], ...]
    conversation_id: uuid.UUID
    data: dict[str, Any]


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000000+00:00"


def _conversation(conv_id: uuid.UUID, division: str | None, agent: str | None) -> dict[str, Any]:
    now = _iso(time.time())
    return {
        "id": str(conv_id),
        "contact_id": str(uuid.uuid4()),
        "assigned_agent_id": agent,
        "division_id": division,
        "channel": "whatsapp",
        "integration_account_id": "a4c6e8f0-2b4d-4f6a-8c0e-1d3f5a7b9c55",
        "status": "open",
        "last_message_at": now,
        "last_message_preview": "Halo, pesanan saya belum sampai, bisa dicek?",
        "last_inbound_at": now,
        "unread_count": 1,
        "created_at": now,
        "updated_at": now,
        "resolved_at": None,
    }


def _message(conv_id: uuid.UUID) -> dict[str, Any]:
    now = _iso(time.time())
    return {
        "id": str(uuid.uuid4()),
        "conversation_id": str(conv_id),
        "channel": "whatsapp",
        "channel_message_id": "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABIYIDNBQ0E=",
        "direction": "inbound",
        "type": "text",
        "content": {"text": "Halo, pesanan saya belum sampai, bisa dicek? Nomor pesanan 88123."},
        "reply_to_id": None,
        "media_id": None,
        "media": None,
        "status": "received",
        "sender_agent_id": None,
        "error_code": None,
        "error_reason": None,
        "attempts": 0,
        "next_attempt_at": None,
        "created_at": now,
        "sent_at": None,
        "delivered_at": None,
        "read_at": None,
        "failed_at": None,
    }


def plan_events(
    count: int, mix: dict[str, float], accounts: list[Account], divisions: list[str], seed: int
) -> list[Planned]:
    """The events to commit, with their audiences (realistic message/conversation payloads,
    about 1-2 KB of JSON each)."""
    rng = random.Random(seed)
    members: dict[str, list[str]] = {
        d: [a.agent_id for a in accounts if a.role == "agent" and d in a.divisions]
        for d in divisions
    }
    kinds, weights = list(mix), list(mix.values())
    planned = []
    for _ in range(count):
        kind = rng.choices(kinds, weights)[0]
        conv_id = uuid.uuid4()
        division = rng.choice(divisions)
        data: dict[str, Any]
        if kind == "assigned":
            agent = rng.choice(members[division]) if members[division] else None
            audience: tuple[tuple[str | None, str | None], ...] = ((division, agent),)
            data = {
                "message": _message(conv_id),
                "conversation": _conversation(conv_id, *audience[0]),
            }
        elif kind == "queue":
            audience = ((division, None),)
            data = {"conversation": _conversation(conv_id, division, None)}
        elif kind == "transfer":
            target = rng.choice([d for d in divisions if d != division] or divisions)
            agent = rng.choice(members[division]) if members[division] else None
            audience = ((division, agent), (target, None))
            conversation = _conversation(conv_id, target, None)
            data = {
                "conversation": conversation,
                "transfer": {
                    "id": str(uuid.uuid4()),
                    "conversation_id": str(conv_id),
                    "from_agent_id": agent,
                    "to_agent_id": None,
                    "from_division_id": division,
                    "to_division_id": target,
                    "transferred_by": agent,
                    "reason": "Billing question",
                    "transferred_at": conversation["updated_at"],
                },
            }
        elif kind == "lobby":
            audience = ((None, None),)
            data = {"conversation": _conversation(conv_id, None, None)}
        else:  # contact: no conversation state, admins and supervisors only
            audience = ()
            data = {"id": str(uuid.uuid4()), "name": "Budi Santoso", "phone": "6281234567890"}
        planned.append(Planned(kind, audience, conv_id, data))
    return planned


def audiences_to_sockets(planned: list[Planned], accounts: list[Account]) -> list[tuple[int, ...]]:
    """For each planned event, the sockets that must receive it."""
    cache: dict[tuple[tuple[str | None, str | None], ...], tuple[int, ...]] = {}
    out = []
    for event in planned:
        sockets = cache.get(event.audience)
        if sockets is None:
            sockets = tuple(a.index for a in accounts if can_see(a, event.audience))
            cache[event.audience] = sockets
        out.append(sockets)
    return out
