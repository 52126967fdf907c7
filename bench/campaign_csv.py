"""Campaign audience CSV: parse time of a --rows row upload (issue 13: "import of a
100,000-row CSV: at most 10 s" end to end; this is the parse, before any database work).

What it does: generates a CSV like a real export (phone, name and two variable columns;
numbers spelt "0812-3456-7890", "+62 812 3456 7890", "6281234567890", "(0812) 3456 7890"
and "081234567890"; about 1 % invalid numbers, 2 % repeated numbers in another spelling,
0.5 % rows without a variable, 1 % names quoted with the delimiter, quotes or a line break;
a BOM and CRLF), then parses it --repeat times with
omnistream.campaigns.audience_csv.parse_audience_csv (region ID). Each run is a fresh call:
nothing is cached between runs (omnistream.campaigns.audience_phones reads the numbers:
phonenumbers, with a shortcut for the common spellings). Then one more run with phonenumbers
replaced by a lookup of the results it gave, to show how much of the time is the CSV itself,
and the file read in the shares the API's parse pool reads at once (audience.SHARES), one
after the other: the slowest share is the parse's share of an upload's time.

Figures: wall and CPU seconds per run (min, median), microseconds per row, the counts
(rows, accepted, duplicates, rejected) and whether the best run is within --target
seconds. The machine is stated, with the load average before and after: other processes
on a small machine move this figure. Prints one JSON object on stdout.

    .venv/bin/python bench/campaign_csv.py                # 100,000 rows, comma, 3 runs
    .venv/bin/python bench/campaign_csv.py --delimiter ';' --rows 50000
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import harness

from omnistream.campaigns import audience_csv
from omnistream.campaigns.audience import SHARES
from omnistream.campaigns.audience_csv import parse_audience_csv, read_share

VARIABLES = ("order_id", "Due Date")


def spellings(n: int) -> list[str]:
    """Ways people write the Indonesian mobile number 0812 + the 8 digits of n."""
    d = f"{n:08d}"
    return [
        f"0812-{d[:4]}-{d[4:]}",
        f"+62 812 {d[:4]} {d[4:]}",
        f"62812{d}",
        f"(0812) {d[:4]} {d[4:]}",
        f"0812{d}",
    ]


def generate(rows: int, delimiter: str, seed: int) -> tuple[bytes, dict[str, int]]:
    """The file, and how many rows of each kind it was made with."""
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)  # CRLF, quotes where needed
    writer.writerow(["Phone", "Name", "Order_ID", "Due Date"])
    made: Counter[str] = Counter()
    numbers = rng.sample(range(10_000_000, 100_000_000), rows)
    for i in range(rows):
        kind = rng.random()
        if kind < 0.01:
            phone = rng.choice(["12345", "n/a", "6.28123E+12"])
            made["invalid"] += 1
        elif kind < 0.03 and i:
            phone = rng.choice(spellings(numbers[rng.randrange(i)]))
            made["repeated"] += 1
        else:
            phone = rng.choice(spellings(numbers[i]))
        name = f"Customer {i}"
        if rng.random() < 0.01:
            name = f'Toko "{i}"{delimiter} Jl. Merdeka\nNo. {i}'
            made["quoted_name"] += 1
        order = "" if rng.random() < 0.005 else f"INV-{i:06d}"
        made["missing_variable"] += not order
        writer.writerow([phone, name, order, f"2026-0{1 + i % 9}-{1 + i % 28:02d}"])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode(), made


def timed(data: bytes) -> tuple[float, float, audience_csv.Audience]:
    wall, cpu = time.perf_counter(), time.process_time()
    audience = parse_audience_csv(data, VARIABLES, region="ID")
    return time.perf_counter() - wall, time.process_time() - cpu, audience


def without_phonenumbers(data: bytes) -> float:
    """Wall seconds of a parse whose numbers are looked up in the results phonenumbers gave
    (through audience_phones, as the parse reads them)."""
    known: dict[str, str | None] = {}
    real = audience_csv.number_reader

    def recording(region: str) -> Callable[[str], str | None]:
        read = real(region)

        def record(raw: str) -> str | None:
            known[raw] = read(raw)
            return known[raw]

        return record

    try:
        audience_csv.number_reader = recording
        parse_audience_csv(data, VARIABLES, region="ID")
        audience_csv.number_reader = lambda _region: known.__getitem__
        wall, _cpu, _audience = timed(data)
    finally:
        audience_csv.number_reader = real
    return wall


def bench(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = harness.load_average()
    harness.console.print(f"generating {args.rows:,} rows")
    data, made = generate(args.rows, args.delimiter, args.seed)
    runs = []
    for run in range(args.repeat):
        wall, cpu, audience = timed(data)
        harness.console.print(f"run {run + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU")
        runs.append((wall, cpu))
    csv_only = without_phonenumbers(data)
    shares = []
    for share in range(SHARES):
        wall = time.perf_counter()
        read_share(data, VARIABLES, region="ID", share=share, shares=SHARES)
        shares.append(round(time.perf_counter() - wall, 3))
    walls = [w for w, _ in runs]
    cpus = [c for _, c in runs]
    return {
        "benchmark": "campaign_csv",
        "machine": {
            **harness.machine_facts("not used", load_at_start),
            "load_avg_1m_at_end": harness.load_average(),
        },
        "rows": args.rows,
        "bytes": len(data),
        "delimiter": args.delimiter,
        "made": dict(made),
        "counts": audience.counts(),
        "distinct_numbers": len({r.phone for r in audience.recipients}),
        "wall_s": {"min": round(min(walls), 3), "median": round(statistics.median(walls), 3)},
        "cpu_s": {"min": round(min(cpus), 3), "median": round(statistics.median(cpus), 3)},
        "us_per_row": round(min(walls) / args.rows * 1e6, 1),
        "wall_s_without_phonenumbers": round(csv_only, 3),
        "wall_s_of_each_share": shares,
        "target_s": args.target,
        "met": min(walls) <= args.target,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__, reference=False)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--delimiter", default=",", choices=[",", ";"])
    parser.add_argument("--repeat", type=int, default=3, help="timed parses")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--target", type=float, default=3.0, help="seconds (best run)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(harness.main(bench, parse_args(), exit_code=lambda r: 0 if r["met"] else 2))
