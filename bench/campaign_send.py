"""Figure 2 of bench/campaigns.py: a campaign of --recipients recipients on one WhatsApp
number configured at --rate messages/s, sent by --workers `omnistream worker` processes to
the Graph API sandbox in benchmark mode, while an agent's replies on the same number are
POSTed through the API every 100-200 ms.

The audience is a clean CSV (every row a distinct valid number) uploaded through the API
(its time is reported too); the campaign is started with POST .../schedule ({}), and is
done when the campaigns table says `completed`. Figures: the campaign's send rate (from
its recipients' sent_at: overall and the mean of the full seconds), every send of the
number per sandbox second (campaign and replies: the most in any second, the seconds over
the limit as the sandbox counts them), duplicates (campaign numbers the sandbox accepted
more than once), each reply's latency from its created_at to its sent_at (messages table)
and from the POST to its sent_at, and CPU per process."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import harness
import httpx
from campaign_setup import Setup, call, campaign_on_scratch, clean_csv, upload
from outbound import PHONE_ID

from omnistream.campaigns.worker import LEASE_SECONDS

SHARE = 0.8  # OMNISTREAM_CAMPAIGN_RATE_SHARE's default: the campaign's part of the rate
# The campaign's slots are exactly its share of each second, so "at least the share" can
# only hold with equality: met = within 1 % of it (as bench/outbound.py judges the rate).
RATE_TOLERANCE = 0.99
REPLY_P99_TARGET_MS = 1000.0


class Replier(threading.Thread):
    """An agent replying in --reply-conversations conversations, one POST every 100-200 ms."""

    def __init__(self, setup: Setup, conversations: list[UUID], seed: int) -> None:
        super().__init__(daemon=True)
        self.setup, self.conversations = setup, conversations
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.posts: list[dict[str, Any]] = []
        self.error: str | None = None

    def run(self) -> None:
        with httpx.Client(
            base_url=self.setup.api.base, headers=self.setup.headers, timeout=30
        ) as http:
            i = 0
            while not self.stop.is_set():
                conversation = self.conversations[i % len(self.conversations)]
                posted = time.time()
                response = http.post(
                    f"/api/v1/conversations/{conversation}/messages",
                    json={"type": "text", "text": f"Agent reply {i}"},
                )
                answered = time.time()
                if response.status_code != 201:
                    self.error = f"reply {i}: {response.status_code} {response.text[:300]}"
                    return
                self.posts.append(
                    {"id": UUID(response.json()["id"]), "posted": posted, "answered": answered}
                )
                i += 1
                self.stop.wait(self.rng.uniform(0.1, 0.2))


async def seed_conversations(dsn: str, account: UUID, count: int) -> tuple[list[UUID], set[str]]:
    """`count` customers writing in on the number (window open): their conversations and
    numbers (not campaign numbers, so their several replies are no duplicates)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """
            WITH k AS (
                INSERT INTO contacts (name, phone)
                SELECT 'Customer ' || n, '1650555' || lpad(n::text, 4, '0')
                  FROM generate_series(1, $1) n RETURNING id, phone
            ), c AS (
                INSERT INTO conversations (contact_id, channel, integration_account_id,
                                           last_inbound_at)
                SELECT id, 'whatsapp', $2, now() FROM k RETURNING id, contact_id
            )
            SELECT c.id, k.phone FROM c JOIN k ON k.id = c.contact_id
            """,
            count,
            account,
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows], {r["phone"] for r in rows}


async def one(dsn: str, query: str, *params: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(query, *params)
    finally:
        await conn.close()


def campaign_status(dsn: str, campaign_id: str) -> str:
    rows = asyncio.run(one(dsn, "SELECT status FROM campaigns WHERE id = $1", UUID(campaign_id)))
    return str(rows[0]["status"])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def latency(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50": pct(values, 0.50),
        "p90": pct(values, 0.90),
        "p99": pct(values, 0.99),
        "max": round(max(values), 1),
    }


def campaign_figures(dsn: str, campaign_id: str) -> dict[str, Any]:
    cid = UUID(campaign_id)
    statuses = asyncio.run(
        one(dsn, "SELECT status, count(*)::int AS n, max(attempts) AS most FROM "
                 "campaign_recipients WHERE campaign_id = $1 GROUP BY status", cid)
    )  # fmt: skip
    seconds = asyncio.run(
        one(dsn, "SELECT floor(extract(epoch FROM sent_at))::bigint AS s, count(*)::int AS n "
                 "FROM campaign_recipients WHERE campaign_id = $1 AND sent_at IS NOT NULL "
                 "GROUP BY 1 ORDER BY 1", cid)
    )  # fmt: skip
    bounds = asyncio.run(
        one(dsn, "SELECT min(r.sent_at) AS first, max(r.sent_at) AS last, c.started_at, "
                 "c.finished_at, c.status FROM campaigns c LEFT JOIN campaign_recipients r "
                 "ON r.campaign_id = c.id WHERE c.id = $1 GROUP BY c.id", cid)
    )[0]  # fmt: skip
    per_second = {r["s"]: r["n"] for r in seconds}
    first, last = bounds["first"], bounds["last"]
    sent = sum(per_second.values())
    full = [per_second.get(s, 0) for s in range(min(per_second) + 1, max(per_second))]
    duration = (last - first).total_seconds() if first and last else 0.0
    return {
        "status": bounds["status"],
        "recipients": {r["status"]: r["n"] for r in statuses},
        "most_attempts": max(r["most"] for r in statuses),
        "sent": sent,
        "first_send": first.timestamp() if first else None,
        "last_send": last.timestamp() if last else None,
        "started_at": bounds["started_at"].timestamp(),
        "finished_at": bounds["finished_at"].timestamp() if bounds["finished_at"] else None,
        "send_duration_s": round(duration, 3),
        "rate_per_s": round(sent / duration, 1) if duration else None,
        "sustained_per_s": round(statistics.mean(full), 1) if full else None,
        "slowest_full_second": min(full) if full else None,
        "per_second": [per_second.get(s, 0) for s in range(min(per_second), max(per_second) + 1)],
    }


def reply_figures(dsn: str, posts: list[dict[str, Any]], window: tuple[float, float]) -> Any:
    rows = asyncio.run(
        one(dsn, "SELECT id, status, created_at, sent_at FROM messages WHERE id = ANY($1::uuid[])",
            [p["id"] for p in posts])
    )  # fmt: skip
    by_id = {r["id"]: r for r in rows}
    during, created_to_sent, post_to_sent = [], [], []
    statuses: dict[str, int] = {}
    for post in posts:
        row = by_id[post["id"]]
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
        sent_at: datetime | None = row["sent_at"]
        if sent_at is None:
            continue
        ms = (sent_at - row["created_at"]).total_seconds() * 1000
        created_to_sent.append(ms)
        post_to_sent.append((sent_at.timestamp() - post["posted"]) * 1000)
        if window[0] <= post["posted"] <= window[1]:
            during.append(ms)
    api_ms = [(p["answered"] - p["posted"]) * 1000 for p in posts]
    return {
        "posted": len(posts),
        "statuses": statuses,
        "posted_while_the_campaign_sent": len(during),
        "created_to_sent_ms_while_sending": latency(during),
        "created_to_sent_ms_all": latency(created_to_sent),
        "post_to_sent_ms_all": latency(post_to_sent),
        "post_answer_ms": latency(api_ms),
    }


def sandbox_figures(url: str, rate: int, reply_phones: set[str]) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=120) as http:
        histogram = call(http, "GET", "/_sandbox/rate", 200, params={"account": PHONE_ID})
        params = {"account": PHONE_ID, "min_accepted": 2, "limit": 1_000_000}
        counts = call(http, "GET", "/_sandbox/recipients", 200, params=params)
    account = histogram["accounts"][PHONE_ID]
    twice = [r for r in counts["recipients"] if r["to"] not in reply_phones]
    busiest = sorted(account["per_second"], key=lambda r: -r["accepted"])[:3]
    return {
        "limit": account["limit"],
        "max_accepted_per_second": account["max_accepted_per_second"],
        "max_accepted_in_any_sliding_1s": account["max_accepted_in_any_1s_window"],
        "over_limit_seconds": account["over_limit_seconds"],
        "total_accepted": account["total_accepted"],
        "total_throttled": account["total_throttled"],
        "recipients_seen": counts["total_recipients"],
        "campaign_numbers_accepted_twice": len(twice),
        "busiest_seconds": [{"second": r["second"], "accepted": r["accepted"]} for r in busiest],
        "within_rate": account["max_accepted_per_second"] <= rate
        and not account["over_limit_seconds"],
    }


def batch_figures(dsn: str, campaign_id: str) -> dict[str, Any]:
    """The sender's claims, told apart by their lease (a claim sets every row's
    next_attempt_at to its now() + LEASE_SECONDS, and sending leaves it): how many, and the
    pause between one claim's last send and the next claim's first (slots unused meanwhile
    are lost to the campaign: its frontier does not wait)."""
    rows = asyncio.run(
        one(dsn, "SELECT next_attempt_at AS lease, count(*)::int AS n, min(sent_at) AS first, "
                 "max(sent_at) AS last FROM campaign_recipients WHERE campaign_id = $1 "
                 "AND sent_at IS NOT NULL GROUP BY 1 ORDER BY 1", UUID(campaign_id))
    )  # fmt: skip
    lease = timedelta(seconds=LEASE_SECONDS)
    claim_to_first = [(r["first"] - (r["lease"] - lease)).total_seconds() * 1000 for r in rows]
    gaps = [(b["first"] - a["last"]).total_seconds() * 1000 for a, b in itertools.pairwise(rows)]
    span = (rows[-1]["last"] - rows[0]["first"]).total_seconds() * 1000 if rows else 0.0
    return {
        "claims": len(rows),
        "mean_size": round(statistics.mean(r["n"] for r in rows), 1) if rows else 0,
        "claim_to_first_send_ms": latency(claim_to_first),
        "gap_between_claims_ms": latency(gaps),
        "gaps_share_of_sending": round(sum(g for g in gaps if g > 0) / span, 3) if span else 0,
    }


def wait_done(setup: Setup, workers: list[harness.Process], timeout: float) -> float:
    """Until the campaigns table says completed (or failed/cancelled): when it did."""
    deadline = time.monotonic() + timeout
    while True:
        status = campaign_status(setup.api.db.dsn, setup.campaign_id)
        if status in ("completed", "failed", "cancelled"):
            if status != "completed":
                raise harness.BenchError(f"the campaign ended {status}")
            return time.time()
        for worker in workers:
            worker.check_alive()
        if time.monotonic() > deadline:
            raise harness.BenchError(f"the campaign was not completed within {timeout:.0f} s")
        time.sleep(0.2)


def wait_replies_sent(dsn: str, posts: list[dict[str, Any]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    ids = [p["id"] for p in posts]
    query = (
        "SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[]) AND status = 'pending'"
    )
    while asyncio.run(one(dsn, query, ids))[0]["n"] and time.monotonic() < deadline:
        time.sleep(0.2)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with (
        campaign_on_scratch(args, "omnistream_bench_csend") as setup,
        ExitStack() as stack,
    ):
        dsn = setup.api.db.dsn
        conversations, reply_phones = asyncio.run(
            seed_conversations(dsn, setup.account_id, args.reply_conversations)
        )
        harness.console.print(f"uploading the audience: {args.recipients:,} numbers")
        upload_s, report = upload(setup, clean_csv(args.recipients))
        if report["accepted"] != args.recipients:
            raise harness.BenchError(f"the audience has {report['accepted']} recipients")
        if args.analyze:  # what autovacuum does a while after a bulk load (off here)
            asyncio.run(one(dsn, "ANALYZE campaign_recipients"))
        machine = harness.machine_info_of(dsn)
        reference = harness.hello_reference(
            setup.api.base, args.reference_duration, server_pid=setup.api.server.pid
        )
        harness.console.print(f"starting {args.workers} worker(s)")
        env = setup.worker_env()
        workers = [
            stack.enter_context(
                harness.omnistream(
                    ["worker"],
                    env,
                    setup.api.workdir,
                    f"worker{i + 1}",
                    profile=args.profile if i == 0 else None,
                )
            )
            for i in range(args.workers)
        ]
        time.sleep(3)  # migrations checked, loops listening
        for worker in workers:
            worker.check_alive()
        pids = {"workers": [w.pid for w in workers], "api": [setup.api.server.pid]}
        pids["sandbox"] = [setup.sandbox.pid]
        replier = Replier(setup, conversations, args.seed)
        replier.start()
        time.sleep(1)  # a few replies before the campaign
        before = harness.CpuSnapshot.take(pids, setup.api.db.name)
        scheduled = time.time()
        with httpx.Client(base_url=setup.api.base, headers=setup.headers, timeout=60) as http:
            call(http, "POST", f"/api/v1/campaigns/{setup.campaign_id}/schedule", 200, json={})
        harness.console.print("campaign scheduled; waiting for `completed`")
        completed_seen = wait_done(setup, workers, args.timeout)
        after = harness.CpuSnapshot.take(pids, setup.api.db.name)
        replier.stop.set()
        replier.join(30)
        if replier.error:
            raise harness.BenchError(replier.error)
        wait_replies_sent(dsn, replier.posts)
        campaign = campaign_figures(dsn, setup.campaign_id)
        batches = batch_figures(dsn, setup.campaign_id)
        replies = reply_figures(dsn, replier.posts, (campaign["first_send"], campaign["last_send"]))
        sandbox = sandbox_figures(setup.sandbox.url, args.rate, reply_phones)
    used = harness.cpu_used(before, after)
    sent = max(1, campaign["sent"])
    cpu = {
        name: {
            "pct_of_core": harness.pct_of_core(used[name], used["wall"]),
            "us_per_campaign_send": round(used[name] / sent * 1e6),
        }
        for name in ("workers", "api", "sandbox", "db_backends", "other")
    }
    target_rate = SHARE * args.rate
    p99 = replies["created_to_sent_ms_while_sending"].get("p99", float("inf"))
    met = {
        "sustained_at_least_share": (campaign["sustained_per_s"] or 0)
        >= RATE_TOLERANCE * target_rate,
        "never_over_rate": sandbox["within_rate"],
        "no_duplicates": sandbox["campaign_numbers_accepted_twice"] == 0
        and campaign["most_attempts"] == 1,
        "all_sent": campaign["recipients"] == {"sent": args.recipients},
        "reply_p99": p99 <= REPLY_P99_TARGET_MS,
    }
    return {
        "figure": "send",
        "machine": machine,
        "reference": reference,
        "recipients": args.recipients,
        "rate_limit_per_s": args.rate,
        "campaign_share_target_per_s": target_rate,
        "met_from_per_s": RATE_TOLERANCE * target_rate,
        "workers": args.workers,
        "analyze_after_upload": args.analyze,
        "audience_upload_s": round(upload_s, 3),
        "schedule_to_first_send_s": round(campaign["first_send"] - scheduled, 3),
        "schedule_to_completed_seen_s": round(completed_seen - scheduled, 3),
        "last_send_to_finished_at_s": round(campaign["finished_at"] - campaign["last_send"], 3),
        "campaign": {k: v for k, v in campaign.items() if k != "per_second"},
        "claims": batches,
        "sandbox": sandbox,
        "replies": replies,
        "cpu_during_campaign": cpu,
        "target": {**met, "met": all(met.values())},
        "campaign_per_second": campaign["per_second"],
    }
