"""Figure 1 of bench/campaigns.py: a campaign audience CSV of --rows rows uploaded through the
API (PUT /api/v1/campaigns/{id}/audience/csv, multipart field `file`) to one running
`omnistream serve`, timed from the request to the response (upload, multipart, the parse in
the API's process pool, the database transaction). --uploads times: the first on an empty
campaign, the later ones replacing its audience (as a user correcting a file does).

Where the time goes, three ways: CPU seconds during each upload of the API process, of its
parse processes and of the database's backends; the same file parsed in this process
(parse_audience_csv, as bench/campaign_csv.py does; then each of the shares the API's pool
processes read at once, one after the other); and the upload's database statements
(omnistream.campaigns.queries and the COPY data, in audience.store_csv's order) replayed
one by one on the scratch database in a transaction rolled back, each timed. --profile:
py-spy attached to the API process and its children during the first upload."""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import harness
from campaign_csv import generate
from campaign_setup import VARIABLES, Setup, campaign_on_scratch, upload

from omnistream.campaigns import queries
from omnistream.campaigns.audience import SHARES
from omnistream.campaigns.audience_copy import copy_data
from omnistream.campaigns.audience_csv import Audience, parse_audience_csv, read_share
from omnistream.db.pool import init_connection

TARGET_S = 10.0
HEADROOM_S = 5.0  # half the target: machines differ by up to 2x
# The columns the mapping reads, as omnistream.campaigns.audience.mapped_columns gives them.
MAPPED = sorted(v["column"] for v in VARIABLES.values() if v["column"] not in ("name", "phone"))


def children_of(pid: int) -> list[int]:
    """The processes `pid` started (the API's parse pool), from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def py_spy(pid: int, path: str) -> subprocess.Popen[bytes]:
    command = [harness.venv_tool("py-spy"), "record", "--pid", str(pid), "--subprocesses",
               "-r", "200", "-f", "raw", "-o", path, "--nonblocking"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the upload starts
    return proc


def measured_upload(setup: Setup, data: bytes, profile: str | None) -> dict[str, Any]:
    server = setup.api.server.pid
    pool_before = {c: harness.proc_cpu_seconds(c) for c in children_of(server)}
    before = harness.CpuSnapshot.take({"api": [server]}, setup.api.db.name)
    spy = py_spy(server, profile) if profile else None
    try:
        seconds, report = upload(setup, data)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    after = harness.CpuSnapshot.take({"api": [server]}, setup.api.db.name)
    used = harness.cpu_used(before, after)
    pool = sum(harness.proc_cpu_seconds(c) - pool_before.get(c, 0.0) for c in children_of(server))
    return {
        "seconds": round(seconds, 3),
        "accepted": report["accepted"],
        "rows": report["rows"],
        "duplicates": report["duplicates"],
        "rejected_count": report["rejected_count"],
        "cpu_s": {
            "api_process": round(used["api"], 3),
            "parse_pool": round(pool, 3),
            "db_backends": round(used["db_backends"], 3),
            "this_process": round(used["own"], 3),  # the client: multipart, httpx
            "other_processes": round(max(0.0, used["other"] - used["own"] - pool), 3),
        },
        **({"profile": profile} if profile else {}),
    }


async def replay_statements(dsn: str, campaign_id: UUID, audience: Audience) -> dict[str, float]:
    """The upload's statements (audience.store_csv's order), each timed, rolled back."""
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    timings: dict[str, float] = {}

    async def timed(name: str, statement: Any) -> Any:
        started = time.perf_counter()
        result = await statement
        timings[name] = round(time.perf_counter() - started, 3)
        return result

    try:
        tx = conn.transaction()
        await tx.start()
        _, contacts = await timed("known_numbers", queries.known_numbers(conn, audience.phones))
        await timed("clear_audience", queries.clear_audience(conn, campaign_id))
        people = audience.accepted_rows
        started = time.perf_counter()
        data = list(copy_data(campaign_id, people.phones, people.texts, contacts))
        timings["copy_data_in_python"] = round(time.perf_counter() - started, 3)
        await timed("insert_recipients", queries.insert_recipients(conn, data))
        await timed("analyze_recipients", queries.analyze_recipients(conn))
        await timed("count", queries.count(conn, campaign_id))
        await tx.rollback()
    finally:
        await conn.close()
    return timings


def run(args: argparse.Namespace) -> dict[str, Any]:
    harness.console.print(f"generating {args.rows:,} rows (bench/campaign_csv.py's generator)")
    data, made = generate(args.rows, ",", args.seed)
    with campaign_on_scratch(args, "omnistream_bench_cimport") as setup:
        machine = harness.machine_info_of(setup.api.db.dsn)
        reference = harness.hello_reference(
            setup.api.base, args.reference_duration, server_pid=setup.api.server.pid
        )
        uploads = []
        for i in range(args.uploads):
            profile = args.profile if i == 0 else None
            harness.console.print(f"upload {i + 1} of {args.uploads}")
            uploads.append(measured_upload(setup, data, profile))
            harness.console.print(f"  {uploads[-1]['seconds']:.2f} s")
        harness.console.print("the same file parsed in this process; statements replayed")
        started = time.perf_counter()
        audience = parse_audience_csv(data, MAPPED, region="ID")
        parse_s = time.perf_counter() - started
        shares_s = []
        for share in range(SHARES):
            started = time.perf_counter()
            read_share(data, MAPPED, region="ID", share=share, shares=SHARES)
            shares_s.append(round(time.perf_counter() - started, 3))
        statements = asyncio.run(
            replay_statements(setup.api.db.dsn, UUID(setup.campaign_id), audience)
        )
    walls = [u["seconds"] for u in uploads]
    return {
        "figure": "import",
        "machine": machine,
        "reference": reference,
        "rows": args.rows,
        "bytes": len(data),
        "made": dict(made),
        "uploads": uploads,
        "seconds": {
            "first": walls[0],
            "min": min(walls),
            "median": round(statistics.median(walls), 3),
            "max": max(walls),
        },
        "parse_in_this_process_s": round(parse_s, 3),
        "parse_shares_one_after_another_s": shares_s,  # what each pool process does
        "statements_replayed_s": statements,
        "statements_replayed_total_s": round(sum(statements.values()), 3),
        "target_s": TARGET_S,
        "headroom_target_s": HEADROOM_S,
        "met": max(walls) <= TARGET_S,
        "met_with_2x_headroom": max(walls) <= HEADROOM_S,
    }
