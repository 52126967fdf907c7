"""Where the CPU goes in a several-process topology (harness/topology.py), for the issue 18
figures (bench/scale_out.py, bench/replica_lag.py): each process with all its descendants
(an API, a worker, HAProxy, each PostgreSQL server with its backends, WAL sender and
receiver), this process (the load generator), its finished children (wrk) and the machine.

    before = topology_cpu(topo)
    ... the phase ...
    shares = cpu_shares(before, topology_cpu(topo))   # % of one core per group
    bottleneck(shares)                                 # the busiest kind of process
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from harness.machine import CpuSnapshot, cpu_used, pct_of_core
from harness.topology import Topology

# CpuSnapshot also sums the backends of a database found by process title; the PostgreSQL
# servers are counted whole here (their process trees), so that lookup must match nothing.
_NO_DATABASE = " no database "
# Summed per kind for the bottleneck (api0 + api1 -> api, ...).
KINDS = ("api", "worker", "haproxy", "primary", "replica", "load_generator", "wrk")


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process now."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def descendants(root: int, parents: dict[int, int]) -> list[int]:
    """`root` and every process below it in `parents` (pid -> parent pid)."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def topology_groups(topo: Topology) -> dict[str, list[int]]:
    """The process trees of the topology now, by name (api0, worker1, primary, ...)."""
    parents = _parents()
    return {name: descendants(pid, parents) for name, pid in topo.pids().items() if pid is not None}


def topology_cpu(topo: Topology) -> CpuSnapshot:
    """CPU seconds so far of every process tree of the topology (taken afresh: a
    PostgreSQL backend started since the last snapshot counts whole; one that ended since
    is lost, so pools that keep their sessions are what makes the accounting exact)."""
    return CpuSnapshot.take(topology_groups(topo), _NO_DATABASE)


def cpu_shares(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """% of one core between two snapshots: each process tree, the load generator (this
    process), wrk (finished children), interrupts, the whole machine and the rest of it."""
    used = cpu_used(before, after)
    wall = used.pop("wall")
    renamed = {"own": "load_generator", "children": "wrk", "machine_busy": "machine_busy"}
    used.pop("db_backends")
    shares = {renamed.get(name, name): pct_of_core(cpu, wall) for name, cpu in used.items()}
    shares["wall_s"] = round(wall, 2)
    shares["machine_capacity"] = 100.0 * (os.cpu_count() or 1)
    return shares


def by_kind(shares: dict[str, float]) -> dict[str, float]:
    """The shares summed per kind of process (api0 + api1 -> api)."""
    kinds = {kind: 0.0 for kind in KINDS}
    for name, value in shares.items():
        kind = name.rstrip("0123456789")
        if kind in kinds:
            kinds[kind] = round(kinds[kind] + value, 1)
    return kinds


def topology_cpu_ms_per_unit(shares: dict[str, float], units: int) -> float:
    """CPU milliseconds the topology's own processes (APIs, workers, HAProxy, PostgreSQL)
    spent per unit of work (message, request): the figure other work on the machine moves
    least, as it counts CPU used, not time waited for a core."""
    kinds = by_kind(shares)
    own = sum(kinds[k] for k in ("api", "worker", "haproxy", "primary", "replica"))
    return round(own / 100 * shares.get("wall_s", 0.0) / units * 1000, 3) if units else 0.0


def bottleneck(shares: dict[str, float]) -> dict[str, Any]:
    """The busiest kind of process, the busiest single process, and whether the machine
    was saturated (≥ 90 % of all its cores busy): then adding processes cannot help."""
    kinds = by_kind(shares)
    single = {k: v for k, v in shares.items() if k.rstrip("0123456789") in KINDS}
    busiest_kind = max(kinds, key=lambda k: kinds[k])
    busiest = max(single, key=lambda k: single[k]) if single else ""
    capacity = shares.get("machine_capacity", 100.0)
    busy = shares.get("machine_busy", 0.0)
    return {
        "cpu_pct_by_kind": kinds,
        "busiest_kind": busiest_kind,
        "busiest_process": busiest,
        "busiest_process_pct_of_core": single.get(busiest, 0.0),
        "machine_busy_pct_of_capacity": round(busy / capacity * 100, 1) if capacity else 0.0,
        "machine_saturated": busy >= 0.9 * capacity,
    }


def replica_lags(rows: list[dict[str, Any]], start: float, end: float) -> dict[str, list[float]]:
    """The replica's lag at each sample of pg_stat_replication taken between `start` and
    `end` (wall clock). `rows`: every sample in order, each with t (when), current (the
    primary's WAL position, bytes), replay (the replica's) and replay_lag_s (PostgreSQL's,
    None when idle). Bytes: current - replay. ms, by the timestamp map: the primary's
    position passed `replay` between samples j - 1 and j (the first with current_j >=
    replay); when, is interpolated linearly between the two (WAL written at an even pace
    within one interval); lag = t - that moment (0 when replay has reached current)."""
    out: dict[str, list[float]] = {"bytes": [], "ms": [], "replay_lag_ms": []}
    j = 0
    for row in rows:
        if not start <= row["t"] <= end:
            continue
        out["bytes"].append(max(0, row["current"] - row["replay"]))
        out["replay_lag_ms"].append((row["replay_lag_s"] or 0.0) * 1000)
        if row["replay"] >= row["current"]:
            out["ms"].append(0.0)
            continue
        while rows[j]["current"] < row["replay"]:  # positions only grow
            j += 1
        reached = rows[j]["t"]
        if j > 0 and rows[j]["current"] > rows[j - 1]["current"]:
            before = rows[j - 1]
            share = (row["replay"] - before["current"]) / (rows[j]["current"] - before["current"])
            reached = before["t"] + max(0.0, share) * (rows[j]["t"] - before["t"])
        out["ms"].append(round((row["t"] - reached) * 1000, 3))
    return out


def haproxy_downs(topo: Topology) -> int:
    """How many times HAProxy has marked an API down for a failed health check (a slow
    /readyz, "Layer7 timeout"; not a stopped process), per its log so far. While every API
    is down it answers 503: a figure taken meanwhile is no measurement of the app."""
    try:
        text = (topo.workdir / "haproxy.log").read_text(errors="replace")
    except OSError:
        return 0
    return sum("is DOWN" in line and "Layer7" in line for line in text.splitlines())


def uptime() -> str:
    """`uptime` now (the load averages), as the JSON records it before and after."""
    proc = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
    return proc.stdout.strip()
