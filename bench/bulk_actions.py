"""Bulk actions (issue 17 item 6): one POST /api/v1/conversations/bulk on --conversations
(1,000) conversations, timed from the client (HTTP included).

A scratch database `omnistream_bench_bulk_<random>` and one `omnistream serve` on it; a
division with --conversations unassigned open conversations and --others conversations
elsewhere (other divisions, not visible to the agent); an agent of the division signs in
and, --repeat times each: resolves all of them by ids, then adds a label to them by the
list's filter (status=resolved and the division: resolved server-side), then reopens them
by ids, each in one call. Each call's wall time, and that it did every conversation (one
event and one activity entry each). Target: every call at most 3 s.

    .venv/bin/python bench/bulk_actions.py [--repeat 3] [--reference-duration 10]

JSON on stdout (machine facts, the hello-world reference of this run, the timings and the
target); progress on stderr. Exit code 2 when the target is missed, 1 when the bench failed.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from typing import Any

import harness
import httpx

TARGET_S = 3.0


async def seed(dsn: str, wanted: int, others: int) -> str:
    """The agent's division (its conversations) and the others; returns the division id."""
    conn = await harness.connect(dsn)
    try:
        division = await conn.fetchval(
            "INSERT INTO divisions (name) VALUES ('Bulk') RETURNING id::text"
        )
        elsewhere = await conn.fetchval(
            "INSERT INTO divisions (name) VALUES ('Elsewhere') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO contacts (name, phone) SELECT 'Customer ' || n, (6281000000000 + n)::text "
            "FROM generate_series(1, $1) n",
            wanted + others,
        )
        await conn.execute(
            """
            INSERT INTO conversations (contact_id, channel, division_id, last_message_at,
                                       last_message_preview)
            SELECT id, 'whatsapp',
                   CASE WHEN row_number() OVER (ORDER BY id) <= $1 THEN $2::uuid ELSE $3 END,
                   now() - random() * interval '7 days', 'Halo'
              FROM contacts
            """,
            wanted,
            division,
            elsewhere,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return str(division)


async def written(dsn: str) -> dict[str, int]:
    conn = await harness.connect(dsn)
    try:
        rows = await conn.fetch("SELECT type, count(*) FROM event_outbox GROUP BY 1")
        entries = await conn.fetch("SELECT action, count(*) FROM activity_logs GROUP BY 1")
    finally:
        await conn.close()
    return {r["type"]: r["count"] for r in rows} | {r["action"]: r["count"] for r in entries}


def call(http: httpx.Client, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    r = http.post("/api/v1/conversations/bulk", json=body, headers=headers)
    wall = time.perf_counter() - started
    if r.status_code != 200:
        raise harness.BenchError(f"bulk {body['action']}: HTTP {r.status_code} {r.text[:300]}")
    result = r.json()
    return {
        "action": body["action"],
        "wall_s": round(wall, 3),
        "done": result["done"],
        "refused": result["refused"],
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    load = harness.load_average()
    with harness.api_on_scratch(args.database_url, "omnistream_bench_bulk") as api:
        with harness.console.status(f"seeding {args.conversations} + {args.others}"):
            division = asyncio.run(seed(api.db.dsn, args.conversations, args.others))
        email, password = harness.admin_credentials(api.server.log_path)
        with httpx.Client(base_url=api.base, timeout=120) as http:
            login = http.post("/api/v1/auth/login", json={"email": email, "password": password})
            admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
            agent_email = f"bulk-{secrets.token_hex(3)}@example.com"
            agent = http.post(
                "/api/v1/agents",
                headers=admin,
                json={
                    "email": agent_email,
                    "name": "Bulk Agent",
                    "role": "agent",
                    "password": password,
                },
            ).json()
            http.put(f"/api/v1/divisions/{division}/members/{agent['id']}", headers=admin)
            label = http.post(
                "/api/v1/labels", headers=admin, json={"name": "Bulk", "colour": "#1d6fb8"}
            ).json()
            token = http.post(
                "/api/v1/auth/login", json={"email": agent_email, "password": password}
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            page = http.post(
                "/api/v1/conversations/bulk/select",
                headers=headers,
                json={"filter": {"status": "open"}},
            ).json()
            ids = page["ids"]
            if len(ids) != args.conversations:
                raise harness.BenchError(f"the agent sees {len(ids)} conversations")
            runs = []
            for _ in range(args.repeat):
                runs.append(call(http, headers, {"action": "resolve", "ids": ids}))
                runs.append(
                    call(
                        http,
                        headers,
                        {
                            "action": "add_label",
                            "label_id": label["id"],
                            "filter": {"status": "resolved", "division_id": division},
                        },
                    )
                )
                runs.append(call(http, headers, {"action": "reopen", "ids": ids}))
                http.post(
                    "/api/v1/conversations/bulk",
                    headers=admin,
                    json={"action": "remove_label", "label_id": label["id"], "ids": ids},
                )
        reference = harness.hello_reference(
            api.base, args.reference_duration, server_pid=api.server.pid
        )
        counts = asyncio.run(written(api.db.dsn))
        version = api.db.postgres_version
    by_action: dict[str, list[float]] = {}
    for run in runs:
        by_action.setdefault(run["action"], []).append(run["wall_s"])
    complete = all(r["done"] == args.conversations and r["refused"] == 0 for r in runs)
    worst = max(r["wall_s"] for r in runs)
    return {
        "benchmark": "bulk_actions",
        "machine": harness.machine_facts(version, load),
        "reference": reference,
        "settings": {
            "conversations": args.conversations,
            "others": args.others,
            "repeat": args.repeat,
            "server": "1 x `omnistream serve`",
        },
        "runs": runs,
        "median_wall_s": {a: round(statistics.median(w), 3) for a, w in by_action.items()},
        "written": {
            k: counts.get(k, 0)
            for k in (
                "conversation.resolved",
                "resolve_conversation",
                "conversation.reopened",
                "reopen_conversation",
                "add_label",
            )
        },
        "target": {
            "max_wall_s": TARGET_S,
            "worst_wall_s": worst,
            "met": complete and worst <= TARGET_S,
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, harness.server_options())
    parser.add_argument("--conversations", type=int, default=1000, help="acted on (max 1000)")
    parser.add_argument("--others", type=int, default=20_000, help="conversations elsewhere")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the three calls")
    args = parser.parse_args(argv)
    if not 1 <= args.conversations <= 1000 or args.repeat < 1 or args.others < 0:
        parser.error("--conversations in 1..1000, --repeat >= 1, --others >= 0")
    return args


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=lambda r: 0 if r["target"]["met"] else 2))
