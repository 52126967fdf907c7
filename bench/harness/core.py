"""What every benchmark shares before anything runs: paths, the console, the error type, DSNs."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
# Progress goes to stderr so that stdout carries only the JSON result.
console = Console(stderr=True)


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


def server_dsn(given: str | None) -> str:
    """The maintenance DSN of the PostgreSQL server to make scratch databases on."""
    return given or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or "postgres"


def shown_dsn(dsn: str) -> str:
    """The DSN without a password (for reports)."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def host_of(dsn: str) -> str:
    return str(urlsplit(dsn).hostname)


def tail(path: Path, chars: int = 1500) -> str:
    """The end of a log file, for an error message."""
    try:
        return path.read_text(errors="replace")[-chars:].strip()
    except OSError:
        return ""


def progress(*, counts: bool = False, label_width: int = 0) -> Progress:
    """The progress bars of every bench (on stderr)."""
    label = "{task.description" + (f":<{label_width}" if label_width else "") + "}"
    columns = [TextColumn(label), BarColumn()]
    if counts:
        columns.append(MofNCompleteColumn())
    columns.append(TimeElapsedColumn())
    return Progress(*columns, console=console)
