"""Figure 3 of bench/sla.py: inbound end to end (bench/inbound_e2e.py) with and without the
SLA, in the same run.

- without: the worker runs with OMNISTREAM_WORKER_LOOPS_OFF=sla,sla_breaches (no clocks);
- with: all loops, and a default SLA policy (every channel and division, 24/7) created over
  the API before the load, so every new conversation and every message goes through the
  SLA consumer (clock started, policy chosen, due times stored, conversation.updated out).

Each variant is a full inbound_e2e run (its own scratch database, `omnistream serve` and
worker). Modes: `rate` (--inbound-rate webhooks/s for --inbound-duration s: published per
second and lag) and `backlog` (the worker paused while the same load is posted, then the
drain rate: the capacity). Once drained, "with" also waits until the SLA consumer has
passed every event (the SLA's work is done too), and both report how many conversations
got a clock. Repeats alternate the order (without/with, then with/without).

Target: with >= 90 % of without, per mode (rate: published/s; backlog: messages / (drain +
the SLA consumer catching up)), and every conversation of "with" has its clock.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from typing import Any

import asyncpg
import harness
import httpx
import inbound_e2e

KEPT_TARGET = 0.90
LOOPS_OFF = "sla,sla_breaches"
POLICY = {
    "name": "Bench default 24/7",
    "first_response_minutes": 60,
    "next_response_minutes": 30,
    "resolution_minutes": 1440,
    "business_hours": {"timezone": "Asia/Jakarta", "always": True},
}


def create_policy(base: str, email: str, password: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        token = client.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        ).json()
        r = client.post(
            "/api/v1/sla/policies",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            json=POLICY,
        )
        if r.status_code != 201:
            raise harness.BenchError(f"creating the SLA policy: {r.status_code} {r.text}")


async def sla_state(dsn: str, wait_s: float) -> dict[str, Any]:
    """Until the SLA consumer passed the newest event (at most `wait_s`), then the clocks."""
    conn = await asyncpg.connect(dsn)
    try:
        passed, caught_up = await harness.wait_for_consumer(conn, "sla", wait_s)
        position = await conn.fetchval("SELECT position FROM event_consumers WHERE name = 'sla'")
        top = await conn.fetchval("SELECT COALESCE(max(seq), 0) FROM event_outbox")
        facts = await conn.fetchrow(
            """
            SELECT count(*) AS conversations,
                   count(*) FILTER (WHERE sla_policy_id IS NOT NULL) AS with_policy,
                   (SELECT count(check_at) FROM sla_schedule) AS with_check,
                   (SELECT count(*) FROM event_outbox WHERE type = 'conversation.updated')
                       AS conversation_updated_events
              FROM conversations
            """
        )
    finally:
        await conn.close()
    assert facts is not None
    return {
        "sla_consumer_position": position,
        "top_seq": top,
        "sla_consumer_caught_up": passed,
        "sla_caught_up_s_after_drain": round(caught_up, 2),
        **dict(facts),
    }


def one(args: argparse.Namespace, variant: str, backlog: bool, reference_s: int) -> dict[str, Any]:
    argv = [
        "--rate", str(args.inbound_rate),
        "--duration", str(args.inbound_duration),
        "--contacts", str(args.inbound_contacts),
        "--reference-duration", str(reference_s),
        *(["--database-url", args.database_url] if args.database_url else []),
        *(["--backlog"] if backlog else []),
    ]  # fmt: skip
    e2e_args = inbound_e2e.parse_args(argv)
    with_sla = variant == "with"
    harness.console.rule(f"inbound {'backlog' if backlog else 'rate'}: {variant} SLA")
    result = inbound_e2e.bench(
        e2e_args,
        worker_settings={"worker_loops_off": None if with_sla else LOOPS_OFF},
        prepare=create_policy if with_sla else None,
        after_drain=lambda dsn: asyncio.run(sla_state(dsn, 120 if with_sla else 0)),
    )
    result.pop("published_per_second", None)  # long; the summary keeps what compares
    state = result["after_drain"]
    posted, drained = result["posted"], result["drained_s_after_last_post"]
    done_s = drained + (state["sla_caught_up_s_after_drain"] if with_sla else 0.0)
    return {
        "variant": variant,
        "mode": "backlog" if backlog else "rate",
        "published_per_s": result["published_per_s"],
        "drain_per_s": result.get("drain_per_s"),
        "drain_incl_sla_per_s": round(posted / max(0.001, done_s), 1) if backlog else None,
        "inbound_target_met": result["target"]["met"],
        "clocks_complete": (not with_sla)
        or (
            state["sla_consumer_caught_up"]
            and state["with_policy"] == state["conversations"] == result["conversations"]
        ),
        "lag_ms": result["lag_ms"],
        "cpu_pct_of_one_core": result["cpu_pct_of_one_core"],
        "load_avg_1m_at_start": result["machine"]["load_avg_1m_at_start"],
        "sla": state,
        "full": result,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    reference: dict[str, Any] | None = None
    for mode in args.inbound_modes:
        for repeat in range(args.inbound_repeats):
            order = ("without", "with") if repeat % 2 == 0 else ("with", "without")
            for variant in order:
                seconds = args.reference_duration if reference is None else 0
                run = one(args, variant, mode == "backlog", seconds)
                if reference is None:
                    reference = run["full"]["reference"]
                runs.append(run)
    summary: dict[str, Any] = {}
    for mode in args.inbound_modes:
        key = "drain_incl_sla_per_s" if mode == "backlog" else "published_per_s"
        rates = {
            v: [r[key] for r in runs if r["mode"] == mode and r["variant"] == v]
            for v in ("without", "with")
        }
        without, with_sla = statistics.median(rates["without"]), statistics.median(rates["with"])
        kept = round(with_sla / without, 3) if without else 0.0
        mode_runs = [r for r in runs if r["mode"] == mode]
        summary[mode] = {
            "compared": key,
            "without_per_s": rates["without"],
            "with_per_s": rates["with"],
            "kept": kept,
            "lag_p99_ms": {
                v: [r["lag_ms"]["p99"] for r in mode_runs if r["variant"] == v]
                for v in ("without", "with")
            },
            "worker_cpu_pct": {
                v: [r["cpu_pct_of_one_core"].get("worker") for r in mode_runs if r["variant"] == v]
                for v in ("without", "with")
            },
            "met": kept >= KEPT_TARGET
            and all(r["clocks_complete"] for r in mode_runs)
            and (mode == "backlog" or all(r["inbound_target_met"] for r in mode_runs)),
        }
    for run in runs:
        if not args.inbound_full:
            run.pop("full")
    return {
        "settings": {
            "rate_per_s": args.inbound_rate,
            "duration_s": args.inbound_duration,
            "contacts": args.inbound_contacts,
            "modes": args.inbound_modes,
            "repeats": args.inbound_repeats,
            "without": f"OMNISTREAM_WORKER_LOOPS_OFF={LOOPS_OFF}",
            "with": {"policy": POLICY, "loops": "all"},
        },
        "reference": reference,
        "summary": summary,
        "runs": runs,
        "target": {
            "kept_at_least": KEPT_TARGET,
            "met": all(s["met"] for s in summary.values()),
        },
    }
