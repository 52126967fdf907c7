"""Email import (issue 16): --mails mails waiting in a real Dovecot mailbox are imported,
parsed and threaded by ONE `omnistream worker` (its `email_inbound` loop, the production
path: IMAP SEARCH / UID FETCH in batches, parse, sanitise, attachments as media, threading
and storing in one transaction per batch), timed from the worker's start until every mail
is stored.

What it does: starts Dovecot (tests/channels/email/dovecot.py: Debian's dovecot-imapd on a
loopback port, a temporary configuration and mail directory) and fills one user's INBOX
over pipelined IMAP APPEND with --mails varied mails (seeded, --seed): Indonesian text,
plain text or multipart/alternative with an HTML part, about --reply-share replies to one
of the last 1,000 mails, from its sender (In-Reply-To and References, Re: subject, the
quoted history below), about --attachment-share with a file of 2-8 KB, an encoded-word
subject in some; about --customers senders. Creates a scratch database `omnistream_bench_mail_in_
<random>` on --database-url's server, migrates it, and seeds one email integration (sealed
credentials, as the API stores them) for that mailbox. Then the hello-world reference, then
the worker (every loop, as in production), polling the stored count every 0.25 s.

Figures: mails/s = mails / (worker start -> last mail stored) (the worker's start-up and
login included) and `sustained_per_s` between 10 % and 90 % stored (interpolated from the
polls); checks: stored messages = mails, every reply in its parent's conversation and
linked to it (reply_to_id), conversations = mails that start a thread, no failed mail, the
import cursor at the last UID. The target is >= 100 mails/s. Prints one JSON object on
stdout; progress goes to stderr. Dovecot is stopped, the database dropped and the work
folder removed at the end, also on failure or Ctrl-C.

    .venv/bin/python bench/email_import.py                 # 10,000 mails
    .venv/bin/python bench/email_import.py --mails 1000    # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from types import ModuleType
from typing import Any
from uuid import UUID

import asyncpg
import harness
from email_accounts import email_account
from outbound import SECRET_KEY, worker_env

from omnistream.db.migrate import migrate
from omnistream.db.pool import init_connection

TARGET_PER_S = 100.0
MAILBOX = "support@omnistream.bench"
APPEND_CHUNK = 500

SUBJECTS = [
    "Pesanan #{n} belum sampai",
    "Pengembalian dana untuk pesanan {n}",
    "Tagihan bulan ini salah — mohon dicek",
    "Pertanyaan tentang garansi produk {n}",
    "Alamat pengiriman berubah",
    "Kode promo tidak berlaku",
    "Barang yang diterima rusak 😞",
]
SENTENCES = [
    "Selamat pagi, saya ingin menanyakan status pesanan saya.",
    "Paket belum sampai padahal sudah lewat lima hari kerja.",
    "Mohon bantuan untuk mengecek nomor resi berikut ini.",
    "Saya sudah membayar Rp 1.250.000 melalui transfer bank.",
    "Apakah bisa dikirim ulang ke alamat kantor saya di Jakarta Selatan?",
    "Terima kasih atas bantuannya, ditunggu kabar selanjutnya.",
    "Barangnya datang dalam keadaan penyok dan tidak bisa dipakai.",
    "Bisakah saya menukar ukuran sepatu dari 42 ke 43?",
]
QUOTED = (
    "\n\nPada hari Senin, Tim Dukungan menulis:\n"
    "> Terima kasih telah menghubungi kami.\n> Salam,\n> Tim Dukungan"
)
NAMES = ["Budi Santoso", "Siti Rahayu", "Agus Pratama", "Dewi Lestari", "Rina Wulandari",
         "Eko Saputra", "Putri Maharani", "Joko Susilo", "Wayan Sudarsa", "Nur Aisyah"]  # fmt: skip


def dovecot_module() -> ModuleType:
    """tests/channels/email/dovecot.py (the tests' Dovecot; bench/ has none of its own)."""
    sys.path.insert(0, str(harness.ROOT))
    from tests.channels.email import dovecot

    return dovecot


def corpus(args: argparse.Namespace) -> tuple[list[bytes], dict[str, Any]]:
    """The mails in delivery order, and what the import must make of them."""
    rng = random.Random(args.seed)
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    earlier: list[tuple[int, str, str, list[str]]] = []  # customer, subject, id, refs
    raws: list[bytes] = []
    kinds = {"plain": 0, "alternative": 0, "attachment": 0, "encoded_subject": 0}
    replies = 0
    for i in range(args.mails):
        # A reply answers one of the last 1,000 mails (its customer writes again).
        parent = (
            rng.choice(earlier[-1000:]) if earlier and rng.random() < args.reply_share else None
        )
        customer = parent[0] if parent else rng.randrange(args.customers)
        name = NAMES[customer % len(NAMES)]
        mail = EmailMessage()
        mail["From"] = f"{name} <pelanggan{customer}@contoh.co.id>"
        mail["To"] = MAILBOX
        message_id = f"<bench.{i}.{args.seed}@contoh.co.id>"
        mail["Message-ID"] = message_id
        mail["Date"] = format_datetime(start + timedelta(seconds=i))
        body = " ".join(rng.sample(SENTENCES, rng.randint(2, 5)))
        references: list[str] = []
        if parent is not None:
            _, parent_subject, parent_id, parent_refs = parent
            subject = (
                parent_subject if parent_subject.startswith("Re: ") else f"Re: {parent_subject}"
            )
            references = [*parent_refs, parent_id][-10:]
            mail["In-Reply-To"] = parent_id
            mail["References"] = " ".join(references)
            body += QUOTED
            replies += 1
        else:
            subject = rng.choice(SUBJECTS).format(n=rng.randint(1000, 99999))
        if any(ord(c) > 127 for c in subject):
            kinds["encoded_subject"] += 1
        mail["Subject"] = subject
        mail.set_content(body + f"\n\n{name}\n")
        if rng.random() < 0.5:
            paragraphs = "".join(f"<p>{s}</p>" for s in body.split("\n\n"))
            mail.add_alternative(
                f'<html><body style="font-family:sans-serif">{paragraphs}'
                f"<p><b>{name}</b></p></body></html>",
                subtype="html",
            )
            kinds["alternative"] += 1
        else:
            kinds["plain"] += 1
        if rng.random() < args.attachment_share:
            data = rng.randbytes(rng.randint(2048, 8192))
            mail.add_attachment(data, maintype="application", subtype="pdf",
                                filename=f"bukti-transfer-{i}.pdf")  # fmt: skip
            kinds["attachment"] += 1
        raws.append(mail.as_bytes(policy=SMTP))
        earlier.append((customer, subject, message_id, references))
    expect = {"replies": replies, "threads": args.mails - replies, "kinds": kinds,
              "bytes": sum(len(r) for r in raws)}  # fmt: skip
    return raws, expect


async def fill(dovecot: Any, user: Any, raws: list[bytes]) -> tuple[int, float]:
    """Appends the mails over IMAP (pipelined); the last UID and the seconds it took."""
    started = time.monotonic()
    last = 0
    with harness.progress(counts=True) as bar:
        task = bar.add_task("appending to Dovecot", total=len(raws))
        for at in range(0, len(raws), APPEND_CHUNK):
            uids = await dovecot.append_all(raws[at : at + APPEND_CHUNK], user)
            last = uids[-1]
            bar.update(task, advance=len(uids))
    return last, time.monotonic() - started


async def seed(dsn: str, dovecot: Any, user: Any) -> UUID:
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    try:
        await migrate(conn)
        values = {
            **dovecot.credentials(user),
            "imap_folder": "INBOX",
            "smtp_host": "127.0.0.1",
            "smtp_port": 2525,
            "smtp_tls": "none",
        }
        account = await email_account(conn, values, MAILBOX)
    finally:
        await conn.close()
    return account


async def stored_count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE channel = 'email' AND direction = 'inbound'"
        )
    finally:
        await conn.close()
    return found


async def checks(dsn: str, account: UUID) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM messages WHERE direction = 'inbound') AS stored,
                   (SELECT count(DISTINCT channel_message_id) FROM messages) AS distinct_ids,
                   (SELECT count(*) FROM conversations) AS conversations,
                   (SELECT count(*) FROM contacts) AS contacts,
                   (SELECT count(*) FROM media) AS media,
                   (SELECT count(*) FROM messages WHERE content->'in_reply_to' <> '[]') AS replies,
                   (SELECT count(*) FROM messages r
                      JOIN messages p ON p.channel_message_id = r.content->'in_reply_to'->>0
                     WHERE r.conversation_id = p.conversation_id AND r.reply_to_id = p.id)
                       AS replies_threaded,
                   (SELECT count(*) FROM messages WHERE content->>'html' IS NOT NULL
                                                    AND content->>'html' <> '') AS with_html,
                   (SELECT count(*) FROM messages
                     WHERE jsonb_array_length(content->'attachments') > 0) AS with_attachments
            """
        )
        cursor = await conn.fetchrow(
            "SELECT last_uid, last_error FROM email_import_cursors "
            "WHERE integration_account_id = $1",
            account,
        )
    finally:
        await conn.close()
    assert row is not None
    return dict(row) | {
        "cursor_last_uid": cursor["last_uid"] if cursor else None,
        "last_error": cursor["last_error"] if cursor else "no cursor",
    }


def crossing(samples: list[tuple[float, int]], count: float) -> float:
    """When the stored count reached `count` (linear between polls)."""
    for (t0, n0), (t1, n1) in itertools.pairwise(samples):
        if n1 >= count:
            return t0 if n1 == n0 else t0 + (t1 - t0) * (count - n0) / (n1 - n0)
    return samples[-1][0]


def wait_until_stored(
    args: argparse.Namespace, dsn: str, worker: harness.Process, started: float
) -> list[tuple[float, int]]:
    """(seconds since the worker started, stored count) polls until all are stored."""
    samples = [(0.0, 0)]
    with harness.progress(counts=True) as bar:
        task = bar.add_task("mails stored", total=args.mails)
        while samples[-1][1] < args.mails:
            time.sleep(0.25)
            worker.check_alive()
            samples.append((time.monotonic() - started, asyncio.run(stored_count(dsn))))
            bar.update(task, completed=samples[-1][1])
            if samples[-1][0] > args.timeout:
                raise harness.BenchError(f"{samples[-1][1]} of {args.mails} stored in time")
    return samples


def bench(args: argparse.Namespace) -> dict[str, Any]:
    dovecot_helpers = dovecot_module()
    raws, expect = corpus(args)
    prefix = "omnistream_bench_mail_in"
    harness.console.print(f"{args.mails} mails generated ({expect['bytes'] / 2**20:.1f} MiB)")
    with (
        harness.work_folder("omnistream-bench-mail-in-") as work,
        harness.scratch_database(harness.server_dsn(args.database_url), prefix) as db,
        dovecot_helpers.running_dovecot() as server,
    ):
        user = server.add_user()
        last_uid, append_s = asyncio.run(fill(server, user, raws))
        account = asyncio.run(seed(db.dsn, server, user))
        info = harness.machine_info_of(db.dsn)
        reference = harness.reference_on(
            db.dsn, work, args.reference_duration, {"secret_key": SECRET_KEY}
        )
        harness.console.print(f"importing {args.mails} mails with one worker")
        env = worker_env(db.dsn, work)
        started = time.monotonic()
        with harness.omnistream(["worker"], env, work, "worker", profile=args.profile) as w:
            before = harness.CpuSnapshot.take({"worker": [w.pid]}, db.name)
            samples = wait_until_stored(args, db.dsn, w, started)
            cpu = harness.cpu_used(before, harness.CpuSnapshot.take({"worker": [w.pid]}, db.name))
        worker_cpu = cpu["worker"]
        load_end = harness.load_average()
        found = asyncio.run(checks(db.dsn, account))
    elapsed = samples[-1][0]
    first, low = crossing(samples, 1), crossing(samples, 0.1 * args.mails)
    high = crossing(samples, 0.9 * args.mails)
    rate = args.mails / elapsed
    sustained = 0.8 * args.mails / (high - low) if high > low else None
    ok = (
        found["stored"] == args.mails
        and found["distinct_ids"] == args.mails
        and found["replies_threaded"] == expect["replies"]
        and found["conversations"] == expect["threads"]
        and found["cursor_last_uid"] == last_uid
        and found["last_error"] is None  # no mail skipped as failed
    )
    return {
        "benchmark": "email_import",
        "machine": {**info, "load_avg_1m_at_end": load_end},
        "reference": reference,
        "path": "`omnistream worker` (every loop), its email_inbound loop, Dovecot over IMAP",
        "mails": args.mails,
        "mailbox_mib": round(expect["bytes"] / 2**20, 1),
        "corpus": expect["kinds"] | {"replies": expect["replies"], "threads": expect["threads"]},
        "append_s": round(append_s, 2),
        "seconds_worker_start_to_all_stored": round(elapsed, 2),
        "seconds_worker_start_to_first_stored": round(first, 2),
        "mails_per_s": round(rate, 1),
        "sustained_per_s_10_to_90pct": round(sustained, 1) if sustained else None,
        "checks": found,
        "worker_cpu_s": round(worker_cpu, 2),
        # % of one core over the run: the worker, its database's backends, this process
        # (polls; for the send, the SMTP server), interrupts (loopback TCP), the rest of the
        # machine (Dovecot for the import, other people's work), and the machine (of 200).
        "cpu_pct_of_core": {
            k: harness.pct_of_core(cpu[k], cpu["wall"])
            for k in ("worker", "db_backends", "own", "interrupts", "other", "machine_busy")
        },
        "worker_cpu_ms_per_mail": round(worker_cpu / args.mails * 1e3, 2),
        "target_per_s": TARGET_PER_S,
        "correct": ok,
        "met": bool(ok and rate >= TARGET_PER_S),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(
        __doc__, harness.server_options(default=harness.DEFAULT_SERVER), harness.profile_options()
    )
    parser.add_argument("--mails", type=int, default=10_000, help="mails in the mailbox")
    parser.add_argument("--customers", type=int, default=2_000, help="distinct senders")
    parser.add_argument("--reply-share", type=float, default=0.3, help="about this share replies")
    parser.add_argument("--attachment-share", type=float, default=0.1, help="with a 2-8 KB file")
    parser.add_argument("--seed", type=int, default=16, help="of the mail generator")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the import")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=lambda r: 0 if r["met"] else 2))
