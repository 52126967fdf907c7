"""After a chaos run (harness/chaos.py): wait until every backlog drained, then check that
nothing was lost or done twice. `check` returns a report whose "problems" list is empty
when all held:
- every inbound webhook the sandbox delivered is applied once (one message per wamid), no
  audit row failed;
- every reply, scheduled message and campaign recipient was accepted by the sandbox
  exactly once (its send key: biz_opaque_callback_data = our message id or c:<recipient>),
  and nothing else was sent;
- every message.created event after the outgoing webhook was created reached the receiver
  at least once, with the event id as webhook-id;
- every live client received every event an admin may see, in order, without a gap.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from harness.chaos import ChaosConfig, Run, prepare, run_chaos
from harness.core import BenchError
from harness.live import missing, top_seq
from harness.topology import Topology

BACKLOG = """
SELECT (SELECT count(*) FROM webhook_audit WHERE status = 'pending') AS inbound,
       (SELECT count(*) FROM messages WHERE direction = 'outbound' AND status = 'pending')
         AS outbound,
       (SELECT count(*) FROM scheduled_messages WHERE status = 'pending') AS scheduled,
       (SELECT status FROM campaigns WHERE id = $1::uuid) AS campaign,
       (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS deliveries,
       (SELECT count(*) FROM event_outbox WHERE seq IS NULL) AS unpublished,
       (SELECT coalesce(max(seq), 0) FROM event_outbox)
         - (SELECT position FROM event_consumers WHERE name = 'webhooks') AS not_fanned_out
"""


async def backlog(conn: asyncpg.Connection, run: Run) -> dict[str, Any]:
    row = await conn.fetchrow(BACKLOG, run.campaign_id)
    assert row is not None
    return dict(row)


def drained(state: dict[str, Any]) -> bool:
    return state["campaign"] == "completed" and all(
        v == 0 for k, v in state.items() if k != "campaign"
    )


async def drain(run: Run, within: float) -> dict[str, Any]:
    """Until no work is left anywhere (statuses at the sandbox included) and every live
    client has the last event; the backlog then (BenchError past `within`)."""
    deadline = time.monotonic() + within
    conn = await asyncpg.connect(run.topo.primary_dsn)
    try:
        while True:
            idle = await run.sandbox.settle(within=5)
            state = await backlog(conn, run)
            # Statuses applied meanwhile may have written more: look once more.
            if (
                idle
                and drained(state)
                and drained(await backlog(conn, run))
                and await run.sandbox.settle(within=1)
            ):
                break
            if time.monotonic() > deadline:
                raise BenchError(f"not drained within {within:.0f} s: {state}")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    top = await top_seq(run.topo.primary_dsn)
    left = max(1.0, deadline - time.monotonic())
    for client in run.clients:
        await client.reached(top, left)  # (a client short of it is reported by check)
    return state


async def check(run: Run, arrivals: Path) -> dict[str, Any]:
    """The report of the run (see the module's docstring); arrivals: the receiver's file."""
    problems = [f"harness: {e}" for e in run.errors]
    conn = await asyncpg.connect(run.topo.primary_dsn)
    try:
        inbound = await _inbound(conn, run, problems)
        outbound = await _outbound(conn, run, problems)
        webhooks = await _webhooks(conn, run, arrivals, problems)
    finally:
        await conn.close()
    live = await _live(run, problems)
    return {
        "kills": sorted(run.kills, key=lambda kill: kill["at"]),
        "inbound": inbound,
        "outbound": outbound,
        "replies_answered": dict(run.replies),
        "webhooks": webhooks,
        "live": live,
        "problems": problems,
    }


async def _inbound(conn: asyncpg.Connection, run: Run, problems: list[str]) -> dict[str, Any]:
    undelivered = [w for w, delivered in run.inbound.items() if not delivered]
    if undelivered:
        problems.append(f"{len(undelivered)} inbound webhooks never answered 2xx")
    wamids = [w for w, delivered in run.inbound.items() if delivered]
    rows = await conn.fetch(
        "SELECT channel_message_id AS w, count(*)::int AS n FROM messages "
        "WHERE channel_message_id = ANY($1::text[]) GROUP BY 1",
        wamids,
    )
    applied = {r["w"]: r["n"] for r in rows}
    lost = [w for w in wamids if w not in applied]
    twice = {w: n for w, n in applied.items() if n != 1}
    if lost:
        problems.append(f"{len(lost)} delivered inbound messages not applied: {lost[:5]}")
    if twice:
        problems.append(f"inbound messages applied more than once: {twice}")
    audits = await conn.fetch("SELECT status, count(*)::int AS n FROM webhook_audit GROUP BY 1")
    by_status = {r["status"]: r["n"] for r in audits}
    if by_status.get("failed"):
        problems.append(f"{by_status['failed']} webhook audit rows failed")
    return {"sent": len(run.inbound), "applied": len(applied), "audit_rows": by_status}


async def _outbound(conn: asyncpg.Connection, run: Run, problems: list[str]) -> dict[str, Any]:
    messages = await conn.fetch(
        "SELECT id::text, status FROM messages WHERE direction = 'outbound'"
    )
    recipients = await conn.fetch(
        "SELECT id::text, status FROM campaign_recipients WHERE campaign_id = $1::uuid",
        run.campaign_id,
    )
    scheduled = await conn.fetch(
        "SELECT status, count(*)::int AS n FROM scheduled_messages WHERE id = ANY($1::uuid[]) "
        "GROUP BY 1",
        run.scheduled_ids,
    )
    expected = {m["id"] for m in messages} | {f"c:{r['id']}" for r in recipients}
    prefix = f"opaque:{run.account.external_id}:"
    sends = {
        s["key"].removeprefix(prefix): s["accepted"]
        for s in await run.sandbox.sends(run.account.external_id)
    }
    accepted = Counter(sends.values())
    twice = {k: n for k, n in sends.items() if n > 1}
    never = sorted(expected - {k for k, n in sends.items() if n >= 1})
    unknown = sorted(set(sends) - expected)
    if twice:
        problems.append(f"{len(twice)} sends accepted more than once: {list(twice.items())[:5]}")
    if never:
        problems.append(f"{len(never)} messages/recipients never accepted: {never[:5]}")
    if unknown:
        problems.append(f"sends of nothing we know: {unknown[:5]}")
    statuses = Counter(m["status"] for m in messages)
    if statuses.get("failed"):
        problems.append(f"{statuses['failed']} outbound messages failed")
    campaign = Counter(r["status"] for r in recipients)
    if set(campaign) != {"sent"}:
        problems.append(f"campaign recipients not all sent: {dict(campaign)}")
    by_status = {r["status"]: r["n"] for r in scheduled}
    if by_status != {"sent": len(run.scheduled_ids)}:
        problems.append(f"scheduled messages not all sent: {by_status}")
    return {
        "messages": dict(statuses),
        "campaign_recipients": dict(campaign),
        "scheduled": by_status,
        "accepted_per_send": {str(k): v for k, v in sorted(accepted.items())},
    }


async def _webhooks(
    conn: asyncpg.Connection, run: Run, arrivals: Path, problems: list[str]
) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        (await http.get(run.receiver + "/_dump")).raise_for_status()
    got = Counter(
        line.split("\t")[2]
        for line in (await asyncio.to_thread(arrivals.read_text)).splitlines()
        if line.split("\t")[1] == "/healthy"
    )
    rows = await conn.fetch(
        "SELECT id::text FROM event_outbox WHERE type = 'message.created' "
        "AND seq > (SELECT start_seq FROM outgoing_webhooks WHERE id = $1::uuid)",
        run.webhook_id,
    )
    expected = {r["id"] for r in rows}
    lost = sorted(expected - set(got))
    if lost:
        problems.append(f"{len(lost)} message.created events never delivered: {lost[:5]}")
    failed = await conn.fetchval(
        "SELECT count(*) FROM webhook_deliveries WHERE status = 'failed' AND webhook_id = $1",
        run.webhook_id,
    )
    if failed:
        problems.append(f"{failed} webhook deliveries failed")
    again = sum(n - 1 for n in got.values())
    return {"events": len(expected), "received": sum(got.values()), "redelivered": again}


async def _live(run: Run, problems: list[str]) -> list[dict[str, Any]]:
    top = await top_seq(run.topo.primary_dsn)
    reports = []
    for client in run.clients:
        lost = await missing(run.topo.primary_dsn, client, run.admin_id, top)
        if lost:
            problems.append(f"{client.name}: {len(lost)} events never received: {lost[:10]}")
        if client.gaps:
            problems.append(f"{client.name}: resume gaps {client.gaps[:2]}")
        report = client.report()
        if report["out_of_order"]:
            problems.append(f"{client.name}: {report['out_of_order']} events out of order")
        reports.append({"name": client.name, **report})
    return reports


async def chaos_run(
    topo: Topology, sandbox_url: str, receiver: str, arrivals: Path, config: ChaosConfig,
    *, drain_within: float = 90,
) -> dict[str, Any]:  # fmt: skip
    """The whole run on a started topology and its peers (chaos.peers): prepare, load with
    kills, drain, check; the report (its "problems" empty when everything held)."""
    started = time.monotonic()
    run = await prepare(topo, sandbox_url, receiver, config)
    prepared = time.monotonic()
    try:
        await run_chaos(run, config)
        loaded = time.monotonic()
        await drain(run, drain_within)
        report = await check(run, arrivals)
    finally:
        for client in run.clients:
            await client.stop()
        await run.sandbox.aclose()
    times = {"prepare_s": prepared - started, "load_s": loaded - prepared,
             "drain_and_check_s": time.monotonic() - loaded}  # fmt: skip
    return {"seconds": {k: round(v, 1) for k, v in times.items()}, **report}
