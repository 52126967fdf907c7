"""bench/realtime.py's figures: the run's state, and what it means (loss, duplicates, order,
latency split at the dispatcher, CPU per process)."""

from __future__ import annotations

import argparse
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import harness
import orjson
from realtime_plan import MIXES, Account, Planned
from websockets.version import version as WEBSOCKETS_VERSION

TARGET_P99_MS = 150.0


def cpu_report(before: harness.CpuSnapshot, after: harness.CpuSnapshot) -> dict[str, float]:
    """% of one core over the window, per process group; `other`: the rest of the machine."""
    used = harness.cpu_used(before, after)
    out = {f"{name}_pct": harness.pct_of_core(used[name], used["wall"]) for name in after.procs}
    for key, name in (
        ("db_backends_pct", "db_backends"),
        ("interrupts_pct", "interrupts"),
        ("machine_busy_pct", "machine_busy"),
        ("other_pct", "other"),
    ):
        out[key] = harness.pct_of_core(used[name], used["wall"])
    return out


@dataclass
class RunState:
    commit_ns: array[int] = field(default_factory=lambda: array("q"))
    start_ns: array[int] = field(default_factory=lambda: array("q"))
    committed: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    max_lag_s: float = 0.0
    first_start: float = 0.0
    last_commit: float = 0.0
    publish_batches: int = 0  # dispatcher transactions that numbered bench events


def percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "n": len(ordered),
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "p999": at(0.999),
        "max": round(ordered[-1], 2),
        "mean": round(sum(ordered) / len(ordered), 2),
    }


@dataclass
class Setup:
    args: argparse.Namespace
    dsn: str
    database: str
    ws_url: str
    accounts: list[Account]
    planned: list[Planned]
    targets: list[tuple[int, ...]]
    warmup_events: int
    pids: dict[str, list[int]]


def analyse(
    setup: Setup,
    st: RunState,
    results: list[dict[str, Any]],
    rows: list[Any],
    unpublished: int,
    expected_counts: list[int],
    before: harness.CpuSnapshot,
    after: harness.CpuSnapshot,
    drained_s: float,
) -> dict[str, Any]:
    args = setup.args
    pub_ns = {r["k"]: r["pub_us"] * 1000 for r in rows if r["pub_us"] is not None}
    occ_ns = {r["k"]: r["occ_us"] * 1000 for r in rows}
    seq_of = {r["k"]: r["seq"] for r in rows}
    warm = setup.warmup_events
    role_of = {a.index: a.role for a in setup.accounts}

    lost = duplicates = unexpected = out_of_order = seq_mismatch = delivered = 0
    lat_commit: list[float] = []
    lat_start: list[float] = []
    lat_pub_client: list[float] = []
    per_role: dict[str, list[float]] = {"admin": [], "supervisor": [], "agent": []}
    bucket_s = 5.0
    t_first = min((t for t in st.commit_ns if t), default=0)
    timeline: dict[int, list[float]] = {}
    worst_sockets: list[tuple[int, int]] = []
    closed: dict[int, str] = {}
    foreign = other_frames = 0
    loop_lag: list[float] = []
    expected_sets: dict[int, set[int]] = {a.index: set() for a in setup.accounts}
    for k, target in enumerate(setup.targets):
        if st.commit_ns[k]:
            for i in target:
                expected_sets[i].add(k)
    got_any: set[int] = set()
    for result in results:
        closed.update(result["closed"])
        foreign += result["foreign"]
        other_frames += result["other_frames"]
        lags = array("d")
        lags.frombytes(result["loop_lag_ms"])
        loop_lag.extend(lags)
        for index, (kb, sb, tb) in result["sockets"].items():
            got_any.add(index)
            ks, seqs, times = array("q"), array("q"), array("q")
            ks.frombytes(kb)
            seqs.frombytes(sb)
            times.frombytes(tb)
            delivered += len(ks)
            expect = expected_sets[index]
            seen: set[int] = set()
            last_seq = 0
            role_lat = per_role[role_of[index]]
            for k, seq, t in zip(ks, seqs, times, strict=True):
                if k in seen:
                    duplicates += 1
                    continue
                seen.add(k)
                if k not in expect:
                    unexpected += 1
                if seq <= last_seq:
                    out_of_order += 1
                last_seq = seq
                if seq_of.get(k) != seq:
                    seq_mismatch += 1
                if k >= warm and st.commit_ns[k]:
                    ms = (t - st.commit_ns[k]) / 1e6
                    lat_commit.append(ms)
                    role_lat.append(ms)
                    timeline.setdefault(
                        int((st.commit_ns[k] - t_first) / 1e9 / bucket_s), []
                    ).append(ms)
                    lat_start.append((t - st.start_ns[k]) / 1e6)
                    if k in pub_ns:
                        lat_pub_client.append((t - pub_ns[k]) / 1e6)
            missing = len(expect - seen)
            lost += missing
            if missing:
                worst_sockets.append((index, missing))
    never_reported = [i for i in expected_sets if i not in got_any]
    for i in never_reported:
        lost += len(expected_sets[i])
    lat_dispatch = [
        (pub_ns[k] - st.commit_ns[k]) / 1e6
        for k in range(warm, len(setup.planned))
        if st.commit_ns[k] and k in pub_ns
    ]
    lat_tx_publish = [
        (pub_ns[k] - occ_ns[k]) / 1e6
        for k in range(warm, len(setup.planned))
        if st.commit_ns[k] and k in pub_ns
    ]
    window = max(1e-6, st.last_commit - st.first_start)
    expected_total = sum(expected_counts)
    commit = percentiles(lat_commit)
    target_met = bool(
        commit.get("p99") is not None
        and float(commit["p99"]) <= TARGET_P99_MS
        and lost == 0
        and duplicates == 0
        and st.failed == 0
    )
    roles = Counter(a.role for a in setup.accounts)
    subset_share = {
        role: round(
            sum(expected_counts[a.index] for a in setup.accounts if a.role == role)
            / max(1, roles[role])
            / max(1, st.committed),
            3,
        )
        for role in roles
    }
    return {
        "benchmark": "realtime",
        "machine": setup.args.machine,
        "settings": {
            "clients": len(setup.accounts),
            "client_procs": args.client_procs,
            "client": f"websockets {WEBSOCKETS_VERSION} asyncio + uvloop, "
            f"compression {args.compression}",
            "rate_target_per_s": args.rate,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "mix": args.mix,
            "mix_shares": MIXES[args.mix],
            "divisions": args.divisions,
            "generator_connections": args.generator_connections,
            "server": "1 x `omnistream serve` (uvicorn, 1 process, no worker loops), "
            "log level WARNING, access log off",
            "worker": "1 x `omnistream worker` (dispatcher, housekeeping, outbound)",
            "seed": args.seed,
        },
        "population": {
            "roles": dict(roles),
            "agents_in_two_divisions": sum(
                1 for a in setup.accounts if a.role == "agent" and len(a.divisions) == 2
            ),
            "agents_without_division": sum(
                1 for a in setup.accounts if a.role == "agent" and not a.divisions
            ),
            "expected_share_of_events_per_socket": subset_share,
        },
        "events": {
            "scheduled": len(setup.planned),
            "committed": st.committed,
            "failed": st.failed,
            "errors": dict(st.errors.most_common(5)),
            "measured_after_warmup": max(0, st.committed - warm),
            "rate_achieved_per_s": round(st.committed / window, 1),
            "generator_max_lag_ms": round(st.max_lag_s * 1000, 1),
            "unpublished_at_end": unpublished,
            "dispatcher_batches": st.publish_batches,
            "events_per_dispatcher_batch": round(st.committed / max(1, st.publish_batches), 2),
            "approx_frame_bytes": _frame_size(setup.planned),
        },
        "delivery": {
            "expected": expected_total,
            "delivered": delivered,
            "lost": lost,
            "duplicates": duplicates,
            "unexpected": unexpected,
            "out_of_order": out_of_order,
            "seq_mismatch": seq_mismatch,
            "fanout_per_event": round(expected_total / max(1, st.committed), 1),
            "frames_per_s": round(expected_total / window, 0),
            "drain_s": round(drained_s, 2),
            "sockets_closed_by_server": {str(k): v for k, v in sorted(closed.items())[:10]},
            "sockets_closed_count": len(closed),
            "sockets_missing_events": len(worst_sockets),
            "foreign_events": foreign,
            "other_frames": other_frames,
        },
        "latency_ms": {
            "commit_to_client": commit,
            "tx_start_to_client": percentiles(lat_start),
            "commit_to_published": percentiles(lat_dispatch),
            "published_to_client": percentiles(lat_pub_client),
            "tx_start_to_published_db_clock": percentiles(lat_tx_publish),
            "client_event_loop_lag": percentiles(loop_lag),
            "commit_to_client_p99_by_role": {
                role: percentiles(values).get("p99") for role, values in per_role.items()
            },
            "commit_to_client_by_5s_of_commit_time": [
                {
                    "from_s": int(b * bucket_s),
                    "p50": percentiles(timeline[b])["p50"],
                    "p99": percentiles(timeline[b])["p99"],
                }
                for b in sorted(timeline)
            ],
        },
        "cpu_pct_of_one_core": cpu_report(before, after),
        "target": {
            "commit_to_client_p99_ms_at_most": TARGET_P99_MS,
            "zero_loss": True,
            "met": target_met,
        },
    }


def _frame_size(planned: list[Planned]) -> int:
    if not planned:
        return 0
    sample = planned[: min(200, len(planned))]
    body = sum(len(orjson.dumps(p.data)) for p in sample) / len(sample)
    return int(body + 330)  # the envelope around data: id, seq, type, actor, dates, bench mark
