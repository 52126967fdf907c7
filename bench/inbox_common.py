"""What the benches on the seeded inbox share (bench/seed.py, inbox_latency.py, web_inbox.py):
the seeded accounts and names, and the server they start on the seeded database.

The seed is deterministic in its shape: the accounts below exist in every seeded database,
all with PASSWORD, and the conversation with 10,000 messages always has BIG_CONVERSATION_ID.
Everything not about the seed (processes, databases, machine facts) is in bench/harness.
"""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import harness

BENCH_DATABASE = "omnistream_bench"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/" + BENCH_DATABASE

# Every seeded agent has this password (one argon2id hash, computed once, reused).
PASSWORD = "omnistream-bench-2026"
EMAIL_DOMAIN = "bench.example.com"
BIG_CONVERSATION_ID = UUID("0b16c0de-0000-4000-8000-00000000a10b")
BIG_CONVERSATION_MESSAGES = 10_000


def agent_email(role: str, number: int) -> str:
    """The login of the number-th (1-based) seeded agent of a role."""
    return f"{role}-{number:03d}@{EMAIL_DOMAIN}"


LOGINS = {role: agent_email(role, 1) for role in ("admin", "supervisor", "agent")}

# The labels (migration 0027) bench/seed.py puts on ~20 % of the conversations: name, colour
# and how many of 256 labelled conversations have it as their first label (a common one, a
# few in between, a rare one). inbox_latency.py filters by them, found by name.
SEED_LABELS = (
    ("Billing", "#1d6fb8", 90),
    ("Shipping", "#2e7d32", 64),
    ("Refund", "#b45309", 51),
    ("Complaint", "#c62828", 31),
    ("VIP", "#6a1b9a", 15),
    ("Bug", "#455a64", 5),
)


def seeded_database_options() -> argparse.ArgumentParser:
    """--database-url of the benches that read the seeded database."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help=f"the seeded database (default: $BENCH_DATABASE_URL, else {DEFAULT_DATABASE_URL})",
    )
    return parent


@contextmanager
def seeded_server(dsn: str, port: int, workdir: Path) -> Iterator[harness.Process]:
    """ONE `omnistream serve` on the seeded database: no access log (the figure is latency),
    tokens that outlive a long run, a secret key of its own."""
    with harness.serve(
        dsn,
        port,
        workdir,
        timeout=120,
        settings={
            "secret_key": secrets.token_urlsafe(48),
            "access_token_ttl_seconds": "7200",
            "access_log": "false",
            "admin_email": None,  # the seeded admins exist: no first-start admin
        },
    ) as server:
        yield server
