"""What bench/seed.py and bench/inbox_latency.py share: the seeded accounts, names, machine facts.

The seed is deterministic in its shape: the accounts below exist in every seeded database,
all with PASSWORD, and the conversation with 10,000 messages always has BIG_CONVERSATION_ID.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import asyncpg
from rich.console import Console

BENCH_DATABASE = "omnistream_bench"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/" + BENCH_DATABASE

# Every seeded agent has this password (one argon2id hash, computed once, reused).
PASSWORD = "omnistream-bench-2026"
EMAIL_DOMAIN = "bench.example.com"
BIG_CONVERSATION_ID = UUID("0b16c0de-0000-4000-8000-00000000a10b")
BIG_CONVERSATION_MESSAGES = 10_000

console = Console(stderr=True)


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


def agent_email(role: str, number: int) -> str:
    """The login of the number-th (1-based) seeded agent of a role."""
    return f"{role}-{number:03d}@{EMAIL_DOMAIN}"


LOGINS = {role: agent_email(role, 1) for role in ("admin", "supervisor", "agent")}


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or "postgres"


def shown_dsn(dsn: str) -> str:
    """The DSN without a password (for reports)."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


async def machine_info(conn: asyncpg.Connection[Any]) -> dict[str, Any]:
    """Facts about this machine and the PostgreSQL server behind `conn`."""
    settings = {
        r["name"]: r["value"]
        for r in await conn.fetch(
            "SELECT name, current_setting(name) AS value FROM unnest($1::text[]) AS name",
            [
                "shared_buffers",
                "max_wal_size",
                "fsync",
                "synchronous_commit",
                "autovacuum",
                "effective_cache_size",
                "random_page_cost",
                "work_mem",
                "jit",
            ],
        )
    }
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": await conn.fetchval("SHOW server_version"),
        "postgres_settings": settings,
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }
