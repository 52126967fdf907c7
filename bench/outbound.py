"""Outbound sending throughput: one `omnistream worker` sending to one WhatsApp account
configured at --rate messages/s, against the Graph API sandbox in benchmark mode (--instant:
every valid send accepted at once, no statuses, no faults).

What it does: creates a scratch database `omnistream_bench_out_<random>` on --database-url's
server and migrates it; starts `omnistream sandbox --instant` (its own process) with one
WhatsApp account; seeds one integration (credentials sealed like the API does) whose account
has send_rate_per_second = --rate, and --messages pending text replies, one per conversation
(a conversation's replies go out one after the other, so many customers is the realistic
fan-out); then starts ONE `omnistream worker` (--workers N: N of them, sharing the
account's rate through PostgreSQL) and waits until every message is sent.

Figures come from the sandbox's recording (its clock, the time each send was accepted):
rate = sent / (last accept - first accept), `sustained` = the mean of the full seconds in
between, the largest count in any second-aligned window (what the rate limit guarantees)
and in any sliding 1 s window (by accept and by arrival time; receiver jitter included),
duplicates (sends of one message accepted more than once, counted by
biz_opaque_callback_data), and the worker's CPU time per message. Prints one JSON object on
stdout; progress goes to stderr. Everything is stopped and the database dropped at the end,
also on failure or Ctrl-C.

    .venv/bin/python bench/outbound.py                     # 10,000 messages at 1,000/s
    .venv/bin/python bench/outbound.py --messages 3000 --rate 500
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import harness
import httpx

from omnistream.db.migrate import migrate
from omnistream.db.pool import init_connection
from omnistream.integrations.credentials import seal
from omnistream.kit.crypto import SecretBox
from omnistream.kit.enums import Channel

PHONE_ID = "109000000000001"
TOKEN = "bench-whatsapp-token"
APP_SECRET = "bench-app-secret"
SECRET_KEY = "bench-outbound-" + "k" * 40


# $1 customers (contacts) with one open WhatsApp conversation each on account $2, the
# window open; the statement that follows reads them as `c`.
CUSTOMER_CONVERSATIONS = """
            WITH k AS (
                INSERT INTO contacts (name, phone)
                SELECT 'Customer ' || n, '1650' || lpad(n::text, 7, '0')
                  FROM generate_series(1, $1) n RETURNING id
            ), c AS (
                INSERT INTO conversations (contact_id, channel, integration_account_id,
                                           last_inbound_at)
                SELECT id, 'whatsapp', $2, now() FROM k RETURNING id
            )"""


def max_in_window(times: list[float], width: float = 1.0) -> int:
    ordered, best, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


async def whatsapp_account(conn: asyncpg.Connection, graph: str, rate: int) -> UUID:
    """A WhatsApp integration pointed at the sandbox (credentials sealed as the API does)
    and its default account sending at up to `rate` messages/s; the account's id."""
    integration_id = uuid4()
    values = {
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": "bench-verify",
        "waba_id": "209000000000001",
        "base_url": graph,
    }
    stored = seal(SecretBox(SECRET_KEY), Channel.WHATSAPP, integration_id, values)
    await conn.execute(
        "INSERT INTO integrations (id, channel, name, credentials_json) "
        "VALUES ($1, 'whatsapp', 'bench', $2)",
        integration_id,
        stored,
    )
    account: UUID = await conn.fetchval(
        "INSERT INTO integration_accounts (integration_id, external_id, is_default, "
        "send_rate_per_second) VALUES ($1, $2, true, $3) RETURNING id",
        integration_id,
        PHONE_ID,
        rate,
    )
    return account


async def seed(dsn: str, messages: int, rate: int, graph: str) -> None:
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    try:
        await migrate(conn)
        account = await whatsapp_account(conn, graph, rate)
        await conn.execute(
            CUSTOMER_CONVERSATIONS
            + """
            INSERT INTO messages (conversation_id, channel, direction, type, content, status,
                                  next_attempt_at, created_at)
            SELECT id, 'whatsapp', 'outbound', 'text', '{"text": "Your parcel is on its way"}',
                   'pending', now(), clock_timestamp()
              FROM c
            """,
            messages,
            account,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def sent_count(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM messages GROUP BY status")
    finally:
        await conn.close()
    return {r["status"]: r["n"] for r in rows}


def sandbox_config(messages: int) -> dict[str, Any]:
    """One WhatsApp account; the recording holds every send of the run."""
    account = {"channel": "whatsapp", "external_id": PHONE_ID}
    account |= {"access_token": TOKEN, "app_secret": APP_SECRET}
    return {"record_limit": 10 * messages + 100, "accounts": [account]}


def worker_env(dsn: str, work: Path) -> dict[str, str]:
    """A worker that can open the sealed credentials and send to the sandbox on loopback."""
    return harness.omnistream_env(dsn, None, work, secret_key=SECRET_KEY, allow_private_urls="true")


def figures(url: str, messages: int) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=60) as http:
        records = http.get(
            "/_sandbox/requests",
            params={"path": "/messages", "limit": min(100_000, 2 * messages + 100)},
        ).json()["requests"]
        sends = http.get("/_sandbox/sends", params={"account": PHONE_ID}).json()["sends"]
    accepted = sorted(r["accepted_at"] for r in records if r.get("accepted_at") is not None)
    arrived = sorted(r["at"] for r in records if r.get("accepted_at") is not None)
    refused = Counter(r["status"] for r in records if r["status"] != 200)
    per_second = Counter(int(t) for t in accepted)
    full = [per_second[s] for s in range(int(accepted[0]) + 1, int(accepted[-1]))]
    duration = accepted[-1] - accepted[0]
    return {
        "sent": len(accepted),
        "duration_s": round(duration, 3),
        "rate_per_s": round(len(accepted) / duration, 1) if duration else None,
        "sustained_per_s": round(sum(full) / len(full), 1) if full else None,
        "max_per_second_aligned": max(per_second.values()),
        "max_in_any_sliding_1s": max_in_window(accepted),
        "max_in_any_sliding_1s_by_arrival": max_in_window(arrived),
        "duplicates": sum(1 for s in sends if s["accepted"] > 1),
        "messages_reaching_sandbox": len(sends),
        "refused": dict(refused),
        "per_second": [per_second[s] for s in range(int(accepted[0]), int(accepted[-1]) + 1)],
    }


@contextmanager
def sandbox_on_scratch(
    args: argparse.Namespace, prefix: str
) -> Iterator[tuple[Path, harness.ScratchDatabase, harness.Process]]:
    """A work folder, a scratch database `<prefix>_<random>` and the sandbox in benchmark
    mode with one WhatsApp account; all gone on the way out."""
    with (
        harness.work_folder(prefix.replace("_", "-") + "-") as work,
        harness.scratch_database(harness.server_dsn(args.database_url), prefix) as db,
        harness.sandbox(work, sandbox_config(args.messages)) as sandbox,
    ):
        yield work, db, sandbox


def bench(args: argparse.Namespace) -> dict[str, Any]:
    with (
        sandbox_on_scratch(args, "omnistream_bench_out") as (work, db, sandbox),
        ExitStack() as workers_stack,
    ):
        harness.console.print(f"seeding {args.messages} pending messages (rate {args.rate}/s)")
        asyncio.run(seed(db.dsn, args.messages, args.rate, sandbox.url))
        info = harness.machine_info_of(db.dsn)
        reference = harness.reference_on(
            db.dsn, work, args.reference_duration, {"secret_key": SECRET_KEY}
        )
        harness.console.print(f"starting {args.workers} worker(s)")
        started = time.monotonic()
        env = worker_env(db.dsn, work)
        workers = [
            workers_stack.enter_context(
                harness.omnistream(["worker"], env, work, "worker", profile=args.profile)
            )
            for _ in range(args.workers)
        ]
        sandbox_cpu = harness.proc_cpu_seconds(sandbox.pid)
        deadline = started + args.timeout
        while True:
            counts = asyncio.run(sent_count(db.dsn))
            if counts.get("sent", 0) + counts.get("failed", 0) >= args.messages:
                break
            for worker in workers:
                worker.check_alive()
            if time.monotonic() > deadline:
                raise harness.BenchError(f"not done after {args.timeout} s: {counts}")
            time.sleep(0.25)
        wall = time.monotonic() - started
        worker_cpu = sum(harness.proc_cpu_seconds(w.pid) for w in workers)
        sandbox_cpu = harness.proc_cpu_seconds(sandbox.pid) - sandbox_cpu
        result = figures(sandbox.url, args.messages)
    return {
        "benchmark": "outbound",
        "machine": info,
        "reference": reference,
        "messages": args.messages,
        "rate_limit_per_s": args.rate,
        "workers": args.workers,
        **{k: v for k, v in result.items() if k != "per_second"},
        "statuses": counts,
        "wall_s_from_worker_start": round(wall, 2),
        "worker_cpu_s": round(worker_cpu, 2),
        "worker_cpu_us_per_message": round(worker_cpu / args.messages * 1e6),
        "sandbox_cpu_us_per_message": round(sandbox_cpu / args.messages * 1e6),
        # The limiter's ceiling is the configured rate itself: "at least the rate" can
        # only hold with equality, so met = within 1% of it, never above it.
        "met": bool(
            result["sustained_per_s"]
            and result["sustained_per_s"] >= 0.99 * args.rate
            and result["max_per_second_aligned"] <= args.rate
            and result["duplicates"] == 0
            and result["sent"] == args.messages
        ),
        "per_second": result["per_second"],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(
        __doc__, harness.server_options(default=harness.DEFAULT_SERVER), harness.profile_options()
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=1000, help="send_rate_per_second (1-1000)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the rate")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=lambda r: 0 if r["met"] else 2))
