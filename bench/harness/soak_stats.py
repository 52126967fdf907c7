"""The soak's figures (bench/soak.py): latencies kept as per-minute histograms (1 ms
buckets: a 30-minute soak makes hundreds of millions of WebSocket deliveries, too many to
keep one by one), error counts per minute, and the verdicts of issue 18: p99s of the first
and last window within 20 %, resident memory growth after warm-up <= 10 %, no errors.

A sample belongs to the minute its work started (a message's send, an event's occurred_at,
a reply's POST), counted from the load's start (t0, wall clock).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

LATENCIES = ("inbound_e2e", "reply_api", "ws_delivery", "webhook_delivery")
P99_TOLERANCE = 0.20
RSS_TOLERANCE = 0.10


class Minutes:
    """Latency histograms and error counts by metric and minute."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.hist: dict[str, dict[int, Counter[int]]] = defaultdict(lambda: defaultdict(Counter))
        self.errors: dict[str, Counter[int]] = defaultdict(Counter)
        self.examples: dict[str, list[str]] = defaultdict(list)

    def minute(self, at: float) -> int:
        return int((at - self.t0) // 60)

    def add(self, metric: str, started: float, seconds: float) -> None:
        if started >= self.t0:
            self.hist[metric][self.minute(started)][max(0, int(seconds * 1000))] += 1

    def error(self, kind: str, what: str, at: float | None = None) -> None:
        self.errors[kind][self.minute(time.time() if at is None else at)] += 1
        if len(self.examples[kind]) < 5:
            self.examples[kind].append(what)

    def dump(self) -> dict[str, Any]:
        """Plain data (for a queue between processes, or JSON)."""
        return {
            "hist": {m: {k: dict(c) for k, c in by.items()} for m, by in self.hist.items()},
            "errors": {k: dict(c) for k, c in self.errors.items()},
            "examples": dict(self.examples),
        }

    def merge(self, dumped: dict[str, Any]) -> None:
        for metric, by in dumped.get("hist", {}).items():
            for minute, counts in by.items():
                self.hist[metric][int(minute)].update({int(k): v for k, v in counts.items()})
        for kind, by in dumped.get("errors", {}).items():
            self.errors[kind].update({int(k): v for k, v in by.items()})
        for kind, examples in dumped.get("examples", {}).items():
            self.examples[kind].extend(examples[: 5 - len(self.examples[kind])])

    def merged(self, metric: str, first: int, last: int) -> Counter[int]:
        """One histogram of minutes first..last-1."""
        total: Counter[int] = Counter()
        for minute in range(first, last):
            total.update(self.hist[metric].get(minute, Counter()))
        return total


def quantile(hist: Counter[int], q: float) -> float | None:
    """The q-quantile (ms) of a 1 ms histogram; None when it is empty."""
    count = sum(hist.values())
    if not count:
        return None
    rank, seen = q * (count - 1), 0
    for value in sorted(hist):
        seen += hist[value]
        if seen > rank:
            return float(value)
    return float(max(hist))


def per_minute(
    stats: Minutes, minutes: int, rss: dict[str, dict[int, float]], counts: dict[str, Counter[int]]
) -> list[dict[str, Any]]:
    """One row per minute: count and p50/p99 (ms) of each latency, errors, RSS (MiB) and
    the work done (`counts`: sends, applied messages, campaign sends...)."""
    rows = []
    for minute in range(minutes):
        row: dict[str, Any] = {"minute": minute}
        for metric in LATENCIES:
            hist = stats.hist[metric].get(minute, Counter())
            row[metric] = {
                "n": sum(hist.values()),
                "p50_ms": quantile(hist, 0.5),
                "p99_ms": quantile(hist, 0.99),
            }
        row["errors"] = {k: by[minute] for k, by in stats.errors.items() if by.get(minute)}
        row["rss_mib"] = {p: by[minute] for p, by in rss.items() if minute in by}
        row["done"] = {k: by.get(minute, 0) for k, by in counts.items()}
        rows.append(row)
    return rows


def verdicts(
    stats: Minutes, minutes: int, window: int, rss: dict[str, dict[int, float]]
) -> dict[str, Any]:
    """The three criteria, each with its figures and `ok`: the p99 of each latency over the
    first `window` minutes vs the last `window` (relative change within 20 %); each
    process's RSS in the last minute vs the last minute of the warm-up (the first window):
    growth <= 10 %; the errors of the whole run: 0."""
    first, last = (0, window), (minutes - window, minutes)
    p99s = {}
    for metric in LATENCIES:
        a = quantile(stats.merged(metric, *first), 0.99)
        b = quantile(stats.merged(metric, *last), 0.99)
        change = None if not a or b is None else (b - a) / a
        p99s[metric] = {
            "first_ms": a,
            "last_ms": b,
            "change": None if change is None else round(change, 3),
            "ok": change is not None and abs(change) <= P99_TOLERANCE,
        }
    growth = {}
    for process, by in rss.items():
        warm, end = by.get(window - 1), by.get(minutes - 1)
        change = None if not warm or end is None else (end - warm) / warm
        growth[process] = {
            "after_warmup_mib": warm,
            "end_mib": end,
            "growth": None if change is None else round(change, 3),
            "ok": change is not None and change <= RSS_TOLERANCE,
        }
    errors = {kind: sum(by.values()) for kind, by in stats.errors.items()}
    return {
        "windows_minutes": {"first": list(first), "last": list(last)},
        "p99_stable": {"ok": all(v["ok"] for v in p99s.values()), "by_latency": p99s},
        "rss_growth": {"ok": all(v["ok"] for v in growth.values()), "by_process": growth},
        "no_errors": {
            "ok": not any(errors.values()),
            "by_kind": errors,
            "examples": dict(stats.examples),
        },
    }
