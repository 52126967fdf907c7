"""Scheduled messages: --messages scheduled text messages in distinct conversations, all due
within the same minute, sent by ONE `omnistream worker` (its scheduled loop turns them into
pending replies, its outbound sender delivers them) to the Graph API sandbox in benchmark
mode (--instant: every valid send accepted at once).

What it does: creates a scratch database `omnistream_bench_sched_<random>` on
--database-url's server and migrates it; starts `omnistream sandbox --instant` (its own
process) with one WhatsApp account; seeds one integration whose account sends at --rate
messages/s (channels/ratelimit.py), one agent, and --messages conversations, each with the
customer's message of just now (the 24-hour window is open) and one pending scheduled
message; their times are spread evenly over --spread seconds (60: one minute; 0: all at
the same instant), starting --lead seconds after seeding; then ANALYZE (the statistics
know of no pending outbound message, as in production before a burst). Then it starts the
worker and waits until every scheduled message is handled and every message sent (or
failed).

Figures: the sandbox's recording gives the time each send was accepted (its clock, the
same machine's); each send carries our message id (biz_opaque_callback_data), which the
database maps to its scheduled message and scheduled_at. lag = accepted - scheduled_at:
p50 / p99 / max, and how many within 30 s (the target: all). `claim_lag` is the scheduled
loop's part (message created - scheduled_at). Duplicates: sends accepted more than once
(sandbox) and scheduled messages with more than one message (database). Prints one JSON
object on stdout; a Rich progress bar goes to stderr. Everything is stopped and the
database dropped at the end, also on failure or Ctrl-C.

    .venv/bin/python bench/scheduled.py                  # 10,000 due within one minute
    .venv/bin/python bench/scheduled.py --spread 0       # 10,000 due at the same instant
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from typing import Any
from uuid import UUID

import asyncpg
import harness
import httpx
from outbound import (
    CUSTOMER_CONVERSATIONS,
    PHONE_ID,
    SECRET_KEY,
    sandbox_on_scratch,
    whatsapp_account,
    worker_env,
)

from omnistream.db.migrate import migrate
from omnistream.db.pool import init_connection

TARGET_SECONDS = 30.0


async def seed(dsn: str, args: argparse.Namespace, graph: str) -> float:
    """Returns the first due time (epoch seconds, the database's clock)."""
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    try:
        await migrate(conn)
        account = await whatsapp_account(conn, graph, args.rate)
        agent: UUID = await conn.fetchval(
            "INSERT INTO agents (email, password_hash, name, role) "
            "VALUES ('scheduler@bench.example.com', 'x', 'Scheduler', 'agent') RETURNING id"
        )
        first_due: float = await conn.fetchval(
            "SELECT extract(epoch FROM clock_timestamp())::float8 + $1", args.lead
        )
        step = args.spread / max(1, args.messages - 1)
        await conn.execute(
            CUSTOMER_CONVERSATIONS
            + """, s AS (
                INSERT INTO scheduled_messages (conversation_id, agent_id, msg_type,
                                                content_json, scheduled_at)
                SELECT id, $3, 'text',
                       '{"type": "text", "text": "Your appointment is tomorrow"}',
                       to_timestamp($4::float8 + $5::float8
                                    * (row_number() OVER (ORDER BY id) - 1))
                  FROM c
            )  -- what opened the window: the customer's message (history the planner sees)
            INSERT INTO messages (conversation_id, channel, channel_message_id, direction,
                                  type, content, status)
            SELECT id, 'whatsapp', 'wamid.bench.' || id, 'inbound', 'text',
                   '{"text": "Can I come tomorrow?"}', 'received'
              FROM c
            """,
            args.messages,
            account,
            agent,
            first_due,
            step,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return first_due


async def progress_counts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT 'scheduled_' || status AS k, count(*) AS n FROM scheduled_messages GROUP BY 1 "
            "UNION ALL SELECT 'message_' || status, count(*) FROM messages "
            "WHERE direction = 'outbound' GROUP BY 1"
        )
    finally:
        await conn.close()
    return {r["k"]: r["n"] for r in rows}


async def from_database(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT m.id::text AS message_id, extract(epoch FROM s.scheduled_at)::float8 AS due,
                   extract(epoch FROM m.created_at - s.scheduled_at)::float8 AS claim_lag
              FROM scheduled_messages s JOIN messages m ON m.id = s.message_id
            """
        )
        late = await conn.fetchval("SELECT count(*) FROM scheduled_messages WHERE late")
        per_message = await conn.fetchval(
            "SELECT count(*) FROM (SELECT message_id FROM scheduled_messages "
            "WHERE message_id IS NOT NULL GROUP BY message_id HAVING count(*) > 1) x"
        )
        messages = await conn.fetchval("SELECT count(*) FROM messages WHERE direction = 'outbound'")
        ticks = await conn.fetchval("SELECT count(DISTINCT processed_at) FROM scheduled_messages")
    finally:
        await conn.close()
    return {
        "due": {r["message_id"]: r["due"] for r in rows},
        "claim_lag": sorted(r["claim_lag"] for r in rows),
        "late": late,
        "shared_message_ids": per_message,
        "messages": messages,
        "ticks": ticks,
    }


def quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def figures(url: str, args: argparse.Namespace, db: dict[str, Any]) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=60) as http:
        records = http.get(
            "/_sandbox/requests",
            params={"path": "/messages", "limit": min(100_000, 2 * args.messages + 100)},
        ).json()["requests"]
        sends = http.get("/_sandbox/sends", params={"account": PHONE_ID}).json()["sends"]
    accepted = [r for r in records if r.get("accepted_at") is not None]
    by_message = Counter(r["body"].get("biz_opaque_callback_data") for r in accepted)
    lags = sorted(
        r["accepted_at"] - db["due"][r["body"]["biz_opaque_callback_data"]]
        for r in accepted
        if r["body"].get("biz_opaque_callback_data") in db["due"]
    )
    claim = db["claim_lag"]
    times = sorted(r["accepted_at"] for r in accepted)
    return {
        "sent_accepted": len(accepted),
        "distinct_messages_accepted": len(by_message),
        "within_30s": sum(1 for lag in lags if lag <= TARGET_SECONDS),
        "lag_s": {
            "min": round(lags[0], 3) if lags else None,
            "p50": round(quantile(lags, 0.5), 3),
            "p90": round(quantile(lags, 0.9), 3),
            "p99": round(quantile(lags, 0.99), 3),
            "max": round(lags[-1], 3) if lags else None,
        },
        "claim_lag_s": {
            "min": round(claim[0], 3) if claim else None,
            "p50": round(quantile(claim, 0.5), 3),
            "p99": round(quantile(claim, 0.99), 3),
            "max": round(claim[-1], 3) if claim else None,
        },
        "send_span_s": round(times[-1] - times[0], 2) if times else None,
        "duplicates_sandbox": sum(1 for s in sends if s["accepted"] > 1)
        + sum(1 for n in by_message.values() if n > 1),
        "refused": dict(Counter(r["status"] for r in records if r["status"] != 200)),
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    with sandbox_on_scratch(args, "omnistream_bench_sched") as (work, db, sandbox):
        reference = harness.reference_on(
            db.dsn, work, args.reference_duration, {"secret_key": SECRET_KEY}
        )
        harness.console.print(
            f"seeding {args.messages} scheduled messages, due over {args.spread:g} s "
            f"starting in {args.lead:g} s (account rate {args.rate}/s)"
        )
        first_due = asyncio.run(seed(db.dsn, args, sandbox.url))
        info = harness.machine_info_of(db.dsn)
        env = worker_env(db.dsn, work)
        with harness.omnistream(["worker"], env, work, "worker", profile=args.profile) as worker:
            counts, worker_cpu = wait_until_sent(args, db.dsn, worker)
        load_end = harness.load_average()
        found = asyncio.run(from_database(db.dsn))
        result = figures(sandbox.url, args, found)
    duplicates = result["duplicates_sandbox"] + found["shared_message_ids"]
    return {
        "benchmark": "scheduled",
        "machine": {**info, "load_avg_1m_at_end": load_end},
        "reference": reference,
        "messages": args.messages,
        "spread_s": args.spread,
        "rate_limit_per_s": args.rate,
        "first_due_epoch": round(first_due, 3),
        **result,
        "messages_in_db": found["messages"],
        "flagged_late": found["late"],
        "scheduled_ticks": found["ticks"],
        "duplicates": duplicates,
        "statuses": counts,
        "worker_cpu_s": round(worker_cpu, 2),
        "worker_cpu_us_per_message": round(worker_cpu / args.messages * 1e6),
        "met": bool(
            result["within_30s"] == args.messages
            and result["distinct_messages_accepted"] == args.messages
            and duplicates == 0
            and found["messages"] == args.messages
        ),
    }


def wait_until_sent(
    args: argparse.Namespace, dsn: str, worker: harness.Process
) -> tuple[dict[str, int], float]:
    """Until every scheduled message is handled and sent (or failed): the last counts and
    the worker's CPU seconds meanwhile."""
    cpu_before = harness.proc_cpu_seconds(worker.pid)
    deadline = time.time() + args.lead + args.spread + args.timeout
    with harness.progress(counts=True) as bar:
        handled = bar.add_task("scheduled handled", total=args.messages)
        sent = bar.add_task("messages sent", total=args.messages)
        while True:
            counts = asyncio.run(progress_counts(dsn))
            done = counts.get("scheduled_sent", 0) + counts.get("scheduled_failed", 0)
            out = counts.get("message_sent", 0) + counts.get("message_failed", 0)
            bar.update(handled, completed=done)
            bar.update(sent, completed=out)
            if done >= args.messages and out >= counts.get("scheduled_sent", 0):
                return counts, harness.proc_cpu_seconds(worker.pid) - cpu_before
            worker.check_alive()
            if time.time() > deadline:
                raise harness.BenchError(f"not done in time: {counts}")
            time.sleep(0.25)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(
        __doc__, harness.server_options(default=harness.DEFAULT_SERVER), harness.profile_options()
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=60.0, help="due times span (s)")
    parser.add_argument("--lead", type=float, default=10.0, help="first due after seeding (s)")
    parser.add_argument("--rate", type=int, default=1000, help="send_rate_per_second (1-1000)")
    parser.add_argument("--timeout", type=float, default=120.0, help="after the last due time")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=lambda r: 0 if r["met"] else 2))
