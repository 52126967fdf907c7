"""Benchmark: inbox latency at scale (issue 3), through the HTTP API.

Uses a database seeded by bench/seed.py (default: omnistream_bench on the local server; it
is left as it is). Starts ONE `omnistream serve` process on it, signs in as the seeded
admin, supervisor and agent and times sequential requests (keep-alive, httpx, loopback):

    GET /api/v1/conversations?limit=50  per role, without and with filters (labels too)
    GET /api/v1/conversations/counts    per role
    GET /api/v1/labels/counts           per role
    GET /api/v1/conversations/{the 10,000-message conversation}/messages?limit=50

Then runs EXPLAIN (ANALYZE, BUFFERS) of the SQL each list / counts call issues (rebuilt with
omnistream.conversations.queries and the callers' scopes), as a custom plan and as a generic
plan, notes which of the two PostgreSQL's plan cache picks for the server's prepared
statements, and lists every Seq Scan on conversations or messages. Prints one JSON object on
stdout; progress goes to stderr.

    .venv/bin/python bench/inbox_latency.py [--database-url URL] [--requests 300]

The label cases (a common label, a rare one with status=open, two labels, the counts per
label) need the seed's labels (bench/inbox_common.py SEED_LABELS); a database seeded before
them gets them with `bench/seed.py --labels-only`, else the cases are skipped with a note.

Targets: list p95 <= 15 ms, timeline p95 <= 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import asyncpg
import harness
import httpx
from inbox_common import (
    BIG_CONVERSATION_ID,
    BIG_CONVERSATION_MESSAGES,
    LOGINS,
    PASSWORD,
    SEED_LABELS,
    seeded_database_options,
    seeded_server,
)

from omnistream.conversations import label_list_queries, queries
from omnistream.conversations.visibility import Scope
from omnistream.kit.enums import Priority, Role
from omnistream.labels import queries as label_queries

BenchError = harness.BenchError
console = harness.console
LIST_P95_MS = 15.0
TIMELINE_P95_MS = 10.0
LIST = "/api/v1/conversations"
LABEL_COUNTS = "/api/v1/labels/counts"
TIMELINE_ROUTE = "/api/v1/conversations/{conversation_id}/messages"
COUNT_CAP = 10_000  # as omnistream.conversations.routes.COUNT_CAP
BULK = ("conversations", "messages")


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Account:
    role: str
    email: str
    agent_id: UUID
    division_ids: tuple[UUID, ...]

    @property
    def scope(self) -> Scope:
        return Scope(Role(self.role), self.agent_id, frozenset(self.division_ids))


@dataclass(frozen=True)
class Case:
    """One measured request, and the list filter the route builds from it (if a list)."""

    role: str
    name: str
    path: str
    params: dict[str, str]
    kind: str  # list, counts, timeline
    filters: queries.ListFilter | None = None

    @property
    def url(self) -> str:
        return self.path + ("?" + urlencode(self.params) if self.params else "")


def label_variants(labels: dict[str, UUID]) -> list[tuple[str, dict[str, str]]]:
    """The label filters timed: the commonest label, the rarest (open only), two between."""
    if not labels:
        return []
    (common, _, _), (rare, _, _) = SEED_LABELS[0], SEED_LABELS[-1]
    two = [SEED_LABELS[3][0], SEED_LABELS[4][0]]
    return [
        (f"label {common}", {"label": str(labels[common])}),
        (f"open, label {rare}", {"status": "open", "label": str(labels[rare])}),
        (f"label {' or '.join(two)}", {"label": ",".join(str(labels[n]) for n in two)}),
    ]


def list_cases(account: Account, labels: dict[str, UUID]) -> list[Case]:
    division = str(account.division_ids[0])
    variants: list[tuple[str, dict[str, str]]] = [
        ("all", {}),
        ("open", {"status": "open"}),
        ("open, mine", {"status": "open", "assignee": "me"}),
        ("open, unassigned", {"status": "open", "assignee": "unassigned"}),
        ("open, whatsapp", {"status": "open", "channel": "whatsapp"}),
        ("one of their divisions", {"division_id": division}),
        ("open, unread", {"unread": "true", "status": "open"}),
        ("open, high or urgent", {"status": "open", "priority": "high,urgent"}),
        ("urgent", {"priority": "urgent"}),
        ("open, by priority", {"status": "open", "sort": "priority"}),
        *label_variants(labels),
    ]
    cases = []
    for name, params in variants:
        # what omnistream.conversations.routes.list_conversations builds (limit + 1)
        filters = queries.ListFilter(
            status=params.get("status"),
            channel=params.get("channel"),
            assignee=params.get("assignee"),
            division_id=UUID(params["division_id"]) if "division_id" in params else None,
            unread_only=params.get("unread") == "true",
            priorities=tuple(Priority(p) for p in params.get("priority", "").split(",") if p),
            labels=tuple(UUID(i) for i in params.get("label", "").split(",") if i),
            sort=params.get("sort", "last_message_at"),
            limit=51,
        )
        cases.append(
            Case(account.role, name, LIST, {"limit": "50", **params}, "list", filters=filters)
        )
    cases.append(Case(account.role, "counts", LIST + "/counts", {}, "counts"))
    if labels:
        cases.append(Case(account.role, "label counts", LABEL_COUNTS, {}, "label_counts"))
    return cases


# --------------------------------------------------------------------------- server


def sign_in(base: str, email: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    if r.status_code != 200:
        raise BenchError(f"login as {email}: HTTP {r.status_code} {r.text[:300]}")
    token: str = r.json()["access_token"]
    return token


# --------------------------------------------------------------------------- measuring


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class Timing:
    samples_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    first_body: Any = None

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.samples_ms)
        if not ordered:
            return {"n": 0, "statuses": self.statuses}
        return {
            "n": len(ordered),
            "p50_ms": round(percentile(ordered, 50), 2),
            "p95_ms": round(percentile(ordered, 95), 2),
            "p99_ms": round(percentile(ordered, 99), 2),
            "mean_ms": round(statistics.fmean(ordered), 2),
            "max_ms": round(ordered[-1], 2),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


SLOW_MS = 100.0  # a case slower than this in warm-up gets SLOW_REQUESTS timed requests
SLOW_REQUESTS = 40


def measure(
    base: str, url: str, token: str | None, *, requests: int, warmup: int, concurrency: int
) -> Timing:
    """Warm up, then time `requests` GETs split over `concurrency` keep-alive clients."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timing = Timing()
    lock = threading.Lock()

    def run(count: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            for _ in range(count):
                t0 = time.perf_counter()
                r = client.get(url)
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    timing.statuses[r.status_code] = timing.statuses.get(r.status_code, 0) + 1
                    if timing.first_body is None:
                        try:
                            timing.first_body = r.json()
                        except ValueError:
                            timing.first_body = r.text[:300]
                    timing.samples_ms.append(elapsed)

    run(warmup)
    if timing.samples_ms and statistics.median(timing.samples_ms) > SLOW_MS:
        requests = min(requests, SLOW_REQUESTS)  # keep a pathological case from taking hours
    timing.statuses.clear()
    timing.samples_ms.clear()
    shares = [
        requests // concurrency + (1 if i < requests % concurrency else 0)
        for i in range(concurrency)
    ]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(run, shares))
    return timing


# --------------------------------------------------------------------------- plans


class Capture:
    """Stands in for an asyncpg connection: records the statement a query builder issues."""

    def __init__(self) -> None:
        self.sql = ""
        self.args: tuple[Any, ...] = ()

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.sql, self.args = sql, args
        return []

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.sql, self.args = sql, args
        return 0

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, int]:
        self.sql, self.args = sql, args
        return {"n0": 0}


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        inner = ",".join('"' + str(v).replace('"', '\\"') + '"' for v in value)
        value = "{" + inner + "}"
    return "'" + str(value).replace("'", "''") + "'"


def _walk(node: dict[str, Any], out: list[dict[str, Any]]) -> None:
    out.append(node)
    for child in node.get("Plans", []):
        _walk(child, out)


def summarize_plan(doc: Any) -> dict[str, Any]:
    top = doc[0] if isinstance(doc, list) else doc
    nodes: list[dict[str, Any]] = []
    _walk(top["Plan"], nodes)
    scans = sorted(
        {
            f"{n['Node Type']} on {n.get('Relation Name')}"
            + (f" using {n['Index Name']}" if n.get("Index Name") else "")
            for n in nodes
            if "Relation Name" in n
        }
    )
    seq = [
        {
            "relation": n["Relation Name"],
            "rows": n.get("Actual Rows"),
            "loops": n.get("Actual Loops"),
        }
        for n in nodes
        if n["Node Type"] in ("Seq Scan", "Parallel Seq Scan") and n.get("Relation Name") in BULK
    ]
    root = top["Plan"]
    return {
        "execution_ms": round(top.get("Execution Time", 0.0), 3),
        "planning_ms": round(top.get("Planning Time", 0.0), 3),
        "shared_hit": root.get("Shared Hit Blocks"),
        "shared_read": root.get("Shared Read Blocks"),
        "rows": root.get("Actual Rows"),
        "scans": scans,
        "seq_scans": seq,
    }


async def explain(conn: asyncpg.Connection[Any], sql: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """Custom plan, generic plan, and the plan cache's choice for a prepared statement."""
    result: dict[str, Any] = {}
    # custom: parameters bound at planning (what the first five executions get)
    doc = await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *args)
    result["custom"] = summarize_plan(json.loads(doc) if isinstance(doc, str) else doc)
    # generic: planned once without the values (PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN))
    literals = ", ".join(_literal(a) for a in args)
    execute = f"EXECUTE bench_q({literals})" if args else "EXECUTE bench_q"  # no () without
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE bench_q AS {sql}")
        try:
            doc = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {execute}")
        finally:
            await conn.execute("DEALLOCATE bench_q")
    result["generic"] = summarize_plan(json.loads(doc) if isinstance(doc, str) else doc)
    # the server's connections run it as an asyncpg prepared statement: after 5 custom plans,
    # the plan cache keeps the generic plan unless it looks costlier
    stmt = await conn.prepare(sql)
    for _ in range(8):
        await stmt.fetch(*args)
    row = await conn.fetchrow(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1",
        stmt.get_name(),
    )
    if row is not None:
        result["plan_cache_uses"] = "generic" if row["generic_plans"] > 0 else "custom"
    return result


async def plan_cases(
    dsn: str,
    accounts: dict[str, Account],
    cases: list[Case],
    timeline_sql: tuple[str, tuple[Any, ...]],
) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn, timeout=15)
    out: list[dict[str, Any]] = []
    try:
        await conn.execute("SET jit = off")  # as a default-configured server would not JIT these
        for case in cases:
            scope = accounts[case.role].scope
            statements: list[tuple[str, str, tuple[Any, ...]]] = []
            if case.kind == "list" and case.filters is not None:
                filters = case.filters
                cap = Capture()
                form = ""
                if label_list_queries.applies(filters):  # the route's form (list_page)
                    await label_list_queries.search(cap, scope, filters)  # type: ignore[arg-type]
                    form = ", label ranges"
                else:
                    if filters.labels:  # which form the route picks (labels/queries.py few_rows)
                        first = await label_queries.few_rows(conn, scope, filters)
                        filters = replace(filters, labels_first=first)
                        form = ", label rows first" if first else ""
                    await queries.search(cap, scope, filters)  # type: ignore[arg-type]
                if cap.sql:
                    statements.append((f"list{form}", cap.sql, cap.args))
            elif case.kind == "counts":
                for tab, f in (
                    ("mine", queries.ListFilter(status="open", assignee="me")),
                    ("unassigned", queries.ListFilter(status="open", assignee="unassigned")),
                    ("all_open", queries.ListFilter(status="open")),
                ):
                    cap = Capture()
                    await queries.counts(cap, scope, [f], COUNT_CAP)  # type: ignore[arg-type]
                    if cap.sql:
                        statements.append((f"count {tab}", cap.sql, cap.args))
            elif case.kind == "label_counts":
                cap = Capture()
                await label_queries.counts(cap, scope, COUNT_CAP)  # type: ignore[arg-type]
                statements.append(("label counts", cap.sql, cap.args))
            for label, sql, args in statements:
                out.append(
                    {
                        "role": case.role,
                        "case": case.name,
                        "statement": label,
                        "branches": sql.count("(SELECT ") if label.startswith("list") else None,
                        **await explain(conn, sql, args),
                    }
                )
        sql, args = timeline_sql
        out.append(
            {
                "role": "any",
                "case": "timeline",
                "statement": "timeline",
                **await explain(conn, sql, args),
            }
        )
    finally:
        await conn.close()
    return out


async def timeline_statement() -> tuple[str, tuple[Any, ...], str]:
    """The timeline SQL of omnistream.messages.queries if it exists, else a reference one."""
    try:
        from omnistream.messages import queries as message_queries

        cap = Capture()
        await message_queries.timeline(
            cap,  # type: ignore[arg-type]
            BIG_CONVERSATION_ID,
            None,
            51,
            ascending=False,
        )
        if cap.sql:
            return cap.sql, cap.args, "omnistream.messages.queries.timeline"
    except (ImportError, AttributeError, TypeError):
        pass
    sql = (
        "SELECT * FROM messages m WHERE m.conversation_id = $1 "
        "ORDER BY m.created_at DESC, m.id DESC LIMIT $2"
    )
    return (
        sql,
        (BIG_CONVERSATION_ID, 51),
        "reference query (no omnistream.messages.queries.timeline)",
    )


# --------------------------------------------------------------------------- main


async def load_accounts(dsn: str) -> tuple[dict[str, Account], dict[str, Any], int]:
    conn = await asyncpg.connect(dsn, timeout=15)
    try:
        machine = await harness.machine_info(conn)
        rows = await conn.fetch(
            "SELECT a.id, a.email, a.role, "
            "ARRAY(SELECT division_id FROM agent_divisions d WHERE d.agent_id = a.id "
            "ORDER BY division_id) AS divisions FROM agents a WHERE a.email = ANY($1::text[])",
            list(LOGINS.values()),
        )
        big = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE conversation_id = $1", BIG_CONVERSATION_ID
        )
    finally:
        await conn.close()
    accounts = {
        r["role"]: Account(r["role"], r["email"], r["id"], tuple(r["divisions"])) for r in rows
    }
    missing = set(LOGINS) - set(accounts)
    if missing:
        raise BenchError(
            f"no seeded {', '.join(sorted(missing))} account in {harness.database_name(dsn)}: "
            "run bench/seed.py first"
        )
    return accounts, machine, int(big)


async def load_labels(dsn: str) -> dict[str, UUID]:
    """The seed's labels by name; empty when the database has not all of them (or no labels
    table: seeded and not migrated since)."""
    names = [n for n, _, _ in SEED_LABELS]
    conn = await asyncpg.connect(dsn, timeout=15)
    try:
        if not await conn.fetchval("SELECT to_regclass('conversation_labels') IS NOT NULL"):
            return {}
        rows = await conn.fetch(
            "SELECT l.name, l.id FROM labels l WHERE l.name = ANY($1::text[]) "
            "AND EXISTS (SELECT 1 FROM conversation_labels cl WHERE cl.label_id = l.id)",
            names,
        )
    finally:
        await conn.close()
    found = {r["name"]: r["id"] for r in rows}
    return found if set(found) == set(names) else {}


def measure_cases(
    args: argparse.Namespace,
    base: str,
    tokens: dict[str, str],
    cases: list[Case],
    server: harness.Process,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The /healthz floor, then every case; (floor, one entry per case)."""
    common = {"requests": args.requests, "warmup": args.warmup, "concurrency": args.concurrency}
    results: list[dict[str, Any]] = []
    with harness.progress(counts=True, label_width=48) as progress:
        task = progress.add_task("requests", total=len(cases) + 1)
        progress.update(task, description="GET /healthz (floor)")
        floor = measure(base, "/healthz", None, **common).summary()
        progress.advance(task)
        for case in cases:
            progress.update(task, description=f"{case.role}: {case.name}")
            timing = measure(base, case.url, tokens[case.role], **common)
            server.check_alive()
            entry: dict[str, Any] = {
                "role": case.role,
                "case": case.name,
                "kind": case.kind,
                "url": case.url,
                **timing.summary(),
            }
            body = timing.first_body
            if isinstance(body, dict) and isinstance(body.get("items"), list):
                entry["items"] = len(body["items"])
            elif case.kind == "counts" and isinstance(body, dict):
                entry["counts"] = body
            if 200 not in timing.statuses:
                entry["error"] = body if isinstance(body, dict) else str(body)[:300]
            results.append(entry)
            progress.advance(task)
    return floor, results


def bench(args: argparse.Namespace) -> dict[str, Any]:
    dsn = args.database_url
    try:
        accounts, machine, big_messages = asyncio.run(load_accounts(dsn))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise BenchError(f"cannot read {harness.shown_dsn(dsn)}: {exc}") from exc
    if big_messages != BIG_CONVERSATION_MESSAGES:
        console.print(f"[yellow]the big conversation has {big_messages} messages[/]")
    port = args.port or harness.free_port()
    base = f"http://127.0.0.1:{port}"
    labels = asyncio.run(load_labels(dsn))
    if not labels:
        console.print(
            "[yellow]the seeded database has no labels: label cases skipped "
            "(bench/seed.py --labels-only gives it the seed's)[/]"
        )
    cases = [
        c for role in ("admin", "supervisor", "agent") for c in list_cases(accounts[role], labels)
    ]
    timeline_path = TIMELINE_ROUTE.format(conversation_id=BIG_CONVERSATION_ID)
    for role in ("admin", "agent"):  # agent-001 is its assignee; both may see it
        cases.append(Case(role, "timeline", timeline_path, {"limit": "50"}, "timeline"))
    with (
        harness.work_folder("omnistream-inbox-") as workdir,
        seeded_server(dsn, port, workdir) as server,
    ):
        with console.status("signing in as admin, supervisor and agent"):
            tokens = {role: sign_in(base, a.email) for role, a in accounts.items()}
            openapi = httpx.get(base + "/api/v1/openapi.json", timeout=30).json()
        route_present = "get" in openapi.get("paths", {}).get(TIMELINE_ROUTE, {})
        ready_s = server.ready_s or 0.0
        console.log(f"server ready in {ready_s:.2f} s; timeline route present: {route_present}")
        reference = harness.hello_reference(base, args.reference_duration, server_pid=server.pid)
        floor, results = measure_cases(args, base, tokens, cases, server)

    with console.status("EXPLAIN (ANALYZE, BUFFERS) of each list and counts statement"):
        sql, sql_args, timeline_source = asyncio.run(timeline_statement())
        plans = asyncio.run(plan_cases(dsn, accounts, cases, (sql, sql_args)))

    def ok(entry: dict[str, Any]) -> bool:
        return bool(entry.get("statuses", {}).get("200", 0) == entry.get("n", -1))

    lists = [r for r in results if r["kind"] in ("list", "counts", "label_counts")]
    timelines = [r for r in results if r["kind"] == "timeline"]
    worst_list = max(lists, key=lambda r: r.get("p95_ms", math.inf))
    list_met = all(ok(r) and r["p95_ms"] <= LIST_P95_MS for r in lists)
    timeline_ok = [r for r in timelines if ok(r)]
    timeline_met = all(r["p95_ms"] <= TIMELINE_P95_MS for r in timeline_ok) if timeline_ok else None
    seq_scans = [
        {"role": p["role"], "case": p["case"], "statement": p["statement"], "plan": kind, **s}
        for p in plans
        for kind in ("custom", "generic")
        for s in p[kind]["seq_scans"]
    ]
    used = {(p["role"], p["case"], p["statement"]): p.get("plan_cache_uses") for p in plans}
    machine["load_avg_1m_at_end"] = harness.load_average()
    return {
        "benchmark": "inbox_latency",
        "database": harness.database_name(dsn),
        "database_url": harness.shown_dsn(dsn),
        "machine": machine,
        "reference": reference,
        "settings": {
            "requests_per_case": args.requests,
            "warmup_per_case": args.warmup,
            "concurrency": args.concurrency,
            "client": f"httpx {httpx.__version__}, keep-alive, loopback; time from send to body",
            "server": "1 x `omnistream serve` (uvicorn, 1 process), log level WARNING, "
            "access log off",
            "server_ready_s": round(ready_s, 2),
        },
        "accounts": {
            role: {"email": a.email, "divisions": len(a.division_ids)}
            for role, a in accounts.items()
        },
        "labels": {name: str(i) for name, i in labels.items()}
        or "skipped: no seeded labels (bench/seed.py --labels-only adds them)",
        "healthz_floor": floor,
        "results": results,
        "timeline": {
            "conversation_id": str(BIG_CONVERSATION_ID),
            "messages": big_messages,
            "route_present": route_present,
            "sql_source": timeline_source,
        },
        "targets": {
            "list_p95_ms": LIST_P95_MS,
            "list_met": list_met,
            "list_worst": {k: worst_list.get(k) for k in ("role", "case", "p95_ms", "p99_ms")},
            "timeline_p95_ms": TIMELINE_P95_MS,
            "timeline_met": timeline_met,
        },
        "plans": plans,
        "seq_scans": seq_scans,
        "seq_scans_in_plans_the_server_uses": [
            s for s in seq_scans if used.get((s["role"], s["case"], s["statement"])) == s["plan"]
        ],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, seeded_database_options(), harness.port_options())
    parser.add_argument("--requests", type=int, default=300, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests per case first")
    parser.add_argument("--concurrency", type=int, default=1, help="clients at once (1-4)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or not 1 <= args.concurrency <= 4:
        parser.error("--requests >= 1, --warmup >= 0, 1 <= --concurrency <= 4")
    return args


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
