"""Machine facts (stated beside every figure) and CPU accounting per process during a run."""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

# The PostgreSQL settings that move the figures most; reported by machine_info().
POSTGRES_SETTINGS = [
    "shared_buffers",
    "max_wal_size",
    "fsync",
    "synchronous_commit",
    "autovacuum",
    "effective_cache_size",
    "random_page_cost",
    "work_mem",
    "jit",
]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def machine_facts(
    postgres: str, load_at_start: float | None = None, **extra: Any
) -> dict[str, Any]:
    """CPU model, cores, memory, kernel, Python, PostgreSQL version and the load at start."""
    load = load_average() if load_at_start is None else round(load_at_start, 2)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": postgres,
        "load_avg_1m_at_start": load,
        **extra,
    }


async def machine_info(conn: asyncpg.Connection[Any]) -> dict[str, Any]:
    """machine_facts() with the version and main settings of the server behind `conn`."""
    rows = await conn.fetch(
        "SELECT name, current_setting(name) AS value FROM unnest($1::text[]) AS name",
        POSTGRES_SETTINGS,
    )
    settings = {r["name"]: r["value"] for r in rows}
    return machine_facts(await conn.fetchval("SHOW server_version"), postgres_settings=settings)


# --------------------------------------------------------------------------- CPU accounting


def _ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, all its threads (seconds); 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _ticks()


def postgres_pids(needle: bytes) -> list[int]:
    """The PostgreSQL processes whose command line (process title) contains `needle`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            if needle in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def backend_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving `database` (by its process title)."""
    return {pid: proc_cpu_seconds(pid) for pid in postgres_pids(f" {database} ".encode())}


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, irq + softirq) CPU seconds of the whole machine (all cores), from /proc/stat.

    busy excludes idle and iowait; loopback TCP is mostly in the interrupts.
    """
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / _ticks(), (values[5] + values[6]) / _ticks()


def _rusage_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuSnapshot:
    """CPU seconds so far of named process groups, the database's backends, this process,
    its finished children (wrk) and the whole machine."""

    at: float
    procs: dict[str, float]
    backends: dict[int, float]
    own: float
    children: float
    busy: float
    irq: float

    @classmethod
    def take(cls, pids: dict[str, list[int]], database: str) -> CpuSnapshot:
        busy, irq = machine_cpu_seconds()
        return cls(
            at=time.monotonic(),
            procs={name: sum(proc_cpu_seconds(p) for p in group) for name, group in pids.items()},
            backends=backend_cpu(database),
            own=_rusage_seconds(resource.RUSAGE_SELF),
            children=_rusage_seconds(resource.RUSAGE_CHILDREN),
            busy=busy,
            irq=irq,
        )


def cpu_used(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """CPU seconds between two snapshots: each named group, `db_backends`, `own`,
    `children`, `interrupts`, `machine_busy`, `wall` and `other` (the rest of the machine:
    other work, which makes figures noisy; named groups, backends and children excluded)."""
    used = {name: max(0.0, cpu - before.procs.get(name, 0.0)) for name, cpu in after.procs.items()}
    db = sum(max(0.0, cpu - before.backends.get(pid, 0.0)) for pid, cpu in after.backends.items())
    children = after.children - before.children
    busy, irq = after.busy - before.busy, after.irq - before.irq
    return {
        **used,
        "db_backends": db,
        "own": after.own - before.own,
        "children": children,
        "interrupts": irq,
        "machine_busy": busy,
        "other": max(0.0, busy - sum(used.values()) - db - children - irq),
        "wall": max(1e-6, after.at - before.at),
    }


def pct_of_core(seconds: float, wall: float) -> float:
    return round(seconds / wall * 100, 1)
