"""Every OmniStream metric, and the scrape (the Prometheus text format).

One process: the metrics live in prometheus_client's default registry, which also carries
its process and Python collectors. Several processes on one host: start each with
PROMETHEUS_MULTIPROC_DIR set to the same empty directory (prometheus_client reads it when
it is first imported, so it must be in the environment, not set later); each process then
writes its values to memory-mapped files there and a scrape of any process adds them all up
(prometheus_client.multiprocess), workers included. docs/metrics.md.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from omnistream.metrics.queries import Backlog

# Requests: from well under a millisecond (a webhook acknowledgement) to a slow export.
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "omnistream_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
)
HTTP_DURATION = Histogram(
    "omnistream_http_request_duration_seconds",
    "Time from a request's arrival to its last response byte, by method, route template "
    "and status.",
    ("method", "route", "status"),
    buckets=_HTTP_BUCKETS,
)
WEBSOCKETS = Gauge(
    "omnistream_websocket_connections",
    "Open WebSocket connections (accepted, not yet closed).",
    multiprocess_mode="livesum",
)
DISPATCH_LAG = Histogram(
    "omnistream_event_dispatch_lag_seconds",
    "Time from an event's occurred_at (its transaction) to its publication by the "
    "dispatcher, which wakes every API process's hub.",
    buckets=_LAG_BUCKETS,
)
LOOP_BATCH = Histogram(
    "omnistream_worker_batch_seconds",
    "Duration of each transaction a worker loop runs (a claimed batch is one transaction).",
    ("loop",),
    buckets=_BATCH_BUCKETS,
)
LOOP_ERRORS = Counter(
    "omnistream_worker_errors",
    "Worker loop failures: a batch transaction that raised (rolled back) or a loop that "
    "crashed and was restarted.",
    ("loop",),
)

# The worker loop a task runs for (set by worker._guarded; its tasks copy the context).
CURRENT_LOOP: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "omnistream_loop", default=None
)


@contextlib.contextmanager
def loop_batch() -> Iterator[None]:
    """Times a transaction when it runs in a worker loop (db/pool.transaction); a request's
    transaction costs one context variable read."""
    loop = CURRENT_LOOP.get()
    if loop is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    except Exception:  # a cancellation (shutdown) is no failure
        LOOP_ERRORS.labels(loop).inc()
        raise
    finally:
        LOOP_BATCH.labels(loop).observe(time.perf_counter() - started)


def loop_crashed(loop: str) -> None:
    LOOP_ERRORS.labels(loop).inc()


class _Backlogs(Collector):
    def __init__(self, backlogs: dict[str, Backlog]) -> None:
        self.backlogs = backlogs

    def collect(self) -> Iterator[GaugeMetricFamily]:
        count = GaugeMetricFamily(
            "omnistream_backlog_items",
            "Items waiting for a worker loop, read from the database at scrape time "
            "(capped at 10,000: a value of 10,000 means at least that).",
            labels=("queue",),
        )
        age = GaugeMetricFamily(
            "omnistream_backlog_oldest_age_seconds",
            "How long the oldest waiting item of the queue has waited (0: none waits).",
            labels=("queue",),
        )
        for name, backlog in self.backlogs.items():
            count.add_metric((name,), backlog.count)
            age.add_metric((name,), backlog.oldest_age_seconds)
        yield count
        yield age


def render(multiproc_dir: Path | None, backlogs: dict[str, Backlog] | None = None) -> bytes:
    """The scrape: this process's metrics (or, with `multiproc_dir`, every process's on
    this host) and the backlogs read for it."""
    if multiproc_dir is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(multiproc_dir))  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if backlogs is not None:
        extra = CollectorRegistry()
        extra.register(_Backlogs(backlogs))
        body += generate_latest(extra)
    return body


_LIVE_FILE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


def forget_dead_processes(multiproc_dir: Path) -> list[int]:
    """At start-up: the live gauges (WebSocket connections) of processes that ended without
    a clean shutdown (SIGKILL) would be added to the total forever; drop them. The counters
    and histograms they wrote stay (totals never go down). Returns the pids dropped."""
    dead: set[int] = set()
    for path in multiproc_dir.glob("gauge_live*_*.db"):
        match = _LIVE_FILE.match(path.name)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            dead.add(pid)
        except PermissionError:  # alive, another user's
            continue
    for pid in sorted(dead):
        multiprocess.mark_process_dead(pid, str(multiproc_dir))  # type: ignore[no-untyped-call]
    return sorted(dead)


def process_exiting(multiproc_dir: Path | None) -> None:
    """A clean shutdown: this process's live gauges leave the total."""
    if multiproc_dir is not None:
        multiprocess.mark_process_dead(os.getpid(), str(multiproc_dir))  # type: ignore[no-untyped-call]
