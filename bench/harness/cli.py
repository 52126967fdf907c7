"""The command line every bench shares: common options (argparse parents), a work folder,
and main(): signals turned into cleanup, errors said in one line, the JSON on stdout."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.core import DEFAULT_SERVER, BenchError, console

REFERENCE_DEFAULT_S = 5


def server_options(*, default: str | None = None) -> argparse.ArgumentParser:
    """--database-url: where scratch databases are made (a maintenance database's DSN)."""
    parent = argparse.ArgumentParser(add_help=False)
    shown = default or f"$BENCH_DATABASE_URL, else {DEFAULT_SERVER}"
    parent.add_argument(
        "--database-url",
        default=default,
        help="DSN of a maintenance database on the server where the scratch database is "
        f"created (default: {shown})",
    )
    return parent


def port_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    return parent


def wrk_options(*, duration: int = 15, connections: int = 64) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--duration", type=int, default=duration, help="seconds per measured run")
    parent.add_argument("--connections", type=int, default=connections, help="wrk connections")
    return parent


def profile_options(what: str = "the worker") -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--profile", help=f"write a py-spy profile of {what} (collapsed stacks; py-spy in .venv)"
    )
    return parent


def reference_options() -> argparse.ArgumentParser:
    """--reference-duration: the hello-world reference run stated beside the figure."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--reference-duration",
        type=int,
        default=REFERENCE_DEFAULT_S,
        help="seconds of the hello-world reference (wrk on GET /healthz of the app in this "
        f"run; default {REFERENCE_DEFAULT_S}; 0 leaves it out)",
    )
    return parent


def parser(
    doc: str | None, *parents: argparse.ArgumentParser, reference: bool = True
) -> argparse.ArgumentParser:
    """A script's parser: its docstring's first paragraph as description, the parents, and
    the reference option (unless the figure itself includes the hello-world run)."""
    description = doc.split("\n\n")[0] if doc else None
    if reference:
        parents = (*parents, reference_options())
    return argparse.ArgumentParser(description=description, parents=list(parents))


@contextmanager
def work_folder(prefix: str, *, keep: bool = False) -> Iterator[Path]:
    """A temporary folder for logs, data folders and scripts; removed unless `keep`."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            console.print(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def raise_interrupt(signum: int, _frame: object) -> None:
    """The signal handler that turns SIGINT / SIGTERM into KeyboardInterrupt."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(
    bench: Callable[[argparse.Namespace], dict[str, Any]],
    args: argparse.Namespace,
    *,
    exit_code: Callable[[dict[str, Any]], int] = lambda _result: 0,
) -> int:
    """Runs `bench(args)` and prints its result as JSON on stdout. SIGTERM and SIGINT (even
    where a shell ignored it) raise KeyboardInterrupt, so every context manager cleans up.
    Exit codes: `exit_code(result)`, 1 when the bench failed, 130 when interrupted."""
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGINT, raise_interrupt)
    try:
        result = bench(args)
    except BenchError as exc:
        console.print(f"[bold red]benchmark failed:[/] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    print(json.dumps(result, indent=2, default=str))
    sys.stdout.flush()
    return exit_code(result)
