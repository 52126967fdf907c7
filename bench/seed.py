"""Seed a database with an inbox at scale (issue 3): 1M conversations and 10M messages.

By default (re)creates the database `omnistream_bench` on the local PostgreSQL
(postgresql://postgres@127.0.0.1:5432), migrates it with omnistream.db.migrate.migrate and
loads, with COPY over two connections:

    20 divisions, 200 agents (2 admins, 18 supervisors, 180 agents, each in 1-3 divisions,
    all with the password of bench/inbox_common.py), 4 integrations with one account each,
    ~1,000,000 contacts, 1,000,000 conversations, 10,000,000 messages (one conversation,
    BIG_CONVERSATION_ID, has exactly 10,000 of them), 6 labels on ~20 % of the
    conversations (seed_labels below).

How it stays within the target: rows are encoded in Python straight into COPY's binary format
(no text parsing on the server); messages go in with COPY FREEZE (emptied in the same
transaction, so they are written frozen and all-visible) on one connection while the other
loads everything else; FK triggers are off (session_replication_role = replica) and the
secondary indexes of contacts, conversations and messages are read from pg_indexes, dropped
before the load and recreated afterwards with exactly those statements (two at a time,
in-memory sorts); bulk ids grow with the row number so the primary keys are appended in
order. Then VACUUM / ANALYZE. Prints one JSON object on stdout (machine, rows per table,
seconds per phase, target met or not); progress bars go to stderr.

    .venv/bin/python bench/seed.py [--database-url URL [--replace]] [--scale 1.0]
    .venv/bin/python bench/seed.py --labels-only [--database-url URL]

--labels-only gives a database seeded before labels existed its labels, alone: it migrates
it (0027 and any later migration) and runs the labels step (one INSERT ... SELECT, a few
seconds on the 1M seed; run again, it adds nothing).

Target: <= 180 s in total on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import struct
import sys
import time
import unicodedata
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import harness
import orjson
from inbox_common import (
    BENCH_DATABASE,
    BIG_CONVERSATION_ID,
    BIG_CONVERSATION_MESSAGES,
    PASSWORD,
    SEED_LABELS,
    agent_email,
)
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from omnistream.auth.passwords import Passwords
from omnistream.config import Settings
from omnistream.db.migrate import migrate

TARGET_S = 180.0
CONVERSATIONS = 1_000_000
MESSAGES = 10_000_000
CONTACTS = 1_000_000
ROLES = (("admin", 2), ("supervisor", 18), ("agent", 180))
BULK_TABLES = ("contacts", "conversations", "messages")

DAY = 86_400
WINDOW = 90 * DAY  # last_message_at is spread over the last 90 days

# --- COPY binary format: rows are built from pre-encoded fields (4-byte length + data).
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension
COPY_TRAILER = b"\xff\xff"
PG_EPOCH = 946_684_800  # 2000-01-01 in Unix seconds; timestamptz is int64 microseconds since
NULL = b"\xff\xff\xff\xff"
U16 = b"\x00\x00\x00\x10"  # the length of a uuid
I32 = struct.Struct(">i")
TS = struct.Struct(">iq")
TS2 = struct.Struct(">iqiq")
TS3 = struct.Struct(">iqiqiq")
TS4 = struct.Struct(">iqiqiqiq")
INT4 = struct.Struct(">ii")
BULK_ID = struct.Struct(">4sIQ")


def sized(value: bytes) -> bytes:
    return I32.pack(len(value)) + value


def text(value: str | None) -> bytes:
    return NULL if value is None else sized(value.encode())


def ts(t: int) -> bytes:
    """A Unix time (s) as a timestamptz field."""
    return TS.pack(8, (t - PG_EPOCH) * 1_000_000)


# Bulk ids grow with the row number (a fixed per-table prefix, the number, then a 64-bit hash
# of it), so the primary keys are appended in order during COPY; no query orders by id alone.
CONTACT_PREFIX, CONVERSATION_PREFIX, MESSAGE_PREFIX = (
    bytes.fromhex("5c0a7ac7"),
    bytes.fromhex("7c0f1e55"),
    bytes.fromhex("3e55a9e0"),
)
_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def bulk_id(prefix: bytes, n: int) -> bytes:
    return BULK_ID.pack(prefix, n, (n * _GOLDEN) & _MASK64)


# Rows are written grouped by channel, in the channels' sort order (email conversations and
# their messages first, whatsapp last) and channel_message_id grows with the message number,
# so the unique (channel, channel_message_id) index sorts presorted input (one pass).
CHANNELS = ("email", "instagram", "messenger", "whatsapp")
WHATSAPP = 3
CHANNEL_SHARES = (0.10, 0.20, 0.15, 0.55)
CHANNEL_FIELD = [text(c) for c in CHANNELS]


def channel_bounds(total: int) -> list[int]:
    """Conversation numbers where each channel's block ends."""
    bounds, acc = [], 0.0
    for share in CHANNEL_SHARES:
        acc += share
        bounds.append(round(acc * total))
    bounds[-1] = total
    return bounds


# channel_message_id per channel: prefix + the global message number (12 hex) + suffix.
CMID = (("<", "@mail.example.com>"), ("aWdfZAG", ""), ("m_", ""), ("wamid.HBgM", ""))
LAST_OUTBOUND_STATUS = ("read",) * 6 + ("delivered",) * 3 + ("sent",)
STATUS_FIELD = {s: text(s) for s in ("open", "resolved", "received", "read", "delivered", "sent")}
# Conversation priority (migration 0026) by the conversation's number (no random draw, so the
# other columns stay as they were): 70 % none, 12 % low, 10 % medium, 6 % high, 2 % urgent.
PRIORITY_FIELD = [
    text(p)
    for p, share in (("none", 70), ("low", 12), ("medium", 10), ("high", 6), ("urgent", 2))
    for _ in range(share)
]

DIVISIONS = (
    "Sales", "Support", "Billing", "Returns", "Shipping", "Onboarding", "Enterprise", "Retail",
    "Partnerships", "VIP", "Technical", "Claims", "Loyalty", "Wholesale", "Marketing",
    "Logistics", "Payments", "Accounts", "Complaints", "Feedback",
)  # fmt: skip
FIRST = (
    "Adi", "Budi", "Citra", "Dewi", "Eko", "Fitri", "Gilang", "Hana", "Indra", "Joko", "Kartika",
    "Lina", "Maya", "Nanda", "Oki", "Putri", "Rizky", "Sari", "Taufik", "Umar", "Vina", "Wulan",
    "Yusuf", "Zahra", "Alice", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Iris",
    "Jack", "Kate", "Liam", "Mia", "Noah", "Olivia", "Peter", "Quinn", "Rosa", "Sam", "Tara",
    "Lucía", "José", "Zoë", "Renée",
)  # fmt: skip
LAST = (
    "Santoso", "Wijaya", "Pratama", "Saputra", "Lestari", "Hidayat", "Nugroho", "Kusuma",
    "Siregar", "Halim", "Tan", "Lim", "Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans",
    "Clarke", "Walker", "Garcia", "Martin", "Müller", "Rossi", "Silva", "Costa", "Khan", "Ali",
    "Nguyen", "Tanaka",
)  # fmt: skip
_IN_OPEN = (
    "Hi,", "Hello,", "Good morning,", "Halo kak,", "Hey there,", "Excuse me,", "Hi team,",
    "Selamat siang,", "Dear support,", "Hi again,", "Quick question:", "Sorry to bother you,",
)  # fmt: skip
_IN_BODY = (
    "where is my order #{n}? It was supposed to arrive yesterday.",
    "I was charged twice for invoice {n}, can you check?",
    "can I change the delivery address for order {n}?",
    "the product arrived damaged 😞 what should I do?",
    "do you have this in size M?",
    "is the promo still valid this weekend?",
    "I need a refund for order {n}.",
    "my account is locked after the last update.",
    "how long does shipping to Surabaya take?",
    "can I pay by bank transfer instead of card?",
    "the tracking number {n} does not work.",
    "I want to cancel my subscription.",
    "thanks, that solved it!",
    "ok, I'll wait for the courier.",
    "can you send me the invoice as PDF?",
    "apakah barang ini ready stock?",
    "is there a store near Jakarta Selatan?",
    "I sent the photos you asked for.",
    "still waiting for an answer about ticket {n}…",
    "I have been trying to reach someone for three days about order {n}; the app keeps "
    "showing 'processing' and nobody answers the phone. Please tell me what is going on, "
    "otherwise I will have to open a dispute with my bank.",
)
_OUT_OPEN = (
    "Hi!", "Hello,", "Thanks for reaching out.", "Halo kak,", "Good news:", "Sorry for the wait.",
    "Thank you for your patience.", "Got it.", "Hi, this is the support team.", "Understood.",
    "Thanks for the details.", "Apologies for the trouble.",
)  # fmt: skip
_OUT_BODY = (
    "your order #{n} left our warehouse this morning.",
    "I have refunded the duplicate charge on invoice {n}.",
    "the address of order {n} is updated.",
    "could you send a photo of the damaged item?",
    "size M is back in stock from Friday.",
    "yes, the promo runs until Sunday midnight.",
    "the refund for order {n} will reach your account in 3-5 working days.",
    "I have unlocked your account; please try again.",
    "shipping to Surabaya takes 2-3 days.",
    "bank transfer is fine, here are the details.",
    "the courier's tracking page for {n} updates within 24 hours.",
    "your subscription is cancelled; you keep access until the end of the month.",
    "glad to hear that! Anything else I can help with?",
    "the courier will call you before delivery.",
    "I have emailed you the invoice.",
    "barangnya ready ya kak, silakan checkout 🙏",
    "our Jakarta Selatan store is at Jl. Senopati 12.",
    "thanks, I have forwarded the photos to our quality team.",
    "ticket {n} is escalated to a supervisor.",
    "I am very sorry about the delay with order {n}. I checked with the warehouse: the parcel "
    "was held at the sorting centre because of a label problem and has now been relabelled; "
    "you will receive a new tracking link by email today.",
)
PREVIEW_MAX = 200  # as omnistream.messages.presentation.PREVIEW_MAX


def _texts(openers: Sequence[str], bodies: Sequence[str]) -> list[str]:
    out = []
    for i, body in enumerate(bodies):
        for j, opener in enumerate(openers):
            out.append(f"{opener} {body.format(n=40_000 + i * 131 + j * 17)}")
    return out


def _preview(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= PREVIEW_MAX else value[: PREVIEW_MAX - 1] + "…"


IN_TEXTS, OUT_TEXTS = _texts(_IN_OPEN, _IN_BODY), _texts(_OUT_OPEN, _OUT_BODY)
TEXTS = len(IN_TEXTS)
assert len(OUT_TEXTS) == TEXTS
# jsonb in binary COPY: version byte 1, then the JSON text
IN_CONTENT = [sized(b"\x01" + orjson.dumps({"text": t})) for t in IN_TEXTS]
OUT_CONTENT = [sized(b"\x01" + orjson.dumps({"text": t})) for t in OUT_TEXTS]
IN_PREVIEW = [text(_preview(t)) for t in IN_TEXTS]
OUT_PREVIEW = [text(_preview(t)) for t in OUT_TEXTS]


# --------------------------------------------------------------------------- the plan


@dataclass
class Agent:
    id: bytes
    role: str
    email: str
    name: str
    divisions: list[int]


@dataclass
class Accounts:
    """Divisions, agents and integration accounts, with who may be assigned what."""

    divisions: list[bytes]
    agents: list[Agent]
    integrations: list[tuple[bytes, bytes]]  # (integration id, account id) per channel
    pool_by_division: list[list[bytes]]  # uuid fields of the agent-role members
    all_agents: list[bytes]  # uuid fields of every agent-role agent

    def login(self, role: str) -> Agent:
        email = agent_email(role, 1)
        return next(a for a in self.agents if a.email == email)


def make_accounts(rng: random.Random) -> Accounts:
    def new_id() -> bytes:
        return rng.getrandbits(128).to_bytes(16, "big")

    divisions = [new_id() for _ in DIVISIONS]
    agents = []
    for role, count in ROLES:
        for number in range(1, count + 1):
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            member_of = sorted(rng.sample(range(len(DIVISIONS)), rng.randint(1, 3)))
            agents.append(Agent(new_id(), role, agent_email(role, number), name, member_of))
    pool_by_division: list[list[bytes]] = [[] for _ in DIVISIONS]
    for agent in agents:
        if agent.role == "agent":
            for d in agent.divisions:
                pool_by_division[d].append(U16 + agent.id)
    all_agents = [U16 + a.id for a in agents if a.role == "agent"]
    for pool in pool_by_division:
        if not pool:
            pool.extend(all_agents)
    integrations = [(new_id(), new_id()) for _ in CHANNELS]
    return Accounts(divisions, agents, integrations, pool_by_division, all_agents)


@dataclass
class Sizes:
    conversations: int
    messages: int
    contacts: int

    @property
    def ordinary_conversations(self) -> int:
        return self.conversations - 1

    @property
    def ordinary_messages(self) -> int:
        return self.messages - BIG_CONVERSATION_MESSAGES


# A conversation as the message stream needs it:
# (id, channel, assignee's uuid field or NULL, messages, first message time, seconds between
#  messages, outbound bit mask, text base, status of the last outbound message)
ConvPlan = tuple[bytes, int, bytes, int, int, int, int, int, str]
CONVERSATION_ROW = b"\x00\x0f"  # 15 fields


@dataclass
class Plan:
    """Conversations are planned in chunks by the conversation stream; messages follow them."""

    sizes: Sizes
    accounts: Accounts
    now: int
    rng: random.Random
    chunks: list[list[ConvPlan] | None] = field(default_factory=list)
    done: bool = False
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _d_prev: int = 0
    big_conversation: tuple[bytes, ConvPlan] = field(init=False)

    def __post_init__(self) -> None:
        self.big_conversation = self.big()

    async def publish(self, chunk: list[ConvPlan] | None) -> None:
        async with self.changed:
            if chunk is None:
                self.done = True
            else:
                self.chunks.append(chunk)
            self.changed.notify_all()

    async def take(self, i: int) -> list[ConvPlan] | None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.done or len(self.chunks) > i)
        if i >= len(self.chunks):
            return None
        chunk, self.chunks[i] = self.chunks[i], None  # free it once the messages are out
        return chunk

    def conversations(self, start: int, stop: int, out_rows: list[bytes]) -> list[ConvPlan]:
        """COPY rows (appended to out_rows) and message plans of conversations [start, stop)."""
        r, getrandbits, log = self.rng.random, self.rng.getrandbits, math.log
        total, msgs = self.sizes.ordinary_conversations, self.sizes.ordinary_messages
        contacts, now = self.sizes.contacts, self.now
        acc = self.accounts
        divisions = [U16 + d for d in acc.divisions]
        pools, anyone = acc.pool_by_division, acc.all_agents
        accounts = [U16 + a for _, a in acc.integrations]
        n_div = len(divisions)
        row = out_rows.extend
        plans: list[ConvPlan] = []
        plan = plans.append
        ts_, ts2, int4 = TS.pack, TS2.pack, INT4.pack
        opened, resolved_ = STATUS_FIELD["open"], STATUS_FIELD["resolved"]
        d_prev = self._d_prev
        bounds, ch = channel_bounds(total), 0
        for j in range(start, stop):
            # messages: exactly `msgs` over `total` conversations, 1..18 each, mean ~10
            base = ((j + 1) * msgs) // total - (j * msgs) // total
            d = 0 if j == total - 1 else int(r() * 9)
            n = base + d - d_prev
            d_prev = d
            while j >= bounds[ch]:
                ch += 1
            is_open = r() < 0.30
            if r() < 0.90:
                k = int(r() * n_div)
                division, pool = divisions[k], pools[k]
            else:
                division, pool = NULL, anyone
            agent = pool[int(r() * len(pool))] if r() < (0.60 if is_open else 0.92) else NULL
            if is_open:  # recent-biased: mean 3 days, at most 89
                age = min(WINDOW - DAY, int(-log(1.0 - r()) * 3 * DAY))
            else:
                age = 3600 + int(r() * (WINDOW - 3600))
            last = now - age
            gap = 20 + int(r() * r() * 3600)
            created = last - (n - 1) * gap
            unread = min(n, 1 + int(r() * 3)) if is_open and r() < 0.20 else 0
            out = getrandbits(n) & ~1  # bit j set: message j is outbound; the first is inbound
            if unread:
                out &= ~(((1 << unread) - 1) << (n - unread))
                if n - unread - 1 >= 1:
                    out |= 1 << (n - unread - 1)
            if not is_open and n > 1:
                out |= 1 << (n - 1)  # an agent wrote last, then resolved
            last_in = created + (((((1 << n) - 1) & ~out).bit_length()) - 1) * gap
            tb = int(r() * TEXTS)
            ti = (tb + n - 1) % TEXTS
            preview = OUT_PREVIEW[ti] if (out >> (n - 1)) & 1 else IN_PREVIEW[ti]
            cid = bulk_id(CONVERSATION_PREFIX, j)
            contact = j if j < contacts and r() >= 0.10 else int(r() * contacts)
            last_us = (last - PG_EPOCH) * 1_000_000
            if is_open:
                status, ending = opened, ts_(8, last_us) + NULL
            else:
                resolved_us = last_us + (60 + int(r() * 1800)) * 1_000_000
                status, ending = resolved_, ts2(8, resolved_us, 8, resolved_us)
            row(
                (
                    CONVERSATION_ROW,
                    U16,
                    cid,
                    U16,
                    bulk_id(CONTACT_PREFIX, contact),
                    agent,
                    division,
                    CHANNEL_FIELD[ch],
                    accounts[ch],
                    status,
                    ts_(8, last_us),
                    preview,
                    ts_(8, (last_in - PG_EPOCH) * 1_000_000),
                    int4(4, unread),
                    ts_(8, (created - PG_EPOCH) * 1_000_000),
                    ending,  # updated_at, resolved_at
                    PRIORITY_FIELD[j * 37 % 100],
                )
            )
            plan((cid, ch, agent, n, created, gap, out, tb, LAST_OUTBOUND_STATUS[int(r() * 10)]))
        self._d_prev = d_prev
        return plans

    def big(self) -> tuple[bytes, ConvPlan]:
        """The conversation with 10,000 messages: open, whatsapp, assigned to agent-001."""
        n = BIG_CONVERSATION_MESSAGES
        agent = self.accounts.login("agent")
        gap = (WINDOW - 600) // n
        last = self.now - 120
        created = last - (n - 1) * gap
        unread = 2
        out = self.rng.getrandbits(n) & ~1
        out &= ~(((1 << unread) - 1) << (n - unread))
        out |= 1 << (n - unread - 1)
        tb = 7
        cid = BIG_CONVERSATION_ID.bytes
        row = b"".join(
            (
                CONVERSATION_ROW,
                U16 + cid,
                U16 + bulk_id(CONTACT_PREFIX, self.sizes.contacts - 1),
                U16 + agent.id,
                U16 + self.accounts.divisions[agent.divisions[0]],
                CHANNEL_FIELD[WHATSAPP],
                U16 + self.accounts.integrations[WHATSAPP][1],
                STATUS_FIELD["open"],
                ts(last),
                IN_PREVIEW[(tb + n - 1) % TEXTS],
                ts(last),  # the last two messages are inbound (unread)
                INT4.pack(4, unread),
                ts(created),
                ts(last),
                NULL,
                PRIORITY_FIELD[0],  # none
            )
        )
        return row, (cid, WHATSAPP, U16 + agent.id, n, created, gap, out, tb, "read")


MESSAGE_ROW = b"\x00\x0d"  # 13 fields
INBOUND_TEXT = text("inbound") + text("text")
OUTBOUND_TEXT = text("outbound") + text("text")
RECEIVED_NO_SENDER = STATUS_FIELD["received"] + NULL
NULL3 = NULL * 3


def render_messages(
    conv: ConvPlan, first: int, stop: int, k: int, row: Callable[[Sequence[bytes]], Any]
) -> int:
    """COPY rows of messages first..stop-1 of one conversation; k numbers the message."""
    cid, ch, sender, n, created, gap, out, tb, last_status = conv
    pre_cm, post_cm = CMID[ch]
    conv_fields = U16 + cid + CHANNEL_FIELD[ch] + I32.pack(len(pre_cm) + 12 + len(post_cm))
    conv_fields += pre_cm.encode()
    post = post_cm.encode()
    base, step = (created - PG_EPOCH) * 1_000_000, gap * 1_000_000
    second, half_gap = 1_000_000, step // 2
    pack_id, ts1, ts2, ts3, ts4 = BULK_ID.pack, TS.pack, TS2.pack, TS3.pack, TS4.pack
    for j in range(first, stop):
        us = base + j * step
        ti = (tb + j) % TEXTS
        mid = pack_id(MESSAGE_PREFIX, k, (k * _GOLDEN) & _MASK64)
        if (out >> j) & 1:
            status = "read" if j < n - 1 else last_status
            if status == "read":
                times = ts4(8, us, 8, us, 8, us + second, 8, us + second + half_gap)
            elif status == "delivered":
                times = ts3(8, us, 8, us, 8, us + second) + NULL
            else:
                times = ts2(8, us, 8, us) + NULL + NULL
            row(
                (
                    MESSAGE_ROW,
                    U16,
                    mid,
                    conv_fields,
                    b"%012X" % k,
                    post,
                    OUTBOUND_TEXT,
                    OUT_CONTENT[ti],
                    STATUS_FIELD[status],
                    sender,
                    times,
                )
            )
        else:
            row(
                (
                    MESSAGE_ROW,
                    U16,
                    mid,
                    conv_fields,
                    b"%012X" % k,
                    post,
                    INBOUND_TEXT,
                    IN_CONTENT[ti],
                    RECEIVED_NO_SENDER,
                    ts1(8, us),
                    NULL3,
                )
            )
        k += 1
    return k


MESSAGE_COLUMNS = (
    "id", "conversation_id", "channel", "channel_message_id", "direction", "type", "content",
    "status", "sender_agent_id", "created_at", "sent_at", "delivered_at", "read_at",
)  # fmt: skip
CONVERSATION_COLUMNS = (
    "id", "contact_id", "assigned_agent_id", "division_id", "channel", "integration_account_id",
    "status", "last_message_at", "last_message_preview", "last_inbound_at", "unread_count",
    "created_at", "updated_at", "resolved_at", "priority",
)  # fmt: skip
AGENT_COLUMNS = (
    "id", "email", "password_hash", "name", "role", "is_active", "created_at", "updated_at",
)  # fmt: skip
CONTACT_COLUMNS = ("id", "phone", "email", "name", "profile_pic_url", "created_at", "updated_at")
PLAN_CHUNK = 10_000  # conversations per plan chunk (and per conversations COPY chunk)
MESSAGE_BATCH = 500  # conversations per messages COPY chunk (~5,000 rows, ~1.2 MB)


# --------------------------------------------------------------------------- streams


@dataclass
class Bars:
    progress: Progress
    tasks: dict[str, TaskID]

    def advance(self, name: str, rows: int) -> None:
        self.progress.advance(self.tasks[name], rows)


async def conversation_stream(plan: Plan, bars: Bars) -> AsyncIterator[bytes]:
    big_row, _ = plan.big_conversation
    yield COPY_HEADER + big_row
    bars.advance("conversations", 1)
    total = plan.sizes.ordinary_conversations
    for start in range(0, total, PLAN_CHUNK):
        stop = min(total, start + PLAN_CHUNK)
        rows: list[bytes] = []
        plans = plan.conversations(start, stop, rows)
        await plan.publish(plans)
        bars.advance("conversations", stop - start)
        yield b"".join(rows)
        await asyncio.sleep(0)  # let the messages stream run
    await plan.publish(None)
    yield COPY_TRAILER


async def message_stream(plan: Plan, bars: Bars) -> AsyncIterator[bytes]:
    ordinary = plan.sizes.ordinary_messages
    big_n = BIG_CONVERSATION_MESSAGES
    big = plan.big_conversation[1]
    # The big conversation's messages are spread evenly through the stream (and so through
    # the heap), as they would be after 90 days of traffic.
    # Within the whatsapp block only (the last one; the big conversation is a whatsapp one).
    total = plan.sizes.ordinary_conversations
    start = (channel_bounds(total)[WHATSAPP - 1] * ordinary) // total
    big_at = [start + (b * (ordinary - start)) // big_n for b in range(big_n)]
    b = 0  # next big message
    k = 0  # global message number (ids, channel_message_id)
    emitted = 0  # ordinary messages so far
    i = 0
    yield COPY_HEADER
    while (chunk := await plan.take(i)) is not None:
        i += 1
        for s in range(0, len(chunk), MESSAGE_BATCH):
            rows: list[bytes] = []
            row = rows.extend
            k0 = k
            for conv in chunk[s : s + MESSAGE_BATCH]:
                while b < big_n and conv[1] == WHATSAPP and big_at[b] <= emitted:
                    k = render_messages(big, b, b + 1, k, row)
                    b += 1
                k = render_messages(conv, 0, conv[3], k, row)
                emitted += conv[3]
            bars.advance("messages", k - k0)
            yield b"".join(rows)
    rows = []
    k0 = k
    while b < big_n:
        k = render_messages(big, b, b + 1, k, rows.extend)
        b += 1
    bars.advance("messages", k - k0)
    yield b"".join(rows) + COPY_TRAILER


def _slug(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return folded.lower()


FIRST_SLUG = [_slug(n) for n in FIRST]
LAST_SLUG = [_slug(n) for n in LAST]
CONTACT_CHUNK = 10_000


CONTACT_ROW = b"\x00\x07"  # 7 fields


async def contact_stream(
    sizes: Sizes, now: int, rng: random.Random, bars: Bars
) -> AsyncIterator[bytes]:
    """Unique phones (a bijection of the row number), names, some emails and pictures."""
    r = rng.random
    first = [n.encode() for n in FIRST]
    last = [n.encode() for n in LAST]
    n_first, n_last = len(FIRST), len(LAST)
    oldest = now - 95 * DAY  # before every conversation of the 90-day window
    ts2 = TS2.pack
    yield COPY_HEADER
    for start in range(0, sizes.contacts, CONTACT_CHUNK):
        stop = min(sizes.contacts, start + CONTACT_CHUNK)
        rows: list[bytes] = []
        row = rows.extend
        for c in range(start, stop):
            p = (c * 7_368_787 + 1_234_567) % 1_000_000_000
            x = r()
            phone = (
                b"%012d" % (628_000_000_000 + p)
                if x < 0.8
                else (
                    b"%011d" % (10_000_000_000 + p) if x < 0.9 else b"%012d" % (447_000_000_000 + p)
                )
            )
            fi, li = int(r() * n_first), int(r() * n_last)
            email = (
                text(f"{FIRST_SLUG[fi]}.{LAST_SLUG[li]}{c}@mail.example.com")
                if r() < 0.25
                else NULL
            )
            pic = text(f"https://cdn.example.com/avatars/{c:x}.jpg") if r() < 0.10 else NULL
            created = (oldest - int(r() * 400 * DAY) - PG_EPOCH) * 1_000_000
            name = first[fi] + b" " + last[li]
            row(
                (
                    CONTACT_ROW,
                    U16,
                    bulk_id(CONTACT_PREFIX, c),
                    I32.pack(len(phone)),
                    phone,
                    email,
                    I32.pack(len(name)),
                    name,
                    pic,
                    ts2(8, created, 8, created),
                )
            )
        bars.advance("contacts", stop - start)
        yield b"".join(rows)
        await asyncio.sleep(0)
    yield COPY_TRAILER


# --------------------------------------------------------------------------- database steps

SESSION_SQL = """
SET session_replication_role = replica;   -- no FK triggers during COPY
SET synchronous_commit = off;
SET maintenance_work_mem = '2GB';         -- index sorts stay in memory
SET max_parallel_maintenance_workers = 0; -- two connections build indexes side by side
SET synchronize_seqscans = off;          -- index builds read the heap in order (presorted)
SET jit = off;
"""
SECONDARY_INDEXES = """
SELECT i.tablename, i.indexname, i.indexdef
  FROM pg_indexes i
 WHERE i.schemaname = 'public' AND i.tablename = ANY($1::text[])
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                    WHERE k.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass)
 ORDER BY i.tablename, i.indexname
"""
ALL_INDEXES = """
SELECT tablename, indexname, indexdef FROM pg_indexes
 WHERE schemaname = 'public' AND tablename = ANY($1::text[]) ORDER BY tablename, indexname
"""
REFERENCING = """
SELECT DISTINCT conrelid::regclass::text AS name FROM pg_constraint
 WHERE contype = 'f' AND confrelid = $1::regclass
"""


async def check_empty(conn: asyncpg.Connection[Any], replace: bool) -> None:
    tables = ("agents", "divisions", *BULK_TABLES)
    busy = [t for t in tables if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {t})")]
    if not busy:
        return
    if not replace:
        raise harness.BenchError(
            f"the database already has rows in {', '.join(busy)}; pass --replace to empty it "
            "(TRUNCATE ... CASCADE of every table)"
        )
    names = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename <> 'schema_migrations'"
    )
    await conn.execute(
        "TRUNCATE " + ", ".join(f'"{r["tablename"]}"' for r in names) + " RESTART IDENTITY CASCADE"
    )


async def load_accounts(
    conn: asyncpg.Connection[Any], acc: Accounts, password_hash: str, now: int
) -> dict[str, int]:
    def u(value: bytes) -> UUID:
        return UUID(bytes=value)

    at = datetime.fromtimestamp(now - 200 * DAY, UTC)
    divisions = [
        (u(d), name, f"The {name} team", at, at)
        for d, name in zip(acc.divisions, DIVISIONS, strict=True)
    ]
    agents = [(u(a.id), a.email, password_hash, a.name, a.role, True, at, at) for a in acc.agents]
    members = [(u(a.id), u(acc.divisions[d]), at) for a in acc.agents for d in a.divisions]
    integrations = [
        (u(i), ch, f"{ch.title()} main", at, at)
        for (i, _), ch in zip(acc.integrations, CHANNELS, strict=True)
    ]
    accounts = [
        (u(a), u(i), ch, f"{ch}-account-{n}", f"OmniStream {ch.title()}", True, at)
        for n, ((i, a), ch) in enumerate(zip(acc.integrations, CHANNELS, strict=True))
    ]
    async with conn.transaction():
        await conn.copy_records_to_table(
            "divisions",
            records=divisions,
            columns=("id", "name", "description", "created_at", "updated_at"),
        )
        await conn.copy_records_to_table(
            "agents",
            records=agents,
            columns=AGENT_COLUMNS,
        )
        await conn.copy_records_to_table(
            "agent_divisions", records=members, columns=("agent_id", "division_id", "created_at")
        )
        await conn.copy_records_to_table(
            "integrations",
            records=integrations,
            columns=("id", "channel", "name", "created_at", "updated_at"),
        )
        await conn.copy_records_to_table(
            "integration_accounts",
            records=accounts,
            columns=(
                "id",
                "integration_id",
                "channel",  # the trigger that fills it is off during COPY (replica)
                "external_id",
                "display_name",
                "is_default",
                "created_at",
            ),
        )
    return {
        "divisions": len(divisions),
        "agents": len(agents),
        "agent_divisions": len(members),
        "integrations": len(integrations),
        "integration_accounts": len(accounts),
    }


def _copied(status: str) -> int:
    return int(status.rsplit(maxsplit=1)[-1])


@dataclass
class Clock:
    """Start / end of each step relative to the run's start (steps overlap)."""

    t0: float = field(default_factory=time.perf_counter)
    steps: dict[str, dict[str, float]] = field(default_factory=dict)

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def step(self, name: str) -> _Step:
        return _Step(self, name)


class _Step:
    def __init__(self, clock: Clock, name: str) -> None:
        self.clock, self.name = clock, name

    def __enter__(self) -> None:
        self.start = self.clock.now()

    def __exit__(self, *exc: object) -> None:
        end = self.clock.now()
        self.clock.steps[self.name] = {
            "start_s": round(self.start, 2),
            "end_s": round(end, 2),
            "seconds": round(end - self.start, 2),
        }


async def build_indexes(
    conns: Sequence[asyncpg.Connection[Any]],
    statements: Sequence[tuple[str, str]],
    clock: Clock,
    bars: Bars,
) -> None:
    """Run CREATE INDEX statements over the connections, in order, one each at a time.

    (Serial builds side by side: a parallel worker made the 10M-row sort slower here.)"""
    queue = list(statements)

    async def worker(conn: asyncpg.Connection[Any]) -> None:
        while queue:
            name, sql = queue.pop(0)
            with clock.step(f"index {name}"):
                await conn.execute(sql)
            bars.advance("indexes", 1)

    await asyncio.gather(*(worker(c) for c in conns))


def _order(indexes: list[asyncpg.Record], table: str) -> list[tuple[str, str]]:
    """Indexes of a table, the costly sorts first (multi-column and text keys)."""
    rows = [(r["indexname"], r["indexdef"]) for r in indexes if r["tablename"] == table]
    return sorted(rows, key=lambda r: (" WHERE " in r[1], -r[1].count(",")))


DISTRIBUTION = """
SELECT count(*) AS conversations,
       round(avg((status = 'resolved')::int), 4) AS resolved_share,
       round(avg((assigned_agent_id IS NULL)::int) FILTER (WHERE status = 'open'), 4)
           AS unassigned_share_of_open,
       round(avg((division_id IS NOT NULL)::int), 4) AS division_share,
       round(avg((unread_count > 0)::int) FILTER (WHERE status = 'open'), 4)
           AS unread_share_of_open,
       round(avg((priority <> 'none')::int), 4) AS priority_share,
       min(last_message_at) AS oldest_last_message_at,
       max(last_message_at) AS newest_last_message_at,
       (SELECT jsonb_object_agg(channel, n) FROM (SELECT channel, count(*) AS n
          FROM conversations GROUP BY channel) x) AS channels
  FROM conversations
"""


# Labels (migration 0027), chosen by bytes of the conversation's id (no random draw, the
# other columns unchanged, and the same on every run): byte 15 below LABELLED (of 256, ~20 %)
# gives a label, below SECOND_LABEL (~5 %) a second one; bytes 14 and 13 pick which, by the
# weights of SEED_LABELS. Bulk ids end in a 64-bit hash of the row number, so these bytes are
# even; the shares: Billing ~8.7 %, Shipping ~6.2 %, Refund ~5 %, Complaint ~3 %, VIP
# ~1.5 %, Bug ~0.5 % of the conversations. The label rows copy the conversation's status,
# division and assignee, as the application's writes do.
LABELLED, SECOND_LABEL = 51, 13
SEED_LABELS_SQL = """
INSERT INTO labels (name, colour, description)
SELECT name, colour, 'Seeded by bench/seed.py'
  FROM unnest($1::text[], $2::text[]) AS w(name, colour)
ON CONFLICT DO NOTHING
"""
LABEL_ROWS_SQL = """
INSERT INTO conversation_labels (conversation_id, label_id, added_at, status, division_id,
                                 assigned_agent_id)
SELECT c.id, l.id, c.created_at, c.status, c.division_id, c.assigned_agent_id
  FROM conversations c
 CROSS JOIN LATERAL (SELECT get_byte(uuid_send(c.id), 15) AS share,
                            get_byte(uuid_send(c.id), 14) AS first,
                            get_byte(uuid_send(c.id), 13) AS second) b
  JOIN unnest($1::uuid[], $2::int[], $3::int[]) AS l(id, lo, hi)
    ON (b.share < $4 AND b.first BETWEEN l.lo AND l.hi)
    OR (b.share < $5 AND b.second BETWEEN l.lo AND l.hi)
ON CONFLICT DO NOTHING
"""
LABEL_SHARES = """
SELECT l.name, count(cl.label_id)::int AS conversations
  FROM labels l LEFT JOIN conversation_labels cl ON cl.label_id = l.id
 GROUP BY l.name ORDER BY 2 DESC, 1
"""


async def seed_labels(conn: asyncpg.Connection[Any]) -> dict[str, Any]:
    """The labels step: the labels, then one INSERT ... SELECT of their conversation rows
    (existing ones kept), VACUUM / ANALYZE; per label how many conversations have it."""
    weights, lo = [], 0
    for _, _, weight in SEED_LABELS:
        weights.append((lo, lo + weight - 1))
        lo += weight
    assert lo == 256
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")  # no FK checks
        # A flushed commit: with the seed's synchronous_commit = off, the VACUUM below could
        # not set hint bits yet, nor mark the pages all-visible (index-only counts need it).
        await conn.execute("SET LOCAL synchronous_commit = on")
        await conn.execute(
            SEED_LABELS_SQL, [n for n, _, _ in SEED_LABELS], [c for _, c, _ in SEED_LABELS]
        )
        ids = await conn.fetch(
            "SELECT l.id, w.n FROM unnest($1::text[]) WITH ORDINALITY AS w(name, n) "
            "JOIN labels l ON lower(l.name) = lower(w.name) ORDER BY w.n",
            [n for n, _, _ in SEED_LABELS],
        )
        status = await conn.execute(
            LABEL_ROWS_SQL,
            [r["id"] for r in ids],
            [weights[r["n"] - 1][0] for r in ids],
            [weights[r["n"] - 1][1] for r in ids],
            LABELLED,
            SECOND_LABEL,
        )
    await conn.execute("VACUUM (ANALYZE) labels, conversation_labels")
    shares = await conn.fetch(LABEL_SHARES)
    labelled = await conn.fetchval(
        "SELECT count(DISTINCT conversation_id) FROM conversation_labels"
    )
    return {
        "rows_added": _copied(status),
        "labelled_conversations": labelled,
        "per_label": {r["name"]: r["conversations"] for r in shares},
    }


async def labels_only(args: argparse.Namespace) -> dict[str, Any]:
    """--labels-only: migrate a seeded database and run the labels step on it alone."""
    dsn = args.database_url or harness.with_database(harness.DEFAULT_SERVER, BENCH_DATABASE)
    conn = await harness.connect(dsn)
    try:
        if not await conn.fetchval("SELECT to_regclass('conversations') IS NOT NULL"):
            raise harness.BenchError(f"{harness.shown_dsn(dsn)} is not a seeded database")
        t0 = time.perf_counter()
        applied = await migrate(conn)
        t1 = time.perf_counter()
        labels = await seed_labels(conn)
        t2 = time.perf_counter()
    finally:
        await conn.close()
    return {
        "benchmark": "seed_labels",
        "database": harness.database_name(dsn),
        "database_url": harness.shown_dsn(dsn),
        "migrations_applied": applied,
        "labels": labels,
        "seconds": {"migrate": round(t1 - t0, 2), "labels": round(t2 - t1, 2)},
    }


async def seed(args: argparse.Namespace) -> dict[str, Any]:
    clock = Clock()
    sizes = Sizes(
        conversations=round(CONVERSATIONS * args.scale),
        messages=round(MESSAGES * args.scale),
        contacts=round(CONTACTS * args.scale),
    )
    if sizes.ordinary_messages < sizes.ordinary_conversations or sizes.conversations < 2:
        raise harness.BenchError("--scale is too small for a 10,000-message conversation")
    now = int(time.time())
    rng = random.Random(args.seed)

    with clock.step("create_database"):
        if args.database_url:
            dsn = args.database_url
        else:
            dsn = harness.with_database(harness.DEFAULT_SERVER, BENCH_DATABASE)
            harness.console.log(f"(re)creating the database {BENCH_DATABASE}")
            await harness.recreate_database(harness.DEFAULT_SERVER, BENCH_DATABASE)
    setup = await harness.connect(dsn)
    try:
        machine = await harness.machine_info(setup)
        with clock.step("migrate"):
            applied = await migrate(setup)
            await check_empty(setup, args.replace)
        with clock.step("password_hash"):
            defaults = Settings.model_fields
            hasher = Passwords(
                defaults["argon2_time_cost"].default,
                defaults["argon2_memory_kib"].default,
                defaults["argon2_parallelism"].default,
            )
            password_hash = await hasher.hash(PASSWORD)
        with clock.step("drop_secondary_indexes"):
            before = await setup.fetch(ALL_INDEXES, list(BULK_TABLES))
            secondary = await setup.fetch(SECONDARY_INDEXES, list(BULK_TABLES))
            async with setup.transaction():
                for r in secondary:
                    await setup.execute(f'DROP INDEX "{r["indexname"]}"')
            referencing = [r["name"] for r in await setup.fetch(REFERENCING, "messages")]
    finally:
        await setup.close()

    accounts = make_accounts(rng)
    plan = Plan(sizes, accounts, now, rng)
    conn_a, conn_b = await harness.connect(dsn), await harness.connect(dsn)
    rows: dict[str, int] = {}
    try:
        for conn in (conn_a, conn_b):
            await conn.execute(SESSION_SQL)
        columns = [
            TextColumn("{task.description:<26}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=harness.console, refresh_per_second=4) as progress:
            tasks = {
                "accounts": progress.add_task("agents, divisions, …", total=5),
                "contacts": progress.add_task("contacts", total=sizes.contacts),
                "conversations": progress.add_task("conversations", total=sizes.conversations),
                "messages": progress.add_task("messages (COPY FREEZE)", total=sizes.messages),
                "indexes": progress.add_task("recreate indexes", total=len(secondary)),
                "vacuum": progress.add_task("vacuum / analyze", total=4),
            }
            bars = Bars(progress, tasks)

            async def load_messages() -> None:
                # COPY FREEZE needs the table emptied in the same transaction; the rows are
                # then written frozen and all-visible (no hint-bit writes or VACUUM later).
                with clock.step("load messages"):
                    async with conn_a.transaction():
                        await conn_a.execute("TRUNCATE " + ", ".join(referencing))
                        status = await conn_a.copy_to_table(
                            "messages",
                            source=message_stream(plan, bars),
                            columns=MESSAGE_COLUMNS,
                            format="binary",
                            freeze=True,
                        )
                rows["messages"] = _copied(status)

            async def load_the_rest() -> None:
                with clock.step("load agents, divisions, integrations"):
                    rows.update(await load_accounts(conn_b, accounts, password_hash, now))
                bars.advance("accounts", 5)
                with clock.step("load conversations"):
                    status = await conn_b.copy_to_table(
                        "conversations",
                        source=conversation_stream(plan, bars),
                        columns=CONVERSATION_COLUMNS,
                        format="binary",
                    )
                rows["conversations"] = _copied(status)
                with clock.step("load contacts"):
                    status = await conn_b.copy_to_table(
                        "contacts",
                        source=contact_stream(sizes, now, rng, bars),
                        columns=CONTACT_COLUMNS,
                        format="binary",
                    )
                rows["contacts"] = _copied(status)
                # While messages still load: the indexes of contacts and conversations.
                with clock.step("indexes contacts+conversations"):
                    await build_indexes(
                        [conn_b],
                        _order(secondary, "conversations") + _order(secondary, "contacts"),
                        clock,
                        bars,
                    )

            with clock.step("load"):
                async with asyncio.TaskGroup() as group:
                    group.create_task(load_messages())
                    group.create_task(load_the_rest())
            with clock.step("indexes messages"):
                await build_indexes([conn_a, conn_b], _order(secondary, "messages"), clock, bars)

            async def vacuum(conn: asyncpg.Connection[Any], statements: list[str]) -> None:
                for sql in statements:
                    await conn.execute(sql)
                    bars.advance("vacuum", 1)

            with clock.step("vacuum_analyze"):
                # contacts / conversations were not loaded frozen: VACUUM sets their hint
                # bits and visibility map (autovacuum may be off on this server).
                await asyncio.gather(
                    vacuum(conn_a, ["ANALYZE messages", "VACUUM (ANALYZE) contacts"]),
                    vacuum(
                        conn_b,
                        [
                            "VACUUM (ANALYZE) conversations",
                            "VACUUM (ANALYZE) agents, divisions, agent_divisions, "
                            "integrations, integration_accounts",
                        ],
                    ),
                )

        with clock.step("labels"):
            labels = await seed_labels(conn_a)
        with clock.step("verify"):
            after = await conn_a.fetch(ALL_INDEXES, list(BULK_TABLES))
            big_count = await conn_a.fetchval(
                "SELECT count(*) FROM messages WHERE conversation_id = $1", BIG_CONVERSATION_ID
            )
            distribution = dict(await conn_a.fetchrow(DISTRIBUTION) or {})
            tables = await conn_a.fetch(
                "SELECT relname, relpages, relallvisible, reltuples::bigint AS reltuples, "
                "pg_size_pretty(pg_total_relation_size(oid)) AS total_size "
                "FROM pg_class WHERE relname = ANY($1::text[]) ORDER BY relname",
                list(BULK_TABLES),
            )
    finally:
        await conn_a.close()
        await conn_b.close()

    total = clock.now()
    same_indexes = [tuple(r) for r in before] == [tuple(r) for r in after]
    if big_count != BIG_CONVERSATION_MESSAGES:
        raise harness.BenchError(f"the big conversation has {big_count} messages")
    if not same_indexes:
        raise harness.BenchError("the indexes after the load differ from those before it")
    admin = accounts.login("admin")
    return {
        "benchmark": "seed",
        "database": harness.database_name(dsn),
        "database_url": harness.shown_dsn(dsn),
        "machine": machine,
        "settings": {
            "scale": args.scale,
            "seed": args.seed,
            "connections": 2,
            "migrations_applied": applied,
            "copy": "binary COPY from Python generators (asyncpg copy_to_table); messages with "
            "COPY FREEZE on one connection while agents, conversations, contacts and their "
            "indexes load on the other",
            "session": [line.split("--")[0].strip() for line in SESSION_SQL.strip().splitlines()],
        },
        "rows": dict(sorted(rows.items())),
        "tables": {
            r["relname"]: {
                "pages": r["relpages"],
                "all_visible_pages": r["relallvisible"],
                "total_size": r["total_size"],
            }
            for r in tables
        },
        "distribution": {
            k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in distribution.items()
        }
        | {"channels": orjson.loads(distribution["channels"]) if distribution else None},
        "big_conversation": {"id": str(BIG_CONVERSATION_ID), "messages": big_count},
        "labels": labels,
        "logins": {
            "password": PASSWORD,
            "admin": admin.email,
            "supervisor": accounts.login("supervisor").email,
            "agent": accounts.login("agent").email,
        },
        "indexes_recreated": [r["indexname"] for r in secondary],
        "indexes_identical_after": same_indexes,
        "seconds": {name: step["seconds"] for name, step in clock.steps.items()},
        "timeline": clock.steps,
        "total_s": round(total, 2),
        "target": {"max_s": TARGET_S, "met": total <= TARGET_S},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__)
    parser.add_argument(
        "--database-url",
        default=None,
        help="seed this (existing) database instead of (re)creating "
        f"{BENCH_DATABASE} on {harness.DEFAULT_SERVER.rsplit('/', 1)[0]}",
    )
    parser.add_argument(
        "--replace", action="store_true", help="with --database-url: empty a non-empty database"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full size")
    parser.add_argument("--seed", type=int, default=3, help="random seed")
    parser.add_argument(
        "--labels-only",
        action="store_true",
        help="only migrate an already seeded database and give its conversations labels",
    )
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 10:
        parser.error("--scale must be in (0, 10]")
    return args


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """The seed, then the hello-world reference of a server on the seeded database (after
    the clock stopped: it is not part of the seed's time). --labels-only: the labels step."""
    if args.labels_only:
        return asyncio.run(labels_only(args))
    result = asyncio.run(seed(args))
    dsn = args.database_url or harness.with_database(harness.DEFAULT_SERVER, BENCH_DATABASE)
    with harness.work_folder("omnistream-seed-") as workdir:
        reference = harness.reference_on(dsn, workdir, args.reference_duration)
    return {**result, "reference": reference}


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
