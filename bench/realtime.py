"""Benchmark: realtime fan-out (issue 3) — WebSocket clients of one API process while events
are committed at a steady rate.

Creates a scratch database on a PostgreSQL server (default: the local one on
127.0.0.1:5432), starts ONE `omnistream serve` process (the hub; no worker loops in it) and
ONE `omnistream worker` process (the dispatcher) on it, creates an admin, supervisors and
agents spread over a few divisions over HTTP, signs each in and opens one WebSocket per
account (by default in a separate client process, see --client-procs). Then commits events
at a fixed rate from a paced generator, each in its own transaction through
omnistream.events.outbox.emit with an audience, and records the wall-clock time right after
each COMMIT returned. Every client records when each frame arrived (same machine, same
clock). At the end every socket's events are checked against the set it should receive
under the visibility rule (computed here independently): none lost, none twice, none
unexpected, seq strictly increasing. Prints one JSON object on stdout; progress goes to
stderr. The processes are stopped and the scratch database dropped at the end, also on
failure.

    .venv/bin/python bench/realtime.py [--clients 200] [--rate 500] [--duration 40]

Target (issue 3): commit-to-client p99 <= 150 ms over the measured events (after the
warm-up) and no event lost.

Latency is split with the database's own published_at (statement time of the dispatcher's
numbering statement, same machine clock): commit -> published (dispatcher) and
published -> client (hub read, fan-out, socket write, loopback, client parse).
Password hashing is made cheap on the bench server (argon2 settings) so that signing in
200 accounts takes seconds; the realtime path does not hash passwords.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import queue
import re
import sys
import time
import uuid
from array import array
from typing import Any

import harness
from realtime_analysis import RunState, Setup, analyse
from realtime_clients import ClientSet, _interruptible, _run, client_process
from realtime_plan import (
    KIND_TYPE,
    MIXES,
    Planned,
    audiences_to_sockets,
    create_accounts,
    plan_accounts,
    plan_events,
)
from websockets.version import version as WEBSOCKETS_VERSION

from omnistream.conversations.visibility import state
from omnistream.db.pool import create_pool
from omnistream.events.outbox import emit
from omnistream.events.types import EventType

BenchError = harness.BenchError
console = harness.console
# Signing in 200 accounts must not take minutes; nothing on the realtime path hashes.
SERVER_SETTINGS = {
    "access_log": "false",
    "argon2_time_cost": "1",
    "argon2_memory_kib": "8192",
    "argon2_parallelism": "1",
}


async def generate(
    pool: Any,
    planned: list[Planned],
    rate: float,
    concurrency: int,
    state_: RunState,
) -> None:
    """Paced, open loop: event k starts at t0 + k/rate (late ones start at once), each in its
    own transaction; at most `concurrency` in flight."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    state_.commit_ns = array("q", bytes(8 * len(planned)))
    state_.start_ns = array("q", bytes(8 * len(planned)))
    pending: set[asyncio.Task[None]] = set()

    async def one(k: int, event: Planned) -> None:
        try:
            start = time.time_ns()
            data = {**event.data, "bench": {"k": k, "sent_ns": start}}
            async with pool.acquire() as conn:
                async with conn.transaction():
                    await emit(
                        conn,
                        KIND_TYPE[event.kind],
                        data,
                        actor=None,
                        conversation_id=event.conversation_id,
                        audience=[state(_u(d), _u(a)) for d, a in event.audience],
                    )
                state_.commit_ns[k] = time.time_ns()
            state_.start_ns[k] = start
            state_.committed += 1
        except Exception as exc:
            state_.failed += 1
            state_.errors[f"{type(exc).__name__}: {exc}"[:200]] += 1
        finally:
            gate.release()

    t0 = loop.time() + 0.05
    state_.first_start = time.time()
    for k, event in enumerate(planned):
        due = t0 + k / rate
        now = loop.time()
        if due > now:
            await asyncio.sleep(due - now)
        else:
            state_.max_lag_s = max(state_.max_lag_s, now - due)
        await gate.acquire()
        task = loop.create_task(one(k, event))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    state_.last_commit = time.time()


def _u(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


async def wait_dispatcher(pool: Any, within: float) -> None:
    """One probe event (no bench mark) must get its seq: the worker is dispatching."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            await emit(conn, EventType.CONVERSATION_UPDATED, {"probe": True}, actor=None)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            pending = await conn.fetchval("SELECT count(*) FROM event_outbox WHERE seq IS NULL")
            if pending == 0:
                return
            await asyncio.sleep(0.1)
    raise BenchError(f"the worker did not publish the probe event within {within:.0f} s")


async def _from_clients(out: Any, kind: str, within: float = 120) -> Any:
    """The next message of a client process (its kind checked), or why there is none."""
    try:
        msg = await asyncio.get_running_loop().run_in_executor(None, out.get, True, within)
    except queue.Empty:
        what = f"no '{kind}' message from a client process within {within:.0f} s"
        raise BenchError(what) from None
    if msg[0] != kind:
        raise BenchError(f"a client process sent {msg[0]!r}, expected {kind!r}")
    return msg


async def run(setup: Setup) -> dict[str, Any]:
    args = setup.args
    pool = await create_pool(setup.dsn, args.generator_connections, args.generator_connections)
    procs: list[Any] = []
    stop_event: Any = None
    in_process: ClientSet | None = None
    try:
        with console.status("checking that the worker publishes (probe event)"):
            await wait_dispatcher(pool, 30)
        loop = asyncio.get_running_loop()
        compression = None if args.compression == "none" else "deflate"
        n = len(setup.accounts)
        sockets = [(a.index, a.token) for a in setup.accounts]
        ctx = mp.get_context("spawn")
        out: Any = None
        connect_errors: list[str] = []
        with console.status(f"opening {n} WebSockets ({args.client_procs or 'in'} process(es))"):
            if args.client_procs == 0:
                counts: Any = [0] * n
                in_process = ClientSet(setup.ws_url, sockets, counts, compression)
                connect_errors = await in_process.connect_all()
                in_process.start()
            else:
                counts = ctx.Array("q", n, lock=False)
                stop_event, out = ctx.Event(), ctx.Queue()
                for p in range(args.client_procs):
                    share = sockets[p :: args.client_procs]
                    proc = ctx.Process(
                        target=client_process,
                        args=(setup.ws_url, share, counts, compression, stop_event, out),
                        daemon=True,
                    )
                    proc.start()
                    procs.append(proc)
                for _ in procs:
                    connect_errors += (await _from_clients(out, "connected"))[2]
                setup.pids["clients"] = [p.pid for p in procs]
        if connect_errors:
            raise BenchError(f"{len(connect_errors)} sockets failed: {connect_errors[:5]}")
        console.log(f"{n} WebSockets open and live; committing {len(setup.planned)} events")
        await asyncio.sleep(1.0)  # let the connection burst settle

        state_ = RunState()
        total_expected_if_all = sum(len(t) for t in setup.targets)
        with harness.progress(counts=True) as progress:
            gen_task = progress.add_task(f"commit @ {args.rate:g}/s", total=len(setup.planned))
            rcv_task = progress.add_task("frames received", total=total_expected_if_all)

            def received() -> int:
                return int(sum(counts[i] for i in range(n)))

            async def show() -> None:
                while True:
                    progress.update(gen_task, completed=state_.committed)
                    progress.update(rcv_task, completed=received())
                    await asyncio.sleep(0.25)

            shower = loop.create_task(show())
            before = harness.CpuSnapshot.take(setup.pids, setup.database)
            try:
                async with asyncio.timeout(args.duration * 4 + 60):
                    await generate(
                        pool,
                        setup.planned,
                        args.rate,
                        args.generator_connections,
                        state_,
                    )
            except TimeoutError:
                raise BenchError("the generator did not finish in time") from None
            after = harness.CpuSnapshot.take(setup.pids, setup.database)
            # Expected frames per socket (events that committed).
            expected_counts = [0] * n
            for k, target in enumerate(setup.targets):
                if state_.commit_ns[k]:
                    for i in target:
                        expected_counts[i] += 1
            drain_started = time.monotonic()
            progress.update(rcv_task, total=sum(expected_counts))
            while time.monotonic() - drain_started < args.drain:
                if all(counts[i] >= expected_counts[i] for i in range(n)):
                    break
                if procs and any(p.exitcode is not None for p in procs):
                    break
                await asyncio.sleep(0.05)
            drained_s = time.monotonic() - drain_started
            shower.cancel()
            progress.update(gen_task, completed=state_.committed)
            progress.update(rcv_task, completed=received())

        # Collect.
        results: list[dict[str, Any]] = []
        if in_process is not None:
            await in_process.stop()
            results.append(in_process.results())
        else:
            stop_event.set()
            for _ in procs:
                results.append((await _from_clients(out, "result"))[2])
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT (data->'bench'->>'k')::int AS k, seq, "
                "(extract(epoch FROM published_at) * 1e6)::bigint AS pub_us, "
                "(extract(epoch FROM occurred_at) * 1e6)::bigint AS occ_us "
                "FROM event_outbox WHERE data ? 'bench'"
            )
            unpublished = await conn.fetchval("SELECT count(*) FROM event_outbox WHERE seq IS NULL")
            batches = await conn.fetchval(
                "SELECT count(DISTINCT published_at) FROM event_outbox WHERE data ? 'bench'"
            )
        state_.publish_batches = int(batches or 0)
        return analyse(
            setup, state_, results, rows, unpublished, expected_counts, before, after, drained_s
        )
    finally:
        if stop_event is not None:
            stop_event.set()
        for proc in procs:
            proc.join(timeout=15)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        if in_process is not None and not in_process.stopping:
            await in_process.stop()
        await pool.close()


# --------------------------------------------------------------------------- main


def bench(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = harness.load_average()
    with harness.api_on_scratch(
        args.database_url, "omnistream_rt", port=args.port, settings=SERVER_SETTINGS
    ) as api:
        server, db, workdir, port, base = api.server, api.db, api.workdir, api.port, api.base
        args.machine = harness.machine_facts(
            db.postgres_version, load_at_start, websockets_client=WEBSOCKETS_VERSION
        )
        env = harness.omnistream_env(db.dsn, port, workdir, **SERVER_SETTINGS)
        with harness.omnistream(["worker"], env, workdir, "worker") as worker:
            labels = [f"d{d}" for d in range(args.divisions)]
            accounts = plan_accounts(args.clients, labels)
            with console.status(f"creating and signing in {len(accounts)} accounts over HTTP"):
                email, password = harness.admin_credentials(server.log_path)
                started = time.monotonic()
                division_ids = asyncio.run(
                    create_accounts(base, email, password, accounts, args.divisions)
                )
                signin_s = time.monotonic() - started
            console.log(
                f"server ready in {server.ready_s or 0.0:.1f} s; {len(accounts)} accounts "
                f"signed in in {signin_s:.1f} s"
            )
            reference = harness.hello_reference(
                base, args.reference_duration, server_pid=server.pid
            )
            total = int(args.rate * (args.duration + args.warmup))
            planned = plan_events(total, MIXES[args.mix], accounts, division_ids, args.seed)
            targets = audiences_to_sockets(planned, accounts)
            setup = Setup(
                args=args,
                dsn=db.dsn,
                database=db.name,
                ws_url=f"ws://127.0.0.1:{port}/api/v1/ws",
                accounts=accounts,
                planned=planned,
                targets=targets,
                warmup_events=int(args.rate * args.warmup),
                pids={"server": [server.pid], "worker": [worker.pid], "bench": [os.getpid()]},
            )
            result: dict[str, Any] = _run(_interruptible(run(setup)))
            server.check_alive()
            worker.check_alive()
            result["reference"] = reference
            result["settings"]["server_ready_s"] = round(server.ready_s or 0.0, 2)
            result["settings"]["signin_s"] = round(signin_s, 2)
            warnings = [
                line[:300]
                for path in (server.log_path, worker.log_path)
                for line in path.read_text(errors="replace").splitlines()
                if re.search(r'"level":\s*"(warning|error|critical)"', line)
            ]
            result["server_warnings"] = {"count": len(warnings), "first": warnings[:3]}
            return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, harness.port_options(), harness.server_options())
    parser.add_argument("--clients", type=int, default=200, help="WebSockets (one per account)")
    parser.add_argument("--rate", type=float, default=500.0, help="events committed per second")
    parser.add_argument("--duration", type=int, default=40, help="measured seconds")
    parser.add_argument("--warmup", type=int, default=5, help="seconds not counted in latency")
    parser.add_argument("--divisions", type=int, default=4)
    parser.add_argument("--mix", choices=sorted(MIXES), default="inbox", help="event audiences")
    parser.add_argument(
        "--client-procs",
        type=int,
        default=1,
        help="processes holding the WebSockets (0: in the bench process, on the generator's "
        "event loop)",
    )
    parser.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="permessage-deflate offered by the clients (browsers offer it; the server accepts)",
    )
    parser.add_argument("--generator-connections", type=int, default=8)
    parser.add_argument("--drain", type=float, default=15.0, help="max seconds to wait at the end")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    if args.clients < 2 or args.rate <= 0 or args.duration <= 0 or args.divisions < 1:
        parser.error("--clients >= 2, --rate, --duration and --divisions must be positive")
    if args.client_procs < 0 or args.generator_connections < 1 or args.warmup < 0:
        parser.error("--client-procs, --warmup >= 0 and --generator-connections >= 1")
    return args


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args()))
