"""Benchmark: inbound end to end (issue 4): signed WhatsApp webhooks at a fixed rate, from
POST to message row + conversation updated + message.created event published.

Starts ONE `omnistream serve` (API only) and ONE `omnistream worker` on a scratch database,
creates a WhatsApp integration over the API, then posts `--rate` signed WhatsApp text
webhooks per second for `--duration` seconds over `--connections` keep-alive connections
(a small asyncio client sending pre-built requests, so the load generator costs little CPU).
Message i comes from customer i mod `--contacts`: the first message of each customer opens
a contact and a conversation, the rest land in existing ones. Then it waits until the
backlog has drained and reads, per message, when its message.created event was published
(event_outbox.published_at, the dispatcher's stamp): lag = published_at - the time its POST
started (both on this machine's clock). Prints one JSON object; progress goes to stderr.

    .venv/bin/python bench/inbound_e2e.py [--rate 2000] [--duration 60] [--contacts 5000]
    .venv/bin/python bench/inbound_e2e.py --profile /tmp/worker.txt   # py-spy in .venv

Target: >= 2,000 messages/s sustained for 60 s, API and worker on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg
import harness
import webhook_ack as ack

console = harness.console
TEXT = "Halo, saya mau tanya status pesanan saya nomor {n}. Terima kasih."
BODY = (
    '{{"object":"whatsapp_business_account","entry":[{{"id":"209000000000001","changes":'
    '[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":'
    '{{"display_phone_number":"15550100001","phone_number_id":"{phone_id}"}},'
    '"contacts":[{{"profile":{{"name":"Pelanggan {c}"}},"wa_id":"{wa_id}"}}],'
    '"messages":[{{"from":"{wa_id}","id":"wamid.e2e.{n}","timestamp":"{ts}",'
    '"type":"text","text":{{"body":"{text}"}}}}]}}}}]}}]}}'
)


def requests(count: int, contacts: int, port: int) -> list[bytes]:
    """Every POST, built up front: unique wamids, correct signatures."""
    built = []
    ts = int(time.time())
    secret = ack.SECRET.encode()
    for n in range(count):
        c = n % contacts
        body = BODY.format(
            phone_id=ack.PHONE_NUMBER_ID,
            c=c,
            wa_id=f"62812{c:08d}",
            n=n,
            ts=ts,
            text=TEXT.format(n=n),
        ).encode()
        signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
        head = (
            f"POST /webhooks/meta HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nX-Hub-Signature-256: sha256={signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        built.append(head + body)
    return built


class Load:
    """Posts request i at t0 + i / rate (or as soon after as a connection is free)."""

    def __init__(self, port: int, built: list[bytes], rate: float, connections: int) -> None:
        self.port, self.built, self.rate, self.connections = port, built, rate, connections
        self.started = [0.0] * len(built)  # wall-clock time each POST started
        self.status: dict[int, int] = {}
        self.next = 0
        self.t0 = 0.0

    async def run(self) -> None:
        self.t0 = time.time() + 0.2
        await asyncio.gather(*(self._connection() for _ in range(self.connections)))

    async def _connection(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while self.next < len(self.built):
                i, self.next = self.next, self.next + 1
                delay = self.t0 + i / self.rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.started[i] = time.time()
                writer.write(self.built[i])
                head = await reader.readuntil(b"\r\n\r\n")
                code = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                self.status[code] = self.status.get(code, 0) + 1
        finally:
            writer.close()


async def backlog(conn: asyncpg.Connection) -> asyncpg.Record:
    return await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM webhook_audit WHERE status = 'pending') AS pending,
               (SELECT coalesce(extract(epoch FROM now() - min(received_at)), 0)
                  FROM webhook_audit WHERE status = 'pending') AS oldest_s,
               (SELECT count(*) FROM event_outbox WHERE seq IS NULL) AS unpublished,
               (SELECT count(*) FROM messages) AS messages
        """
    )


async def drive(
    dsn: str, load: Load, drain_timeout: float, after_posting: Callable[[], None]
) -> dict[str, Any]:
    """Runs the load while sampling the backlog once a second, then waits for the drain."""
    conn = await asyncpg.connect(dsn)
    samples: list[dict[str, float]] = []
    try:
        task = asyncio.get_running_loop().create_task(load.run())
        with harness.progress() as progress:
            bar = progress.add_task("posting", total=len(load.built))
            while not task.done():
                await asyncio.sleep(1)
                row = await backlog(conn)
                samples.append({"t": round(time.time() - load.t0, 1), **dict(row)})
                progress.update(
                    bar,
                    completed=load.next,
                    description=f"posting; backlog {row['pending']} rows, oldest "
                    f"{row['oldest_s']:.2f} s, {row['messages']} messages",
                )
            await task
            posted = time.time()
            after_posting()
            bar2 = progress.add_task("draining", total=None)
            while True:
                row = await backlog(conn)
                if row["pending"] == 0 and row["unpublished"] == 0:
                    break
                if time.time() - posted > drain_timeout:
                    raise harness.BenchError(f"backlog not drained after {drain_timeout} s: {row}")
                progress.update(bar2, description=f"draining {dict(row)}")
                await asyncio.sleep(0.2)
        return {"drained_s_after_last_post": round(time.time() - posted, 2), "samples": samples}
    finally:
        await conn.close()


async def outcome(dsn: str, load: Load, contacts: int) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT m.channel_message_id AS wamid, extract(epoch FROM e.published_at) AS published
              FROM messages m
              JOIN event_outbox e ON e.type = 'message.created'
                                 AND e.data -> 'message' ->> 'id' = m.id::text
            """
        )
        checks = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM messages) AS messages,
                   (SELECT count(DISTINCT channel_message_id) FROM messages) AS distinct_ids,
                   (SELECT count(*) FROM conversations) AS conversations,
                   (SELECT coalesce(sum(unread_count), 0) FROM conversations) AS unread,
                   (SELECT count(*) FROM webhook_audit WHERE status <> 'processed') AS unprocessed
            """
        )
    finally:
        await conn.close()
    lags, published = [], []
    windows: dict[int, list[float]] = {}  # by 10 s of posting: is the lag growing?
    for row in rows:
        i = int(row["wamid"].rsplit(".", 1)[1])
        lag = float(row["published"]) - load.started[i]
        lags.append(lag)
        published.append(float(row["published"]))
        windows.setdefault(int((load.started[i] - load.t0) // 10), []).append(lag)
    by_window = {}
    for window, values in sorted(windows.items()):
        values.sort()
        by_window[f"{window * 10}-{window * 10 + 10}s"] = {
            "p50": round(values[len(values) // 2] * 1000, 1),
            "p99": round(values[int(len(values) * 0.99)] * 1000, 1),
            "max": round(values[-1] * 1000, 1),
        }
    lags.sort()
    per_second: dict[int, int] = {}
    for t in published:
        second = int(t - load.t0)
        per_second[second] = per_second.get(second, 0) + 1
    full = [per_second.get(s, 0) for s in range(1, int(len(load.built) / load.rate))]

    def pct(p: float) -> float:
        return round(lags[min(len(lags) - 1, int(p * len(lags)))] * 1000, 1) if lags else 0.0

    span = (max(published) - min(published)) if published else 0.0
    return {
        "messages_stored": checks["messages"],
        "messages_with_published_event": len(rows),
        "duplicates": checks["messages"] - checks["distinct_ids"],
        "conversations": checks["conversations"],
        "conversations_expected": min(contacts, len(load.built)),
        "unread_total": checks["unread"],
        "audit_rows_not_processed": checks["unprocessed"],
        "published_per_s": round(len(published) / span, 1) if span else 0.0,
        "sustained_min_per_s": min(full) if full else 0,
        "sustained_mean_per_s": round(sum(full) / len(full), 1) if full else 0.0,
        "lag_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)},
        "lag_ms_by_posting_window": by_window,
        "published_per_second": [per_second.get(s, 0) for s in range(max(per_second) + 1)]
        if per_second
        else [],
    }


def _cpu_pct(before: harness.CpuSnapshot, after: harness.CpuSnapshot) -> dict[str, float]:
    """% of one core between two snapshots."""
    used = harness.cpu_used(before, after)
    names = {"api": "api", "worker": "worker", "load_generator": "own", "machine": "machine_busy"}
    names["postgres"] = "db_backends"
    return {key: harness.pct_of_core(used[name], used["wall"]) for key, name in names.items()}


def bench(
    args: argparse.Namespace,
    *,
    worker_settings: Mapping[str, str | None] | None = None,
    prepare: Callable[[str, str, str], None] | None = None,
    prepare_database: Callable[[str], None] | None = None,
    after_drain: Callable[[str], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The figure. For variants (bench/sla.py, bench/reports_inbound.py): `worker_settings`
    for the worker (as in harness.omnistream_env), `prepare(base, email, password)` after the
    integration is set up, `prepare_database(dsn)` then (e.g. indexes dropped),
    `after_drain(dsn)` once the backlog drained (its result under "after_drain")."""
    with harness.api_on_scratch(args.database_url, "omnistream_e2e") as api:
        server, db, work, port, base = api.server, api.db, api.workdir, api.port, api.base
        email, password = harness.admin_credentials(server.log_path)
        ack.set_up_integration(base, email, password)
        if prepare is not None:
            prepare(base, email, password)
        if prepare_database is not None:
            prepare_database(db.dsn)
        reference = harness.hello_reference(base, args.reference_duration, server_pid=server.pid)
        count = args.rate * args.duration
        console.print(f"building {count:,} signed webhooks")
        built = requests(count, args.contacts, port)
        env = harness.omnistream_env(db.dsn, port, work, **(worker_settings or {}))
        with harness.omnistream(
            ["worker"], env, work, "worker", profile=args.profile, profile_rate=200
        ) as worker:
            time.sleep(2)  # migrations checked, loops listening
            worker.check_alive()
            load = Load(port, built, args.rate, args.connections)
            load_at_start = harness.load_average()
            if args.backlog:  # the worker sleeps while the webhooks come in
                worker.proc.send_signal(signal.SIGSTOP)
            pids = {"api": [server.pid], "worker": [worker.pid]}
            phases = [harness.CpuSnapshot.take(pids, db.name)]

            def after_posting() -> None:
                phases.append(harness.CpuSnapshot.take(pids, db.name))
                if args.backlog:
                    worker.proc.send_signal(signal.SIGCONT)

            drained = asyncio.run(drive(db.dsn, load, args.drain_timeout, after_posting))
            phases.append(harness.CpuSnapshot.take(pids, db.name))
            wall = time.time() - load.t0
            used: dict[str, Any] = _cpu_pct(phases[0], phases[2])
            if args.backlog:
                used = {
                    "posting": _cpu_pct(phases[0], phases[1]),
                    "draining": _cpu_pct(*phases[1:]),
                }
            extra = {} if after_drain is None else {"after_drain": after_drain(db.dsn)}
            result = asyncio.run(outcome(db.dsn, load, args.contacts))
    windows = list(result["lag_ms_by_posting_window"].values())
    # Sustained: everything posted at the rate was stored and published at the rate, the lag
    # did not grow (the last full 10 s of posting saw p99 under 2 s), and the backlog was
    # gone within 5 s of the last post.
    ok = (
        result["messages_with_published_event"] == count
        and result["duplicates"] == 0
        and result["audit_rows_not_processed"] == 0
        and result["published_per_s"] >= 0.99 * args.rate
        and len(windows) >= 2
        and windows[-2]["p99"] < 2000
        and drained["drained_s_after_last_post"] <= 5
    )
    samples = drained.pop("samples")
    return {
        "benchmark": "inbound_e2e",
        "machine": harness.machine_facts(db.postgres_version, load_at_start),
        "reference": reference,
        "settings": {
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "contacts": args.contacts,
            "connections": args.connections,
            "processes": "1 x omnistream serve (API) + 1 x omnistream worker",
        },
        "posted": count,
        **(
            {"drain_per_s": round(count / max(0.001, drained["drained_s_after_last_post"]), 1)}
            if args.backlog
            else {}
        ),
        "http_status": load.status,
        **drained,
        **result,
        "cpu_pct_of_one_core": used,
        "wall_s": round(wall, 1),
        "target": {"sustained_per_s_at_least": args.rate, "met": ok},
        "backlog_worst": {
            "rows": max((s["pending"] for s in samples), default=0),
            "oldest_s": round(max((s["oldest_s"] for s in samples), default=0.0), 2),
        },
        **extra,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, harness.server_options(), harness.profile_options())
    parser.add_argument("--rate", type=int, default=2000, help="webhooks (messages) per second")
    parser.add_argument("--duration", type=int, default=60, help="seconds of posting")
    parser.add_argument("--contacts", type=int, default=5000, help="distinct customers")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="pause the worker while posting, then time how fast it drains the backlog",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=lambda r: 0 if r["target"]["met"] else 2))
