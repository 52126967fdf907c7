"""SQL of conversations. COLUMNS is the one column list every query uses."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from omnistream.conversations.visibility import Scope, visible_sql
from omnistream.db.pool import Conn
from omnistream.kit.enums import PRIORITY_RANK, ConversationStatus, Priority, Role
from omnistream.kit.text import contains_pattern

# The earliest SLA target not met yet: the least of the three (LEAST skips NULLs); the same
# as sla_schedule.due_at, which the SLA filters and sort read (migration 0020).
SLA_DUE_AT = (
    "LEAST(c.sla_first_response_due_at, c.sla_next_response_due_at, c.sla_resolution_due_at)"
)
COLUMN_NAMES = (
    "id", "contact_id", "assigned_agent_id", "division_id", "channel",
    "integration_account_id", "status", "priority", "last_message_at", "last_message_preview",
    "last_inbound_at", "unread_count", "created_at", "updated_at", "resolved_at",
    "campaign_id", "sla_policy_id", "sla_first_response_due_at", "sla_next_response_due_at",
    "sla_resolution_due_at", "sla_due_at", "sla_breached", "snoozed_until", "snoozed_by",
    "labels",
)  # fmt: skip


def labels_of(alias: str) -> str:
    """The conversation's labels as a jsonb array [{id, name, colour}] (by name): a primary
    key range of conversation_labels per row, as conversation_labels_json (migration 0027)
    computes them, for reads (no lock waited for)."""
    return (
        "COALESCE((SELECT jsonb_agg(jsonb_build_object('id', l.id, 'name', l.name, "
        "'colour', l.colour) ORDER BY l.name, l.id) FROM conversation_labels cl "
        f"JOIN labels l ON l.id = cl.label_id WHERE cl.conversation_id = {alias}.id), '[]')"
    )


# ROW_COLUMNS: the conversation's own columns. COLUMNS adds its labels: what every single-row
# read and write returns (payload() needs them), through conversation_labels_json (0027:
# after a row lock it sees label changes the statement's snapshot would miss). Lists select
# ROW_COLUMNS in their branches and add the labels in LIST_ITEM, for the page's rows only.
ROW_COLUMNS = ", ".join(
    f"{SLA_DUE_AT} AS sla_due_at" if name == "sla_due_at" else f"c.{name}"
    for name in COLUMN_NAMES
    if name != "labels"
)
COLUMNS = f"{ROW_COLUMNS}, conversation_labels_json(c.id) AS labels"


async def get(conn: Conn, conversation_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM conversations c WHERE c.id = $1", conversation_id
    )


async def get_visible(
    conn: Conn, scope: Scope, conversation_id: UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM conversations c "
        f"WHERE c.id = $1 AND {visible_sql('c', 2, 3, 4)}{lock}",
        conversation_id,
        *scope.params(),
    )


async def latest_for_contact(
    conn: Conn, contact_id: UUID, channel: str, integration_account_id: UUID | None
) -> asyncpg.Record | None:
    """The contact's most recent conversation on that channel and account (locked)."""
    return await conn.fetchrow(
        f"""
        SELECT {COLUMNS} FROM conversations c
         WHERE c.contact_id = $1 AND c.channel = $2
           AND c.integration_account_id IS NOT DISTINCT FROM $3
         ORDER BY c.last_message_at DESC LIMIT 1 FOR UPDATE
        """,
        contact_id,
        channel,
        integration_account_id,
    )


async def insert(
    conn: Conn,
    contact_id: UUID,
    channel: str,
    integration_account_id: UUID | None,
    division_id: UUID | None = None,
    assigned_agent_id: UUID | None = None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH c AS (INSERT INTO conversations
                          (contact_id, channel, integration_account_id, division_id,
                           assigned_agent_id)
                   VALUES ($1, $2, $3, $4, $5) RETURNING *)
        SELECT {COLUMNS} FROM c
        """,
        contact_id,
        channel,
        integration_account_id,
        division_id,
        assigned_agent_id,
    )
    assert row is not None
    return row


async def set_status(conn: Conn, conversation_id: UUID, status: str) -> asyncpg.Record:
    """Resolve or reopen (a snoozed one too: its snooze ends); resolved_at follows the status."""
    row = await conn.fetchrow(
        f"""
        WITH c AS (UPDATE conversations
                      SET status = $2,
                          resolved_at = CASE WHEN $2 = 'resolved' THEN now() END,
                          snoozed_until = NULL, snoozed_at = NULL, snoozed_by = NULL,
                          updated_at = now()
                    WHERE id = $1 RETURNING *)
        SELECT {COLUMNS} FROM c
        """,
        conversation_id,
        status,
    )
    assert row is not None
    return row


# --- listing --------------------------------------------------------------------------------
# A role's visibility is a union of index-friendly "branches" (equality conditions only), each
# read in (last_message_at, id) order from its index with a LIMIT, then merged. That keeps the
# first page of a 1M-row inbox an index probe per branch instead of a filter over everything.
#
# SLA (docs/sla.md): sla_schedule holds a row per running clock, and its
# sla_schedule_due_idx (due_at, conversation_id) WHERE due_at IS NOT NULL just the open
# conversations with a due time. The SLA filters and sort join it: the filters are ranges on
# due_at (breached: due by now; due soon: due within SLA_DUE_SOON), and sort=sla_due_at reads
# each branch in its order, ascending (most urgent first): the keyset is (due_at, id) with no
# NULLs to place. Neither adds anything to the plain list's query.

SLA_DUE_SOON = timedelta(minutes=30)  # "due soon": due within this from now
SLA_SORT = "sla_due_at"  # the one ascending sort
# Priority (migration 0026): a priority is a branch equality like a status, written as a
# literal (the partial indexes' predicate is then provable). sort=priority reads each
# priority's branches in last_message_at order and merges them by rank: its keyset is
# (priority, last_message_at, id), so a branch ranked above the cursor's priority is done,
# the cursor's own priority continues after (last_message_at, id), and lower ones start over.
PRIORITY_SORT = "priority"
RANK_SQL = f"array_position('{{{','.join(Priority)}}}'::text[], u.priority)"


class Params:
    """Collects positional parameters for a dynamically built statement."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __call__(self, value: object, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


@dataclass(frozen=True)
class ListFilter:
    status: str | None = None
    channel: str | None = None
    assignee: str | UUID | None = None  # "me", "unassigned" or an agent id
    division_id: UUID | None = None
    contact_id: UUID | None = None
    unread_only: bool = False
    q: str | None = None
    phone_patterns: tuple[str, ...] | list[str] = ()  # contacts.service.phone_patterns(q)
    sla: str | None = None  # "breached" or "due_soon"
    priorities: tuple[Priority, ...] = ()  # any of these; () is every priority
    labels: tuple[UUID, ...] = ()  # conversations with any of these labels
    labels_first: bool = False  # few rows of them in view: read those first (_labelled)
    sort: str = "last_message_at"  # or "created_at" (newest first), SLA_SORT, PRIORITY_SORT
    after: tuple[datetime, UUID] | None = None
    after_priority: Priority | None = None  # the cursor's priority with PRIORITY_SORT
    limit: int = 50


NULL = "null"  # a branch field that must be NULL; None means "not constrained"


@dataclass(frozen=True)
class Branch:
    """Equality conditions one index can serve in order."""

    assigned: UUID | str | None = None
    division: UUID | str | None = None
    status: str | None = None
    priority: Priority | None = None

    def sql(self, p: Params, alias: str = "c") -> list[str]:
        """The equalities on `alias`: a conversation, or its conversation_labels rows, which
        carry the same status, division and assignee (not the priority)."""
        conds = []
        for column, value in (("assigned_agent_id", self.assigned), ("division_id", self.division)):
            if value == NULL:
                conds.append(f"{alias}.{column} IS NULL")
            elif value is not None:
                conds.append(f"{alias}.{column} = {p(value, '::uuid')}")
        if self.status:
            conds.append(f"{alias}.status = {p(self.status)}")
        if self.priority is not None and alias == "c":
            conds.append(f"c.priority = '{Priority(self.priority).value}'")
        return conds


def label_ids_sql(label_ids: tuple[UUID, ...] | list[UUID]) -> str:
    """Label ids as literals (validated UUIDs): the planner sees each label's share."""
    return ", ".join(f"'{UUID(str(i))}'::uuid" for i in label_ids)


def _labelled(f: ListFilter, b: Branch, p: Params) -> list[str]:
    """The label filter of one branch, in one of two forms (migration 0027). labels_first
    (labels/queries.py few_rows: at most a few thousand label rows in view): the branch's
    equalities on the label rows too, so PostgreSQL reads the branch's label rows (an index
    range), fetches those conversations and keeps the newest. Otherwise the labels alone:
    its estimate of their share stays right (with the equalities on both sides it counts the
    branch twice and sees almost no match), and it walks the branch's index newest first,
    probing the label's primary key per row until the page is full (~50 / share rows)."""
    if not f.labels:
        return []
    conds = ["l.conversation_id = c.id", f"l.label_id IN ({label_ids_sql(f.labels)})"]
    if f.labels_first:
        conds += b.sql(p, "l")
    return [f"EXISTS (SELECT 1 FROM conversation_labels l WHERE {' AND '.join(conds)})"]


def visibility_branches(scope: Scope) -> list[Branch]:
    if scope.role is Role.ADMIN:
        return [Branch()]
    pools = [Branch(division=d) for d in sorted(scope.division_ids)] + [Branch(division=NULL)]
    if scope.role is Role.SUPERVISOR:
        return pools
    return [Branch(assigned=scope.agent_id)] + [replace(b, assigned=NULL) for b in pools]


def _pin(branches: list[Branch], field: str, value: UUID | str) -> list[Branch]:
    """Constrain `field` to value: free branches take it, conflicting ones are dropped."""
    out = []
    for b in branches:
        current = getattr(b, field)
        if current is None:
            out.append(
                replace(b, assigned=value) if field == "assigned" else replace(b, division=value)
            )
        elif current == value:
            out.append(b)
    return out


def list_branches(scope: Scope, f: ListFilter) -> list[Branch]:
    branches = visibility_branches(scope)
    if f.assignee is not None:
        target: UUID | str = f.assignee
        if f.assignee == "me":
            target = scope.agent_id
        elif f.assignee == "unassigned":
            target = NULL
        branches = _pin(branches, "assigned", target)
    if f.division_id is not None:
        branches = _pin(branches, "division", f.division_id)
    statuses = [f.status] if f.status else list(ConversationStatus)
    if f.sla or f.sort == SLA_SORT:
        statuses = [s for s in statuses if s == "open"]  # only open conversations have clocks
    branches = [replace(b, status=s) for b in branches for s in statuses]
    priorities = list(f.priorities)
    if f.sort == PRIORITY_SORT:
        priorities = sorted(priorities or Priority, key=PRIORITY_RANK.__getitem__, reverse=True)
        if f.after_priority is not None:  # ranks above the cursor's were read to the end
            top = PRIORITY_RANK[f.after_priority]
            priorities = [v for v in priorities if PRIORITY_RANK[v] <= top]
    if not priorities:
        return branches
    return [replace(b, priority=v) for b in branches for v in priorities]


def _keyset(f: ListFilter, b: Branch, p: Params) -> list[str]:
    """After the cursor: (sort key, id) past it; with PRIORITY_SORT only in the cursor's
    own priority (_branches dropped the ranks above it; those below start from the top)."""
    if not f.after or (f.sort == PRIORITY_SORT and b.priority != f.after_priority):
        return []
    op = ">" if f.sort == SLA_SORT else "<"
    return [f"({_sort_key(f)}) {op} ({p(f.after[0], '::timestamptz')}, {p(f.after[1], '::uuid')})"]


def extra_filters(f: ListFilter, p: Params) -> list[str]:
    conds = []
    if f.channel:
        conds.append(f"c.channel = {p(f.channel)}")
    if f.contact_id:
        conds.append(f"c.contact_id = {p(f.contact_id, '::uuid')}")
    if f.unread_only:
        conds.append("c.unread_count > 0")
    pattern = contains_pattern(f.q)
    if pattern:
        like = p(pattern)
        # The contacts search's patterns: "0812..." finds "62812..." (the default region).
        phones = list(f.phone_patterns)
        phone = f" OR k.phone LIKE ANY({p(phones, '::text[]')})" if phones else ""
        conds.append(
            f"(c.last_message_preview ILIKE {like} OR EXISTS (SELECT 1 FROM contacts k "
            f"WHERE k.id = c.contact_id AND (k.name ILIKE {like}{phone})))"
        )
    if f.sla == "breached":
        conds.append("s.due_at <= now()")
    elif f.sla == "due_soon":
        conds.append(f"s.due_at > now() AND s.due_at <= now() + {p(SLA_DUE_SOON, '::interval')}")
    if f.sort == SLA_SORT:
        conds.append("s.due_at IS NOT NULL")
    return conds


def _source(f: ListFilter) -> str:
    """The conversations, joined to their SLA schedule when an SLA filter or sort needs it."""
    if f.sla or f.sort == SLA_SORT:
        return "conversations c JOIN sla_schedule s ON s.conversation_id = c.id"
    return "conversations c"


def _sort_key(f: ListFilter, way: str = "") -> str:
    """The keyset's columns (in the SLA schedule's index order for the SLA sort)."""
    columns = ("s.due_at", "s.conversation_id") if f.sort == SLA_SORT else (f"c.{f.sort}", "c.id")
    if f.sort == PRIORITY_SORT:  # within one priority's branch
        columns = ("c.last_message_at", "c.id")
    return ", ".join(f"{c} {way}".rstrip() for c in columns)


def _direction(f: ListFilter) -> str:
    return "ASC" if f.sort == SLA_SORT else "DESC"


# Over `u`, rows of ROW_COLUMNS: their labels too (in a list, only the page's rows get here).
LIST_ITEM = (
    f"u.*, {labels_of('u')} AS labels, "
    "k.name AS contact_name, k.phone AS contact_phone, k.email AS contact_email, "
    "k.profile_pic_url AS contact_profile_pic_url, a.name AS assigned_agent_name, "
    "ia.integration_id"
)
# The contact, the assignee and the integration (whose templates a WhatsApp reply may use).
LIST_JOINS = (
    "JOIN contacts k ON k.id = u.contact_id "
    "LEFT JOIN agents a ON a.id = u.assigned_agent_id "
    "LEFT JOIN integration_accounts ia ON ia.id = u.integration_account_id "
)


async def search(conn: Conn, scope: Scope, f: ListFilter) -> list[asyncpg.Record]:
    branches = list_branches(scope, f)
    if not branches:
        return []
    p = Params()
    extra = extra_filters(f, p)
    way = _direction(f)
    order = _sort_key(f, way)
    # With a label filter the page size is a literal: a generic plan's guess for a LIMIT
    # parameter (a tenth of the rows) made walking a branch for a rare label look cheap.
    limit = str(int(f.limit)) if f.labels else p(f.limit, "::int")
    parts = [
        f"(SELECT {ROW_COLUMNS} FROM {_source(f)} "
        f"WHERE {' AND '.join(b.sql(p) + extra + _labelled(f, b, p) + _keyset(f, b, p))} "
        f"ORDER BY {order} LIMIT {limit})"
        for b in branches
    ]
    union = " UNION ALL ".join(parts)
    merge = f"u.{f.sort} {way}, u.id {way}"
    if f.sort == PRIORITY_SORT:
        # Five times the branches: keep the page first, then join only its rows.
        merge = f"{RANK_SQL} DESC, u.last_message_at DESC, u.id DESC"
        union = f"SELECT * FROM ({union}) u ORDER BY {merge} LIMIT {limit}"
    sql = f"SELECT {LIST_ITEM} FROM ({union}) u {LIST_JOINS}ORDER BY {merge} LIMIT {limit}"
    return await conn.fetch(sql, *p.values)


def _count_sql(scope: Scope, f: ListFilter, cap: str, p: Params) -> str:
    """Counts branch by branch (they never overlap), each an index scan stopping at the cap;
    one OR over all branches made PostgreSQL's generic plan a sequential scan."""
    branches = list_branches(scope, f)
    if not branches:
        return "0"
    extra = extra_filters(f, p)
    parts = [
        f"(SELECT 1 FROM {_source(f)} "
        f"WHERE {' AND '.join(b.sql(p) + extra + _labelled(f, b, p))} LIMIT {cap})"
        for b in branches
    ]
    union = " UNION ALL ".join(parts)
    return f"(SELECT count(*) FROM (SELECT 1 FROM ({union}) u LIMIT {cap}) x)"


async def counts(conn: Conn, scope: Scope, filters: list[ListFilter], cap: int) -> list[int]:
    """How many match each filter, counting at most `cap` (a badge shows "cap+"); one trip."""
    p = Params()
    limit = p(cap, "::int")
    columns = ", ".join(f"{_count_sql(scope, f, limit, p)} AS n{i}" for i, f in enumerate(filters))
    row = await conn.fetchrow(f"SELECT {columns}", *p.values)
    assert row is not None
    return [int(v) for v in row.values()]


async def with_contact(conn: Conn, scope: Scope, conversation_id: UUID) -> asyncpg.Record | None:
    """One visible conversation with its contact, assignee name and integration id."""
    return await conn.fetchrow(
        f"""
        SELECT {LIST_ITEM} FROM (SELECT {ROW_COLUMNS} FROM conversations c
                                  WHERE c.id = $1 AND {visible_sql("c", 2, 3, 4)}) u
        {LIST_JOINS}
        """,
        conversation_id,
        *scope.params(),
    )


# --- actions --------------------------------------------------------------------------------


async def set_assignee(
    conn: Conn, conversation_id: UUID, agent_id: UUID | None, division_id: UUID | None
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        WITH c AS (UPDATE conversations SET assigned_agent_id = $2, division_id = $3,
                          updated_at = now()
                    WHERE id = $1 RETURNING *)
        SELECT {COLUMNS} FROM c
        """,
        conversation_id,
        agent_id,
        division_id,
    )
    assert row is not None
    return row


async def take(conn: Conn, conversation_id: UUID, agent_id: UUID) -> asyncpg.Record | None:
    """Self-assign only while nobody has it: of two racing agents exactly one gets a row."""
    return await conn.fetchrow(
        f"""
        WITH c AS (UPDATE conversations SET assigned_agent_id = $2, updated_at = now()
                    WHERE id = $1 AND assigned_agent_id IS NULL RETURNING *)
        SELECT {COLUMNS} FROM c
        """,
        conversation_id,
        agent_id,
    )


async def mark_read(conn: Conn, conversation_id: UUID) -> asyncpg.Record | None:
    """None when there was nothing unread."""
    return await conn.fetchrow(
        f"""
        WITH c AS (UPDATE conversations SET unread_count = 0, updated_at = now()
                    WHERE id = $1 AND unread_count > 0 RETURNING *)
        SELECT {COLUMNS} FROM c
        """,
        conversation_id,
    )


async def insert_transfer(
    conn: Conn,
    conversation_id: UUID,
    before: asyncpg.Record,
    after: asyncpg.Record,
    by: UUID,
    reason: str,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        """
        INSERT INTO conversation_transfers (conversation_id, from_agent_id, to_agent_id,
                    from_division_id, to_division_id, transferred_by, reason)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        RETURNING id, conversation_id, from_agent_id, to_agent_id, from_division_id,
                  to_division_id, transferred_by, reason, transferred_at
        """,
        conversation_id,
        before["assigned_agent_id"],
        after["assigned_agent_id"],
        before["division_id"],
        after["division_id"],
        by,
        reason,
    )
    assert row is not None
    return row


async def transfers(conn: Conn, conversation_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT id, conversation_id, from_agent_id, to_agent_id, from_division_id, to_division_id,
               transferred_by, reason, transferred_at
          FROM conversation_transfers WHERE conversation_id = $1 ORDER BY transferred_at, id
        """,
        conversation_id,
    )


async def agent_for_assignment(conn: Conn, agent_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, name, is_active, "
        "ARRAY(SELECT division_id FROM agent_divisions WHERE agent_id = $1) AS division_ids "
        "FROM agents WHERE id = $1",
        agent_id,
    )


async def division_exists(conn: Conn, division_id: UUID) -> bool:
    value: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM divisions WHERE id = $1)", division_id
    )
    return value


HISTORY_ACTIONS = (
    "assign_conversation",
    "unassign_conversation",
    "take_conversation",
    "transfer_conversation",
    "resolve_conversation",
    "reopen_conversation",
    "snooze_conversation",
    "unsnooze_conversation",
)


async def history(conn: Conn, conversation_id: UUID, limit: int) -> list[asyncpg.Record]:
    """The conversation's assignment, transfer and status changes from the audit trail,
    oldest first (the latest `limit`); a reopen by a customer's message has no agent."""
    return await conn.fetch(
        """
        SELECT * FROM (
            SELECT l.id, l.action, l.agent_id, a.name AS agent_name, l.metadata_json,
                   l.created_at
              FROM activity_logs l LEFT JOIN agents a ON a.id = l.agent_id
             WHERE l.target_type = 'conversation' AND l.target_id = $1
               AND l.action = ANY($2::text[])
             ORDER BY l.created_at DESC, l.id DESC LIMIT $3
        ) recent ORDER BY created_at, id
        """,
        conversation_id,
        list(HISTORY_ACTIONS),
        limit,
    )
