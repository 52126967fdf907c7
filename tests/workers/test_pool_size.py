"""A worker's pool: OMNISTREAM_DB_POOL_MAX for the loops' work, plus one connection for each
loop that holds one while it runs (a LISTEN); worker.HOLDING must name exactly those."""

from __future__ import annotations

import inspect
import sys

from omnistream.config import Settings
from omnistream.worker import HOLDING, LOOPS, pool_size


def test_holding_names_exactly_the_loops_that_listen() -> None:
    listening = {
        name
        for name, loop in LOOPS.items()
        if "notified(" in inspect.getsource(sys.modules[loop.__module__])
    }
    assert listening == set(HOLDING)


def test_the_pool_is_sized_for_the_loops_a_process_runs() -> None:
    settings = Settings(db_pool_max=10)
    assert pool_size(settings) == 10 + len(HOLDING)
    fewer = Settings(db_pool_max=10, worker_loops_off="campaigns,outbound,sla")
    assert pool_size(fewer) == 10 + len(HOLDING) - 2
