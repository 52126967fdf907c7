"""Benchmark: what the search index costs an inbound message in the database (issue 15).

In a scratch database migrated to head, inserts messages the way the inbound worker does
(batches of 100 rows in one INSERT … SELECT FROM unnest, one transaction each; texts of
5-25 words, Indonesian and English) into one conversation, alternating rounds with
`messages_search_idx` and without it (dropped, then created again), and reports rows/s of
each round and the difference per message in microseconds. The full inbound figure (end to
end, with search indexing and the reports' rollups on, within 15 % of the rate without
them) is bench/inbound_e2e.py's; this isolates the index's share of it.

    .venv/bin/python bench/search_insert.py [--database-url URL] [--batches 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from typing import Any
from uuid import UUID

import asyncpg
import harness

from omnistream.db.migrate import migrate
from omnistream.db.pool import init_connection

BATCH = 100
TEXT = (
    "halo kak pesanan saya belum sampai tolong cek paket kurir alamat jakarta surabaya "
    "terima kasih barang rusak order refund invoice the product arrived damaged what "
    "should I do please check my tracking number"
)
WORDS = TEXT.split(" ")
# As migration 0022 creates it.
INDEX = (
    "CREATE INDEX messages_search_idx ON messages "
    "USING gin (search_vector(message_search_text(content))) "
    "WHERE content ?| ARRAY['text', 'body', 'caption']"
)


async def insert_round(conn: asyncpg.Connection[Any], conversation: UUID, batches: int) -> float:
    rng = random.Random(7)
    started = time.perf_counter()
    for _ in range(batches):
        texts = [" ".join(rng.choices(WORDS, k=rng.randint(5, 25))) for _ in range(BATCH)]
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO messages (conversation_id, channel, direction, type, content, "
                "status) SELECT $1, 'whatsapp', 'inbound', 'text', "
                "jsonb_build_object('text', t), 'received' FROM unnest($2::text[]) AS t",
                conversation,
                texts,
            )
    return time.perf_counter() - started


async def measure(dsn: str, batches: int, rounds: int) -> dict[str, list[float]]:
    conn = await asyncpg.connect(dsn, timeout=15)
    try:
        await init_connection(conn)
        await conn.execute("SET jit = off")  # as the app's pool
        await migrate(conn)
        contact = await conn.fetchval(
            "INSERT INTO contacts (name, phone) VALUES ('Bench', '6281100000000') RETURNING id"
        )
        conversation = await conn.fetchval(
            "INSERT INTO conversations (contact_id, channel) VALUES ($1, 'whatsapp') RETURNING id",
            contact,
        )
        await insert_round(conn, conversation, batches // 5)  # warm-up, index on
        rates: dict[str, list[float]] = {"with_index": [], "without_index": []}
        for _ in range(rounds):
            for mode in ("with_index", "without_index"):
                if mode == "without_index":
                    await conn.execute("DROP INDEX messages_search_idx")
                else:
                    await conn.execute(INDEX.replace("INDEX ", "INDEX IF NOT EXISTS ", 1))
                seconds = await insert_round(conn, conversation, batches)
                rates[mode].append(batches * BATCH / seconds)
        return rates
    finally:
        await conn.close()


def bench(args: argparse.Namespace) -> dict[str, Any]:
    server = harness.server_dsn(args.database_url)
    with (
        harness.scratch_database(server, "omnistream_search_insert") as db,
        harness.work_folder("omnistream-search-insert-") as workdir,
    ):
        machine = harness.machine_info_of(db.dsn)
        with harness.console.status("inserting messages with and without the search index"):
            rates = asyncio.run(measure(db.dsn, args.batches, args.rounds))
        reference = harness.reference_on(db.dsn, workdir, args.reference_duration)
    with_index = statistics.median(rates["with_index"])
    without = statistics.median(rates["without_index"])
    return {
        "benchmark": "search_insert",
        "machine": machine,
        "reference": reference,
        "settings": {"batch": BATCH, "batches_per_round": args.batches, "rounds": args.rounds},
        "rows_per_s": {k: [round(v) for v in vs] for k, vs in rates.items()},
        "median_rows_per_s": {"with_index": round(with_index), "without_index": round(without)},
        "index_cost_us_per_message": round(1e6 / with_index - 1e6 / without, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, harness.server_options())
    parser.add_argument("--batches", type=int, default=1000, help="batches of 100 per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds with and without")
    args = parser.parse_args(argv)
    if args.batches < 5 or args.rounds < 1:
        parser.error("--batches >= 5, --rounds >= 1")
    return args


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
