"""Worker takeover: from the SIGKILL of `omnistream worker` to the first send of a reply it
had claimed but not sent ("stranded"), by the worker restarted at once, over --kills kills.

What it does: a scratch database, the Graph API sandbox (not in benchmark mode: its status
webhooks go to `omnistream serve` on this database, so sends accepted just before a kill
are recorded from their statuses and not sent again), one WhatsApp account sending at
--rate messages/s (80, Meta's default; the sender claims more than it can send at once, so
every kill strands claimed replies, and a backlog waits behind them), and --messages
pending replies in as many conversations. Then, --kills times: the running worker is
SIGKILLed while it sends; the replies still claimed by it and not accepted by the sandbox
are the stranded ones; a new worker starts at once (its grace
OMNISTREAM_WORKER_TAKEOVER_GRACE_SECONDS = --grace) and the time from the kill to the
sandbox's acceptance of the first stranded reply is one sample. The target: p99 <= grace
+ 5 s. Duplicates: sends the sandbox accepted more than once (expected 0). Prints one JSON
object on stdout; progress on stderr.

    .venv/bin/python bench/takeover.py                      # 20 kills, the default 20 s grace
    .venv/bin/python bench/takeover.py --kills 5 --grace 3  # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import time
from contextlib import ExitStack
from typing import Any

import asyncpg
import harness
import httpx
from outbound import APP_SECRET, PHONE_ID, SECRET_KEY, TOKEN, worker_env
from outbound import seed as seed_replies

TARGET_MARGIN_S = 5.0


async def seed(dsn: str, messages: int, rate: int, graph: str) -> None:
    """outbound.seed, each reply due when written (as the API writes them), so the queue is
    in writing order, as in production."""
    await seed_replies(dsn, messages, rate, graph)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE messages SET next_attempt_at = created_at")
    finally:
        await conn.close()


def sandbox_config(messages: int, webhook_url: str) -> dict[str, Any]:
    account = {"channel": "whatsapp", "external_id": PHONE_ID, "webhook_url": webhook_url}
    account |= {"access_token": TOKEN, "app_secret": APP_SECRET}
    timing = {"sent_ms": 0, "delivered_ms": None, "read_ms": None}
    return {"record_limit": 3 * messages + 100, "accounts": [account], "timing": timing}


async def claimed_pending(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id::text FROM messages WHERE status = 'pending' AND claimed_by IS NOT NULL"
        )
    finally:
        await conn.close()
    return {r["id"] for r in rows}


class Acceptances:
    """Our message id -> the sandbox's time of its first acceptance (epoch seconds), read
    incrementally: each poll fetches only the sends recorded since the last one, so polling
    costs the sandbox and this process little while the figure is taken."""

    def __init__(self, sandbox: str) -> None:
        self.http = httpx.Client(base_url=sandbox, timeout=60)
        self.first: dict[str, float] = {}
        self.since = 0  # the oldest record not yet settled (answered)

    def update(self) -> dict[str, float]:
        params = {"path": "/messages", "since": self.since, "limit": 100_000}
        records = self.http.get("/_sandbox/requests", params=params).json()["requests"]
        for r in records:
            key = r["body"].get("biz_opaque_callback_data")
            if r.get("accepted_at") is not None and key:
                self.first[key] = min(self.first.get(key, r["accepted_at"]), r["accepted_at"])
        unsettled = [r["index"] for r in records if r["status"] is None]
        if unsettled:
            self.since = min(unsettled)
        elif records:
            self.since = records[-1]["index"] + 1
        return self.first


def duplicates(sandbox: str) -> int:
    with httpx.Client(base_url=sandbox, timeout=60) as http:
        sends = http.get("/_sandbox/sends", params={"account": PHONE_ID}).json()["sends"]
    return sum(1 for s in sends if s["accepted"] > 1)


def one_kill(dsn: str, acceptances: Acceptances, worker: harness.Process) -> tuple[float, set[str]]:
    """Kill `worker` while it sends: the time of the kill and the replies it stranded."""
    before = len(acceptances.update())
    deadline = time.monotonic() + 60
    while len(acceptances.update()) < before + 5:  # sending (not just starting up)
        worker.check_alive()
        if time.monotonic() > deadline:
            raise harness.BenchError("the worker sent nothing within 60 s")
        time.sleep(0.1)
    time.sleep(random.uniform(0.0, 1.0))
    worker.proc.send_signal(signal.SIGKILL)
    worker.proc.wait(10)
    killed_at = time.time()
    time.sleep(0.3)  # sends already at the sandbox finish there
    return killed_at, asyncio.run(claimed_pending(dsn)) - set(acceptances.update())


def first_send_after(
    acceptances: Acceptances, stranded: set[str], worker: harness.Process, within: float
) -> float:
    """When the sandbox first accepted one of the `stranded` replies (epoch seconds)."""
    limit = time.monotonic() + within
    while True:
        times = [t for i, t in acceptances.update().items() if i in stranded]
        if times:
            return min(times)
        worker.check_alive()
        if time.monotonic() > limit:
            raise harness.BenchError(f"no stranded reply was sent within {within:.0f} s")
        time.sleep(0.1)


def bench(args: argparse.Namespace) -> dict[str, Any]:
    port = harness.free_port()
    webhook = f"http://127.0.0.1:{port}/webhooks/meta"
    with (
        harness.work_folder("omnistream-bench-takeover-") as work,
        harness.scratch_database(
            harness.server_dsn(args.database_url), "omnistream_bench_takeover"
        ) as db,
        harness.sandbox(work, sandbox_config(args.messages, webhook), instant=False) as sb,
    ):
        harness.console.print(f"seeding {args.messages} pending replies (rate {args.rate}/s)")
        asyncio.run(seed(db.dsn, args.messages, args.rate, sb.url))
        info = harness.machine_info_of(db.dsn)
        env = worker_env(db.dsn, work) | {
            "OMNISTREAM_WORKER_TAKEOVER_GRACE_SECONDS": f"{args.grace:g}"
        }
        samples: list[float] = []
        stranded_counts: list[int] = []
        with harness.serve(db.dsn, port, work, settings={"secret_key": SECRET_KEY}) as server:
            reference = harness.hello_reference(
                f"http://127.0.0.1:{port}", args.reference_duration, server_pid=server.pid
            )
            acceptances = Acceptances(sb.url)
            worker_stack = ExitStack()
            current = worker_stack.enter_context(harness.omnistream(["worker"], env, work, "w0"))
            try:
                with harness.progress() as bar:
                    task = bar.add_task("kills", total=args.kills)
                    for n in range(1, args.kills + 1):
                        killed_at, stranded = one_kill(db.dsn, acceptances, current)
                        worker_stack.close()  # (already dead: only the bookkeeping)
                        current = worker_stack.enter_context(
                            harness.omnistream(["worker"], env, work, f"w{n}")
                        )
                        stranded_counts.append(len(stranded))
                        if stranded:
                            limit = args.grace + 60
                            first = first_send_after(acceptances, stranded, current, limit)
                            samples.append(first - killed_at)
                        bar.update(task, advance=1)
            finally:
                worker_stack.close()
        dup = duplicates(sb.url)
    ordered = sorted(samples)

    def q(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2) if ordered else None

    target = args.grace + TARGET_MARGIN_S
    return {
        "benchmark": "takeover",
        "machine": info,
        "reference": reference,
        "kills": args.kills,
        "grace_s": args.grace,
        "rate_limit_per_s": args.rate,
        "kills_with_stranded_replies": len(samples),
        "stranded_per_kill": stranded_counts,
        "kill_to_first_stranded_send_s": {
            "p50": q(0.5),
            "p99": q(0.99),
            "max": ordered[-1] if ordered else None,
            "all": [round(s, 2) for s in samples],
        },
        "target_p99_s": target,
        "duplicates": dup,
        "met": bool(ordered) and (q(0.99) or 0) <= target and dup == 0,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, harness.server_options(default=harness.DEFAULT_SERVER))
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--grace", type=float, default=20.0, help="the takeover grace (s)")
    parser.add_argument(
        "--rate", type=int, default=80, help="the account's sends per second (Meta's default)"
    )
    parser.add_argument("--messages", type=int, default=0, help="default: enough for --kills")
    args = parser.parse_args(argv)
    if args.messages <= 0:
        args.messages = int(args.kills * args.rate * (args.grace + 10) + 1000)
    return args


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=lambda r: 0 if r["met"] else 2))
