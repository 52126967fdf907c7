"""bench/harness/scaling.py's arithmetic (the issue 18 figures): the process trees, the
bottleneck verdict and the replica lag by timestamp map. Pure functions: no topology is
started (the module fixture of conftest.py is not used here)."""

from __future__ import annotations

import os
from typing import Any

from harness.scaling import bottleneck, by_kind, descendants, replica_lags


def test_descendants_follow_the_whole_tree_and_nothing_else() -> None:
    parents = {10: 1, 11: 10, 12: 11, 13: 10, 20: 1, 21: 20}
    assert sorted(descendants(10, parents)) == [10, 11, 12, 13]
    assert descendants(99, parents) == [99]


def test_descendants_of_this_process_include_a_child() -> None:
    from harness.scaling import _parents

    parents = _parents()
    assert os.getpid() in descendants(os.getppid(), parents)


def test_shares_are_summed_per_kind_and_the_busiest_named() -> None:
    shares = {
        "api0": 40.0,
        "api1": 35.0,
        "worker0": 20.0,
        "worker1": 10.0,
        "primary": 60.0,
        "replica": 5.0,
        "haproxy": 8.0,
        "load_generator": 4.0,
        "wrk": 0.0,
        "interrupts": 6.0,
        "machine_busy": 185.0,
        "other": 3.0,
        "wall_s": 10.0,
        "machine_capacity": 200.0,
    }
    assert by_kind(shares)["api"] == 75.0
    verdict = bottleneck(shares)
    assert verdict["busiest_kind"] == "api"  # 75 % over two processes
    assert verdict["busiest_process"] == "primary"  # the busiest single one
    assert verdict["machine_saturated"] is True
    assert verdict["machine_busy_pct_of_capacity"] == 92.5
    assert bottleneck(shares | {"machine_busy": 120.0})["machine_saturated"] is False


def test_replica_lag_by_timestamp_map() -> None:
    def row(t: float, current: int, replay: int, lag: float | None = None) -> dict[str, Any]:
        return {"t": t, "current": current, "replay": replay, "replay_lag_s": lag}

    rows = [
        row(0.0, 100, 100),  # before the window: only a point of the map
        row(1.0, 200, 100, 0.5),
        row(1.1, 300, 200, 0.2),
        row(1.2, 400, 250),
        row(1.3, 400, 400),
        row(9.0, 900, 100),  # after the window
    ]
    lags = replica_lags(rows, 1.0, 2.0)
    assert lags["bytes"] == [100, 100, 150, 0]
    # replay 100 was current at t=0.0; 200 at 1.0 (100 -> 200 between 0.0 and 1.0);
    # 250 half way from 200 (t=1.0) to 300 (t=1.1): at 1.05
    assert lags["ms"] == [1000.0, 100.0, 150.0, 0.0]
    assert lags["replay_lag_ms"] == [500.0, 200.0, 0.0, 0.0]


def test_cpu_per_unit_counts_only_the_topology_processes() -> None:
    from harness.scaling import topology_cpu_ms_per_unit

    shares = {"api0": 50.0, "api1": 30.0, "primary": 20.0, "load_generator": 40.0}
    shares |= {"wrk": 10.0, "other": 90.0, "machine_busy": 200.0, "wall_s": 10.0}
    # (50 + 30 + 20) % of a core for 10 s = 10 CPU seconds over 1,000 units
    assert topology_cpu_ms_per_unit(shares, 1000) == 10.0
    assert topology_cpu_ms_per_unit(shares, 0) == 0.0
