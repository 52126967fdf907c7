"""Benchmark: search latency on the seeded inbox (issue 15), through the HTTP API.

Uses a database seeded by bench/seed.py (default: omnistream_bench on the local server).
Starts ONE `omnistream serve` on it, signs in as the seeded admin and agent, and times
sequential `GET /api/v1/search?q=…&limit=50` (keep-alive, httpx, loopback) for:

    a common word      "order"   (in about a third of the 10M messages)
    a rare word        "zamrud"  (the seed has none: RARE_MESSAGES messages saying it are
                                  added to random conversations, some of the agent's, one as
                                  the oldest of the 10,000 messages of the big conversation
                                  (the agent's: an old promise), and removed at the end, so
                                  the database is left as it was)
    phone fragments    "3456"    (anywhere in ~600 of the 1M contacts' numbers)
                       "0812"    (read as 62812…: the start of ~8,000 numbers)

plus the sizes of the search indexes. Prints one JSON object on stdout (machine facts, the
hello-world reference req/s of the same server, p50/p95/p99 per case, target met or not);
progress goes to stderr.

    .venv/bin/python bench/search.py [--database-url URL] [--requests 200]

Target: p95 <= 150 ms for every case, as admin and as agent.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from typing import Any
from urllib.parse import urlencode
from uuid import UUID, uuid4

import asyncpg
import harness
from inbox_common import BIG_CONVERSATION_ID, LOGINS, seeded_database_options, seeded_server
from inbox_latency import measure, sign_in

BenchError = harness.BenchError
console = harness.console
P95_MS = 150.0
RARE_WORD = "zamrud"
RARE_MESSAGES = 12  # of which RARE_FOR_AGENT in conversations assigned to the seeded agent
RARE_FOR_AGENT = 3  # one of them the big conversation's oldest message
QUERIES = {
    "common word": "order",
    "rare word": RARE_WORD,
    "phone 3456": "3456",
    "phone 0812": "0812",
}
ROLES = ("admin", "agent")
INDEXES = (
    "messages_search_idx",
    "contacts_search_idx",
    "contacts_phone_prefix_idx",
    "conversation_notes_search_idx",
)


async def prepare(dsn: str) -> tuple[dict[str, Any], dict[str, Any], list[UUID]]:
    """Machine facts, index sizes, and the rare word's messages (inserted; their ids)."""
    conn = await asyncpg.connect(dsn, timeout=15)
    try:
        machine = await harness.machine_info(conn)
        sizes = {
            r["relname"]: {"bytes": r["bytes"], "size": r["size"]}
            for r in await conn.fetch(
                "SELECT relname, pg_relation_size(oid) AS bytes, "
                "pg_size_pretty(pg_relation_size(oid)) AS size FROM pg_class "
                "WHERE relname = ANY($1::text[])",
                list(INDEXES),
            )
        }
        if "messages_search_idx" not in sizes:
            raise BenchError("no messages_search_idx: migrate the seeded database (0022_search)")
        agent = await conn.fetchval("SELECT id FROM agents WHERE email = $1", LOGINS["agent"])
        # Conversations spread over the whole inbox (a sample of its pages), a few the agent's.
        targets = await conn.fetch(
            "(SELECT id, last_message_at - interval '1 minute' AS at FROM conversations "
            " TABLESAMPLE SYSTEM (1) LIMIT $1) UNION ALL "
            "(SELECT id, last_message_at - interval '1 minute' FROM conversations "
            " WHERE assigned_agent_id = $2 AND id <> $4 LIMIT $3) UNION ALL "
            "(SELECT id, created_at - interval '1 second' FROM conversations WHERE id = $4)",
            RARE_MESSAGES - RARE_FOR_AGENT,
            agent,
            RARE_FOR_AGENT - 1,
            BIG_CONVERSATION_ID,
        )
        ids = [uuid4() for _ in targets]
        await conn.executemany(
            "INSERT INTO messages (id, conversation_id, channel, direction, type, content, "
            "status, created_at) SELECT $1, id, channel, 'inbound', 'text', "
            "jsonb_build_object('text', $3::text), 'received', $4 FROM conversations "
            "WHERE id = $2",
            [
                (i, t["id"], f"Kak, kode promo {RARE_WORD.upper()} masih berlaku?", t["at"])
                for i, t in zip(ids, targets, strict=True)
            ],
        )
    finally:
        await conn.close()
    return machine, sizes, ids


async def clean_up(dsn: str, ids: list[UUID]) -> None:
    conn = await asyncpg.connect(dsn, timeout=15)
    try:
        await conn.execute("DELETE FROM messages WHERE id = ANY($1::uuid[])", ids)
    finally:
        await conn.close()


def bench(args: argparse.Namespace) -> dict[str, Any]:
    dsn = args.database_url
    try:
        machine, sizes, inserted = asyncio.run(prepare(dsn))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise BenchError(f"cannot prepare {harness.shown_dsn(dsn)}: {exc}") from exc
    port = args.port or harness.free_port()
    base = f"http://127.0.0.1:{port}"
    results: list[dict[str, Any]] = []
    try:
        with (
            harness.work_folder("omnistream-search-") as workdir,
            seeded_server(dsn, port, workdir) as server,
        ):
            tokens = {role: sign_in(base, LOGINS[role]) for role in ROLES}
            reference = harness.hello_reference(
                base, args.reference_duration, server_pid=server.pid
            )
            common = {
                "requests": args.requests,
                "warmup": args.warmup,
                "concurrency": args.concurrency,
            }
            with harness.progress(counts=True, label_width=40) as progress:
                task = progress.add_task("requests", total=len(QUERIES) * len(ROLES))
                for role in ROLES:
                    for name, q in QUERIES.items():
                        progress.update(task, description=f"{role}: {name}")
                        url = "/api/v1/search?" + urlencode({"q": q, "limit": 50})
                        timing = measure(base, url, tokens[role], **common)
                        server.check_alive()
                        body = timing.first_body
                        entry = {"role": role, "case": name, "q": q, **timing.summary()}
                        if isinstance(body, dict) and isinstance(body.get("items"), list):
                            entry["items"] = len(body["items"])
                            entry["hit_kinds"] = sorted({i["hit"]["kind"] for i in body["items"]})
                        else:
                            entry["error"] = str(body)[:300]
                        results.append(entry)
                        progress.advance(task)
    finally:
        asyncio.run(clean_up(dsn, inserted))

    def met(entry: dict[str, Any]) -> bool:
        ok = entry.get("statuses", {}).get("200", 0) == entry.get("n", -1)
        return bool(ok and entry["p95_ms"] <= P95_MS)

    worst = max(results, key=lambda r: r.get("p95_ms", math.inf))
    machine["load_avg_1m_at_end"] = harness.load_average()
    return {
        "benchmark": "search",
        "database": harness.database_name(dsn),
        "database_url": harness.shown_dsn(dsn),
        "machine": machine,
        "reference": reference,
        "settings": {
            "requests_per_case": args.requests,
            "warmup_per_case": args.warmup,
            "concurrency": args.concurrency,
            "limit": 50,
            "rare_word_messages": len(inserted),
            "server": "1 x `omnistream serve` (uvicorn, 1 process), access log off",
        },
        "index_sizes": sizes,
        "results": results,
        "target": {
            "p95_ms": P95_MS,
            "met": all(met(r) for r in results),
            "missed": [f"{r['role']}: {r['case']}" for r in results if not met(r)],
            "worst": {k: worst.get(k) for k in ("role", "case", "p95_ms", "p99_ms")},
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, seeded_database_options(), harness.port_options())
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per case first")
    parser.add_argument("--concurrency", type=int, default=1, help="clients at once (1-4)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or not 1 <= args.concurrency <= 4:
        parser.error("--requests >= 1, --warmup >= 0, 1 <= --concurrency <= 4")
    return args


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
