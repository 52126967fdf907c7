"""Email sending (issue 16): --mails pending agent replies in as many email conversations,
sent by ONE `omnistream worker` through the real outbound pipeline (its outbound loop: claim,
the account's rate limiter, the email adapter composing each reply in its thread, pooled
SMTP sessions with AUTH, outcomes recorded) to a local aiosmtpd server, timed from the
worker's start until every reply is `sent`.

What it does: starts the recording SMTP server of the tests (tests/channels/email/
smtp_server.py: aiosmtpd on a loopback port, AUTH required, every accepted mail kept) in
this process, its handler also noting each mail's arrival time; creates a scratch database
`omnistream_bench_mail_out_<random>` on --database-url's server, migrates it, and seeds one
email integration (sealed credentials, TLS none on loopback) whose account may send
--rate mails/s (send_rate_per_second; the column's default is 80, below the target, so the
bench sets it as an admin would), --mails customers (an email identity each) with an open
conversation holding the customer's mail (Message-ID, Indonesian subject) and one pending
text reply; every tenth reply has a CC. Then ANALYZE, the hello-world reference, then the
worker (every loop but email_inbound: there is no mailbox to read here).

Figures: sustained mails/s = the middle 80 % of the arrivals (10 % to 90 %) over their
span at the server; also mails / (worker start -> all sent) with the worker's start-up
included, and per second counts. Checks: every reply `sent`, the server got each of our
Message-IDs exactly once (no duplicates, none missing, the stored channel ids are the
received ones), In-Reply-To naming the customer's mail, CC recipients in the envelope.
The target is >= 100 mails/s. Prints one JSON object on stdout; progress goes to stderr.
The worker and the SMTP server are stopped and the database dropped at the end, also on
failure or Ctrl-C.

    .venv/bin/python bench/email_send.py                  # 10,000 replies
    .venv/bin/python bench/email_send.py --mails 1000     # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any
from uuid import UUID

import asyncpg
import harness
from email_accounts import email_account
from outbound import SECRET_KEY

from omnistream.db.migrate import migrate
from omnistream.db.pool import init_connection

TARGET_PER_S = 100.0
MAILBOX = "support@omnistream.bench"
_HEADER = re.compile(rb"^(Message-ID|In-Reply-To):\s*(<[^>]*>)", re.MULTILINE | re.IGNORECASE)


def smtp_module() -> ModuleType:
    """tests/channels/email/smtp_server.py (the tests' SMTP server; bench/ has none)."""
    sys.path.insert(0, str(harness.ROOT))
    from tests.channels.email import smtp_server

    return smtp_server


@contextmanager
def smtp_server() -> Iterator[tuple[Any, list[float]]]:
    """The tests' recording aiosmtpd server (AUTH required), its handler also noting the
    arrival time (time.time()) of each accepted mail; stopped on the way out."""
    helpers = smtp_module()
    arrivals: list[float] = []
    # AUTH without TLS is what loopback means here; aiosmtpd's warnings about it and its
    # own deprecation notes (per connection) would only bury the progress.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    class TimedHandler(helpers.RecordingHandler):  # type: ignore[name-defined, misc]
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            reply: str = await super().handle_DATA(server, session, envelope)
            arrivals.append(time.time())
            return reply

    handler = TimedHandler()
    controller = helpers.AnyPortController(
        handler,
        hostname=helpers.HOST,
        port=0,
        server_hostname="smtp.omnistream.bench",
        ready_timeout=10.0,
        auth_require_tls=False,
        auth_required=True,
        authenticator=helpers.authenticate,
        enable_SMTPUTF8=True,
    )
    controller.start()
    try:
        yield helpers.RecordingSmtpServer(handler, controller, controller.port), arrivals
    finally:
        controller.stop()


async def seed(dsn: str, args: argparse.Namespace, port: int, user: str, password: str) -> UUID:
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    try:
        await migrate(conn)
        values = {
            "imap_host": "127.0.0.1",
            "imap_tls": "none",
            "imap_password": "unused-here",
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_tls": "none",
            "smtp_username": user,
            "smtp_password": password,
            "from_name": "Tim Dukungan",
        }
        account = await email_account(conn, values, MAILBOX, rate=args.rate)
        await conn.execute(
            """
            WITH k AS (
                INSERT INTO contacts (name, email)
                SELECT 'Pelanggan ' || n, 'pelanggan' || n || '@contoh.co.id'
                  FROM generate_series(1, $1) n RETURNING id, email
            ), i AS (
                INSERT INTO contact_identities (channel, external_id, contact_id)
                SELECT 'email', email, id FROM k
            ), c AS (
                INSERT INTO conversations (contact_id, channel, integration_account_id,
                                           last_inbound_at)
                SELECT id, 'email', $2, now() FROM k RETURNING id
            ), q AS (  -- the customer's mail the reply answers
                INSERT INTO messages (conversation_id, channel, channel_message_id, direction,
                                      type, content, status, created_at)
                SELECT id, 'email', '<q.' || id || '@contoh.co.id>', 'inbound', 'text',
                       jsonb_build_object(
                           'subject', 'Pesanan #' || (1000 + row_number() OVER ()) ||
                                      ' belum sampai — mohon bantuan',
                           'text', 'Selamat pagi, paket saya belum sampai.'),
                       'received', now() - interval '1 minute'
                  FROM c
            )
            INSERT INTO messages (conversation_id, channel, direction, type, content, status,
                                  next_attempt_at, created_at)
            SELECT id, 'email', 'outbound', 'text',
                   jsonb_build_object('text', 'Terima kasih, Bapak/Ibu. Paket Anda sudah '
                                              || 'kami kirim ulang hari ini.')
                   || CASE WHEN row_number() OVER () % 10 = 0
                           THEN jsonb_build_object('cc', jsonb_build_array(
                                    'kantor' || row_number() OVER () || '@contoh.co.id'))
                           ELSE '{}'::jsonb END,
                   'pending', now(), clock_timestamp()
              FROM c
            """,
            args.mails,
            account,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return account


async def statuses(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM messages WHERE direction = 'outbound' "
            "GROUP BY status"
        )
    finally:
        await conn.close()
    return {r["status"]: r["n"] for r in rows}


async def stored_ids(dsn: str) -> dict[str, str]:
    """Our stored Message-ID (channel id) of each sent reply -> the customer's mail's id."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT o.channel_message_id AS ours, q.channel_message_id AS theirs "
            "FROM messages o JOIN messages q ON q.conversation_id = o.conversation_id "
            "AND q.direction = 'inbound' WHERE o.direction = 'outbound' AND o.status = 'sent'"
        )
    finally:
        await conn.close()
    return {r["ours"]: r["theirs"] for r in rows}


def wait_until_sent(
    args: argparse.Namespace, dsn: str, worker: harness.Process, started: float
) -> tuple[dict[str, int], float]:
    """Until every reply is sent or failed: the last counts and the seconds it took."""
    with harness.progress(counts=True) as bar:
        task = bar.add_task("replies sent", total=args.mails)
        while True:
            counts = asyncio.run(statuses(dsn))
            done = counts.get("sent", 0) + counts.get("failed", 0)
            bar.update(task, completed=done)
            if done >= args.mails:
                return counts, time.monotonic() - started
            worker.check_alive()
            if time.monotonic() - started > args.timeout:
                raise harness.BenchError(f"not done after {args.timeout} s: {counts}")
            time.sleep(0.25)


def received_figures(server: Any, arrivals: list[float], ours: dict[str, str]) -> dict[str, Any]:
    """Rates from the arrival times; each stored Message-ID received once, threaded."""
    headers = [dict((k.decode().lower(), v.decode()) for k, v in _HEADER.findall(m.data))
               for m in server.received]  # fmt: skip
    by_id = Counter(h.get("message-id") for h in headers)
    times = sorted(arrivals)
    n = len(times)
    if n < 2:
        raise harness.BenchError(f"{n} mails reached the SMTP server: see the worker's log")
    low, high = times[int(0.1 * n)], times[min(n - 1, int(0.9 * n))]
    per_second = Counter(int(t) for t in times)
    return {
        "received": n,
        "distinct_message_ids_received": len(by_id),
        "duplicates": sum(1 for c in by_id.values() if c > 1),
        "stored_ids_received": sum(1 for mid in ours if by_id.get(mid) == 1),
        "in_reply_to_right": sum(
            1 for h in headers if ours.get(h.get("message-id", "")) == h.get("in-reply-to")
        ),
        "with_cc": sum(1 for m in server.received if len(m.rcpt_tos) == 2),
        "arrival_span_s": round(times[-1] - times[0], 3),
        "sustained_per_s_10_to_90pct": round((int(0.9 * n) - int(0.1 * n)) / (high - low), 1)
        if high > low
        else None,
        "max_per_second": max(per_second.values()),
        "per_second": [per_second[s] for s in range(int(times[0]), int(times[-1]) + 1)],
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    prefix = "omnistream_bench_mail_out"
    with (
        harness.work_folder("omnistream-bench-mail-out-") as work,
        harness.scratch_database(harness.server_dsn(args.database_url), prefix) as db,
        smtp_server() as (server, arrivals),
    ):
        helpers = smtp_module()
        harness.console.print(f"seeding {args.mails} pending email replies (rate {args.rate}/s)")
        asyncio.run(seed(db.dsn, args, server.port, helpers.TEST_USER, helpers.TEST_PASSWORD))
        info = harness.machine_info_of(db.dsn)
        reference = harness.reference_on(
            db.dsn, work, args.reference_duration, {"secret_key": SECRET_KEY}
        )
        env = harness.omnistream_env(  # the SMTP server listens on loopback
            db.dsn,
            None,
            work,
            secret_key=SECRET_KEY,
            worker_loops_off="email_inbound",
            allow_private_urls="true",
        )
        harness.console.print("sending with one worker")
        started, started_epoch = time.monotonic(), time.time()
        bench_cpu = time.process_time()  # this process: the SMTP server's thread
        with harness.omnistream(["worker"], env, work, "worker", profile=args.profile) as w:
            before = harness.CpuSnapshot.take({"worker": [w.pid]}, db.name)
            counts, wall = wait_until_sent(args, db.dsn, w, started)
            cpu = harness.cpu_used(before, harness.CpuSnapshot.take({"worker": [w.pid]}, db.name))
        worker_cpu = cpu["worker"]
        bench_cpu = time.process_time() - bench_cpu
        load_end = harness.load_average()
        ours = asyncio.run(stored_ids(db.dsn))
        result = received_figures(server, arrivals, ours)
    first_s = round(min(arrivals) - started_epoch, 2) if arrivals else None
    ok = (
        counts.get("sent", 0) == args.mails
        and result["received"] == args.mails
        and result["duplicates"] == 0
        and result["stored_ids_received"] == args.mails
        and result["in_reply_to_right"] == args.mails
    )
    sustained = result["sustained_per_s_10_to_90pct"]
    return {
        "benchmark": "email_send",
        "machine": {**info, "load_avg_1m_at_end": load_end},
        "reference": reference,
        "path": "`omnistream worker`: outbound loop -> email adapter -> aiosmtpd (AUTH, no TLS)",
        "mails": args.mails,
        "rate_limit_per_s": args.rate,
        **{k: v for k, v in result.items() if k != "per_second"},
        "statuses": counts,
        "seconds_worker_start_to_first_received": first_s,
        "seconds_worker_start_to_all_sent": round(wall, 2),
        "mails_per_s_from_worker_start": round(args.mails / wall, 1),
        "worker_cpu_s": round(worker_cpu, 2),
        # % of one core over the run: the worker, its database's backends, this process
        # (polls; for the send, the SMTP server), interrupts (loopback TCP), the rest of the
        # machine (Dovecot for the import, other people's work), and the machine (of 200).
        "cpu_pct_of_core": {
            k: harness.pct_of_core(cpu[k], cpu["wall"])
            for k in ("worker", "db_backends", "own", "interrupts", "other", "machine_busy")
        },
        "worker_cpu_ms_per_mail": round(worker_cpu / args.mails * 1e3, 2),
        # this process: the SMTP server thread, and the polls
        "bench_process_cpu_ms_per_mail": round(bench_cpu / args.mails * 1e3, 2),
        "target_per_s": TARGET_PER_S,
        "correct": ok,
        "met": bool(ok and sustained and sustained >= TARGET_PER_S),
        "per_second": result["per_second"],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(
        __doc__, harness.server_options(default=harness.DEFAULT_SERVER), harness.profile_options()
    )
    parser.add_argument("--mails", type=int, default=10_000, help="pending replies to send")
    parser.add_argument(
        "--rate", type=int, default=1000, help="the account's send_rate_per_second (1-1000)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for the sending")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=lambda r: 0 if r["met"] else 2))
